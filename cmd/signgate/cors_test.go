package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCORSGolden(t *testing.T) {
	tests := []struct{ name, givenTeam, wantGolden string }{
		{"writes an S3 bucket CORS configuration exposing ETag", "vision", "s3.golden.json"},
		{"writes the Azure Blob service CORS rule", "web", "azure.golden.json"},
		{"writes a GCS CORS file for resumable sessions", "nlp", "gcs.golden.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), []string{"cors", "--config", "testdata/netpolicy/config.yaml", "--team", tc.givenTeam,
				"--origin", "https://app.example.com", "--origin", "http://127.0.0.1:5173"}, nil, &out, &errOut)
			if err != nil {
				t.Fatalf("cors: %v\n%s", err, errOut.String())
			}
			golden := filepath.Join("testdata", "cors", tc.wantGolden)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Fatalf("output differs from %s:\n%s", golden, out.String())
			}
		})
	}
	t.Run("refuses a wildcard origin", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"cors", "--dev", "--team", "vision", "--origin", "*"}, nil, &out, &errOut)
		var ue *usageError
		if !errors.As(err, &ue) || out.Len() != 0 {
			t.Fatalf("err %v, output %q; want a usage error and nothing printed", err, out.String())
		}
	})
}
