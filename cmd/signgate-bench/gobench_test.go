package main

import "testing"

func TestParseBenchLine(t *testing.T) {
	tests := []struct {
		name      string
		givenOut  string
		wantRatio float64
		wantErr   bool
	}{
		{name: "reads the ratio metric", givenOut: "goos: linux\nBenchmarkX-2   \t    2000\t    121743 ns/op\t    100662 default_ns/op\t         4.788 ratio\t   30711 B/op\nPASS\n", wantRatio: 4.788},
		{name: "fails without a ratio metric", givenOut: "BenchmarkX-2 2000 121743 ns/op\n", wantErr: true},
		{name: "fails without the benchmark's line", givenOut: "PASS\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := parseBenchLine(tc.givenOut, "BenchmarkX")
			if (err != "") != tc.wantErr || got != tc.wantRatio {
				t.Errorf("got %v, %q; want %v, error %v", got, err, tc.wantRatio, tc.wantErr)
			}
		})
	}
}
