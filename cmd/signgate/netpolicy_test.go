package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestNetpolicyGolden(t *testing.T) {
	tests := []struct{ name, givenTeam, wantGolden string }{
		{"writes an S3 bucket policy with source IPs and VPC endpoints", "vision", "s3.golden.json"},
		{"writes an Azure network rule set without private or IPv6 ranges", "web", "azure.golden.json"},
		{"writes a VPC Service Controls access level for GCS", "nlp", "gcs.golden.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), []string{"netpolicy", "--config", "testdata/netpolicy/config.yaml", "--team", tc.givenTeam}, nil, &out, &errOut)
			if err != nil {
				t.Fatalf("netpolicy: %v\n%s", err, errOut.String())
			}
			golden := filepath.Join("testdata", "netpolicy", tc.wantGolden)
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
}

func TestNetpolicyRefuses(t *testing.T) {
	tests := []struct {
		name      string
		givenArgs []string
		wantErr   string
	}{
		{"without a team", []string{"netpolicy", "--dev"}, "--team"},
		{"an unknown team", []string{"netpolicy", "--dev", "--team", "ghosts"}, "not in the policy data"},
		{"a GCS team without cidrs", []string{"netpolicy", "--dev", "--team", "nlp"}, "no cidrs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.givenArgs, nil, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}
