package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	thousand := make([]time.Duration, 1000)
	for i := range thousand {
		thousand[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name    string
		givenP  float64
		given   []time.Duration
		wantLat time.Duration
	}{
		{"is zero without samples", 99, nil, 0},
		{"is the only sample of one", 50, []time.Duration{7}, 7},
		{"takes the lower middle for p50 of an even count", 50, []time.Duration{1, 2, 3, 4}, 2},
		{"never interpolates between samples", 75, []time.Duration{10, 20}, 20},
		{"p50 of 1,000 is the 500th", 50, thousand, 500 * time.Millisecond},
		{"p99 of 1,000 is the 990th", 99, thousand, 990 * time.Millisecond},
		{"p99.9 of 1,000 is the 999th, not the largest", 99.9, thousand, 999 * time.Millisecond},
		{"p100 is the largest", 100, thousand, 1000 * time.Millisecond},
		{"a tiny p is the smallest", 0.001, thousand, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.given, tt.givenP); got != tt.wantLat {
				t.Errorf("percentile(p%v) = %v, want %v", tt.givenP, got, tt.wantLat)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name  string
		given []float64
		want  float64
	}{
		{"is zero for nothing", nil, 0},
		{"is the middle of an odd count, unsorted", []float64{9, 1, 5}, 5},
		{"is the mean of the two middles of an even count", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.given); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.given, got, tt.want)
			}
		})
	}
}

func TestOutputSinkKeepsCountsAndTail(t *testing.T) {
	s := &outputSink{}
	line := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n") // 64 bytes
	for range tailBytes / len(line) * 3 {
		s.Write(line)
	}
	n, lines := s.Counts()
	if want := int64(tailBytes / len(line) * 3); lines != want || n != want*int64(len(line)) {
		t.Errorf("counts = %d bytes, %d lines; want %d lines of %d bytes", n, lines, want, len(line))
	}
	if tail := s.Tail(); len(tail) != tailBytes || tail[len(tail)-1] != '\n' {
		t.Errorf("tail is %d bytes, want the last %d", len(tail), tailBytes)
	}
}
