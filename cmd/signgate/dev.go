package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer/gcs"
)

// Public credentials of the local emulators that --dev points at. None of
// them opens anything but a developer's own emulator on 127.0.0.1.
const (
	devS3AccessKey = "signgate-dev"
	devS3SecretKey = "signgate-dev-secret"
	// devAzureKey is Azurite's documented, well-known devstoreaccount1 key.
	devAzureKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// devSecrets resolves the dev connectors' secret names; nothing is read
// from the environment or disk in dev mode.
var devSecrets = map[string]string{
	"SIGNGATE_DEV_S3_ACCESS_KEY_ID":     devS3AccessKey,
	"SIGNGATE_DEV_S3_SECRET_ACCESS_KEY": devS3SecretKey,
	"SIGNGATE_DEV_AZURE_KEY":            devAzureKey,
}

// devConfig is the configuration of `serve --dev`: the embedded policy and
// example data, connectors for local emulators (versitygw on :7070,
// fake-gcs-server on :4443, Azurite on :10000) and a fresh API key that is
// printed once and kept only as its hash.
func devConfig() (*config.Config, string, error) {
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		return nil, "", err
	}
	apiKey := "sgdev_" + hex.EncodeToString(key)
	sum := sha256.Sum256([]byte(apiKey))

	sa, err := gcs.GenerateServiceAccountJSON("signgate-dev@signgate-dev.iam.gserviceaccount.com")
	if err != nil {
		return nil, "", err
	}
	devSecrets["dev:gcs-service-account"] = string(sa)

	s3 := func(bucket string) config.Connector {
		return config.Connector{
			Provider: "s3", Bucket: bucket, Region: "us-east-1", Endpoint: "http://127.0.0.1:7070",
			Credentials: config.Credentials{
				AccessKeyIDEnv:     "SIGNGATE_DEV_S3_ACCESS_KEY_ID",
				SecretAccessKeyEnv: "SIGNGATE_DEV_S3_SECRET_ACCESS_KEY",
			},
		}
	}
	c := &config.Config{
		Auth: config.Auth{APIKeys: []config.APIKey{{
			SHA256:  hex.EncodeToString(sum[:]),
			Subject: "dev",
			Teams:   []string{"vision", "media", "research", "nlp", "web"},
		}}},
		Connectors: map[string]config.Connector{
			"vision-s3":      s3("acme-vision"),
			"research-s3":    s3("acme-research"),
			"contractors-s3": s3("acme-contractors"),
			"nlp-gcs": {
				Provider: "gcs", Bucket: "acme-nlp", Endpoint: "http://127.0.0.1:4443",
				Credentials: config.Credentials{ServiceAccountFile: "dev:gcs-service-account"},
			},
			"web-azure": {
				Provider: "azure", Container: "acme-web", Endpoint: "http://127.0.0.1:10000/devstoreaccount1",
				Credentials: config.Credentials{AccountName: "devstoreaccount1", AccountKeyEnv: "SIGNGATE_DEV_AZURE_KEY"},
			},
		},
	}
	c.SetDefaults()
	return c, apiKey, c.Validate()
}

func printDevHelp(w io.Writer, addr, apiKey string) {
	fmt.Fprintf(w, `
signgate is running in dev mode on http://%[1]s (embedded policy, example data).
Dev API key (subject "dev", teams vision, media, research, nlp, web; valid until this process exits):

  export SIGNGATE_KEY=%[2]s

Try it:

  curl -s -X POST http://%[1]s/v1/sign \
    -H "Authorization: Bearer $SIGNGATE_KEY" -H 'Content-Type: application/json' \
    -d '{"team":"vision","operation":"read","object":"runs/42/model.pt","expires_in":900}'

Teams: vision -> S3 (versitygw on 127.0.0.1:7070), nlp -> GCS (fake-gcs-server on 127.0.0.1:4443),
web -> Azure (Azurite on 127.0.0.1:10000). A URL is issued whether or not the emulator runs.

`, addr, apiKey)
}
