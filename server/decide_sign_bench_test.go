package server_test

import (
	"context"
	"testing"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/s3"
)

// BenchmarkDecideAndSign is the work of one /v1/sign without HTTP and
// audit: the default policy's decision, then the provider's signature.
func BenchmarkDecideAndSign(b *testing.B) {
	sa, err := gcs.GenerateServiceAccountJSON("bench@signgate.iam.gserviceaccount.com")
	if err != nil {
		b.Fatal(err)
	}
	s3s, err := s3.New(s3.Config{Bucket: "acme-vision", Region: "us-east-1", Credentials: s3.StaticCredentials("AKIDBENCH", "secret")})
	if err != nil {
		b.Fatal(err)
	}
	gcss, err := gcs.New(gcs.Config{Bucket: "acme-nlp", ServiceAccountJSON: sa})
	if err != nil {
		b.Fatal(err)
	}
	azs, err := azblob.New(azblob.Config{Container: "acme-web", AccountName: "devstoreaccount1", AccountKey: azuriteKey})
	if err != nil {
		b.Fatal(err)
	}
	signers := map[string]signer.Signer{"vision-s3": s3s, "nlp-gcs": gcss, "web-azure": azs}
	engine := authz.New()
	bn, err := bundles.LoadFS(policies.FS)
	if err != nil {
		b.Fatal(err)
	}
	if err := engine.Activate(context.Background(), bn, "embedded"); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ provider, team string }{{"s3", "vision"}, {"gcs", "nlp"}, {"azure", "web"}} {
		b.Run(tc.provider, func(b *testing.B) {
			in := &authz.Input{
				Subject: authz.Subject{ID: "alice", Teams: []string{tc.team}, AuthMethod: "api_key"},
				Action:  authz.Action{Team: tc.team, Operation: "read", Object: "runs/42/model.pt", ExpiresIn: 900},
				Source:  authz.Source{IP: "10.1.2.3", UserAgent: "bench"},
				Time:    "2026-11-27T10:00:00Z",
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				d, err := engine.Decide(ctx, in)
				if err != nil || !d.Allow {
					b.Fatalf("decision %+v, err %v", d, err)
				}
				if _, err := signers[d.Connector].Sign(ctx, signer.Grant{Key: d.Key, Operation: signer.OpRead, TTL: d.TTL, DecisionID: "0b7f6f5e-3f0c-4a53-9b7e-0e1a5e9f4a11"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
