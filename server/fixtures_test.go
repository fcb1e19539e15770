package server_test

import (
	"context"
	"testing"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
	"github.com/signgate/signgate/signer/s3"
)

// exampleSigners are real signers, on the fixed clock, for the example
// data's S3 and Azure connectors (GCS is left out: RSA is slow).
func exampleSigners(t testing.TB) map[string]signer.Signer {
	t.Helper()
	s3signer := func(bucket string) signer.Signer {
		sg, err := s3.New(s3.Config{Bucket: bucket, Region: "us-east-1", Endpoint: "http://127.0.0.1:7070",
			Credentials: s3.StaticCredentials("AKIDTEST", "test-secret")}, s3.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		return sg
	}
	az, err := azblob.New(azblob.Config{Container: "acme-web", Endpoint: "http://127.0.0.1:10000/devstoreaccount1",
		AccountName: "devstoreaccount1", AccountKey: azuriteKey}, azblob.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]signer.Signer{
		"vision-s3":      s3signer("acme-vision"),
		"research-s3":    s3signer("acme-research"),
		"contractors-s3": s3signer("acme-contractors"),
		"web-azure":      az,
	}
}

// embeddedEngine activates the embedded policy, with its data changed by
// edit when given, for the connectors of signers.
func embeddedEngine(t testing.TB, signers map[string]signer.Signer, edit ...func(data map[string]any)) *authz.Engine {
	t.Helper()
	b, err := bundles.LoadFS(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(b.Data)
	}
	engine := authz.New() // server.New tells it the connectors of signers
	if err := engine.Activate(context.Background(), b, "embedded"); err != nil {
		t.Fatal(err)
	}
	return engine
}

// testKeys authenticates alice (vision, research, web) and bob (nlp).
func testKeys(t testing.TB) *server.APIKeys {
	t.Helper()
	auth, err := server.NewAPIKeys([]config.APIKey{
		{SHA256: sum(aliceKey), Subject: "alice", Teams: []string{"vision", "research", "web"}},
		{SHA256: sum(bobKey), Subject: "bob", Teams: []string{"nlp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return auth
}
