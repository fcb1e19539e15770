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
		{"writes an S3 bucket policy: public ranges as aws:SourceIp, private ones as aws:VpcSourceIp through the VPC endpoints", "vision", "s3.golden.json"},
		{"writes an S3 bucket policy for private ranges through a VPC endpoint only", "vpce-only", "s3-vpce.golden.json"},
		{"writes an Azure network rule set: public ranges as ipRules, private ones through the subnets", "web", "azure.golden.json"},
		{"writes a VPC Service Controls access level: public ranges and private ones of the VPC networks", "nlp", "gcs.golden.yaml"},
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
		{"an S3 team without cidrs, which the policy lets in from anywhere", cfgArgs("open-s3"), "has no cidrs"},
		{"an Azure team with empty cidrs", cfgArgs("open-azure"), "has no cidrs"},
		{"a GCS team without cidrs, by configuration", cfgArgs("open-gcs"), "has no cidrs"},
		{"private ranges for S3 without VPC endpoints", cfgArgs("vpn-s3"), "10.8.0.0/16: private ranges never reach S3 as aws:SourceIp; name the VPC endpoints they come through in network.teams.vpn-s3.vpc_endpoints"},
		{"private ranges for Azure without subnets", cfgArgs("vpn-azure"), "network.teams.vpn-azure.azure_subnets"},
		{"private ranges for GCS without VPC networks", cfgArgs("vpn-gcs"), "network.teams.vpn-gcs.gcp_vpc_networks"},
		{"IPv6 ranges for Azure", cfgArgs("v6-azure"), "IPv4 ranges only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.givenArgs, nil, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
			if out.Len() != 0 {
				t.Fatalf("printed a control anyway:\n%s", out.String())
			}
			if code := report(err, &errOut); code != 1 && !strings.Contains(tc.name, "without a team") {
				t.Fatalf("exit %d, want 1", code)
			}
		})
	}
}

func cfgArgs(team string) []string {
	return []string{"netpolicy", "--config", "testdata/netpolicy/config.yaml", "--team", team}
}
