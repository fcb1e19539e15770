package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/signgate/signgate/internal/devenv"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer/gcs"
)

// devKeyEnv fixes the dev API key across restarts, like --dev-key.
const devKeyEnv = "SIGNGATE_DEV_KEY"

// minDevKeyLen keeps a fixed dev key from being guessable by another user
// of the same machine, who can reach 127.0.0.1 too.
const minDevKeyLen = 16

// Names of the dev connectors' secrets. They are resolved only by
// devMode.secret, never from the environment or disk.
const (
	devS3AccessKeyName  = "SIGNGATE_DEV_S3_ACCESS_KEY_ID"
	devS3SecretKeyName  = "SIGNGATE_DEV_S3_SECRET_ACCESS_KEY"
	devAzureKeyName     = "SIGNGATE_DEV_AZURE_KEY"
	devGCSAccountSource = "dev:gcs-service-account"
)

// devOptions are the flags that only `serve --dev` takes.
type devOptions struct {
	endpoints devenv.Endpoints
	key       string
}

func addDevFlags(fs *flag.FlagSet) *devOptions {
	o := &devOptions{endpoints: devenv.DefaultEndpoints()}
	fs.StringVar(&o.endpoints.S3, "dev-s3-endpoint", o.endpoints.S3, "with --dev: the S3 emulator (versitygw) the dev S3 connectors sign for")
	fs.StringVar(&o.endpoints.GCS, "dev-gcs-endpoint", o.endpoints.GCS, "with --dev: the GCS emulator (fake-gcs-server) the dev GCS connector signs for")
	fs.StringVar(&o.endpoints.Azure, "dev-azure-endpoint", o.endpoints.Azure, "with --dev: the Azure Blob emulator (Azurite), account path included")
	fs.StringVar(&o.key, "dev-key", "", "with --dev: a fixed dev API key, kept across restarts (default $"+devKeyEnv+", else a fresh key per start)")
	return o
}

// checkDevFlags refuses the dev flags without --dev: they would change
// nothing, and a user who set them thinks otherwise.
func checkDevFlags(fs *flag.FlagSet, dev bool) error {
	if dev {
		return nil
	}
	var set []string
	fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "dev-") {
			set = append(set, "--"+f.Name)
		}
	})
	if len(set) > 0 {
		return usagef(fs.Name(), "%s only applies with --dev", strings.Join(set, ", "))
	}
	return nil
}

// devMode is the configuration of `serve --dev` and what only dev mode may
// use: its API key and the emulators' public secrets.
type devMode struct {
	cfg     *config.Config
	apiKey  string
	keyFrom string // "--dev-key" or "$SIGNGATE_DEV_KEY" when fixed; empty: fresh
	secrets map[string]string
}

// newDevMode builds the dev configuration: the embedded policy and example
// data, connectors for the local emulators, and one API key for the
// subject "dev", kept only as its hash.
func newDevMode(o devOptions) (*devMode, error) {
	for _, ep := range []struct{ flag, url string }{
		{"--dev-s3-endpoint", o.endpoints.S3}, {"--dev-gcs-endpoint", o.endpoints.GCS}, {"--dev-azure-endpoint", o.endpoints.Azure},
	} {
		if u, err := url.Parse(ep.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%s: want an http(s) URL, got %q", ep.flag, ep.url)
		}
	}
	d := &devMode{apiKey: o.key, keyFrom: "--dev-key"}
	if d.apiKey == "" {
		d.apiKey, d.keyFrom = os.Getenv(devKeyEnv), "$"+devKeyEnv
	}
	switch {
	case d.apiKey != "":
		if len(d.apiKey) < minDevKeyLen || strings.ContainsFunc(d.apiKey, func(r rune) bool { return r <= ' ' }) {
			return nil, fmt.Errorf("%s: want at least %d characters and no spaces", d.keyFrom, minDevKeyLen)
		}
	default:
		d.keyFrom = ""
		key := make([]byte, 24)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		d.apiKey = "sgdev_" + hex.EncodeToString(key)
	}
	sum := sha256.Sum256([]byte(d.apiKey))

	sa, err := gcs.GenerateServiceAccountJSON(devenv.GCSServiceAccount)
	if err != nil {
		return nil, err
	}
	d.secrets = map[string]string{
		devS3AccessKeyName:  devenv.S3AccessKey,
		devS3SecretKeyName:  devenv.S3SecretKey,
		devAzureKeyName:     devenv.AzureKey,
		devGCSAccountSource: string(sa),
	}

	s3 := func(bucket string) config.Connector {
		return config.Connector{
			Provider: "s3", Bucket: bucket, Region: devenv.S3Region, Endpoint: o.endpoints.S3,
			Credentials: config.Credentials{AccessKeyIDEnv: devS3AccessKeyName, SecretAccessKeyEnv: devS3SecretKeyName},
		}
	}
	d.cfg = &config.Config{
		Auth: config.Auth{APIKeys: []config.APIKey{{
			SHA256:  hex.EncodeToString(sum[:]),
			Subject: "dev",
			Teams:   []string{"vision", "media", "research", "nlp", "web"},
		}}},
		Connectors: map[string]config.Connector{
			"vision-s3":      s3(devenv.VisionBucket),
			"research-s3":    s3(devenv.ResearchBucket),
			"contractors-s3": s3(devenv.ContractorsBucket),
			"nlp-gcs": {
				Provider: "gcs", Bucket: devenv.NLPBucket, Endpoint: o.endpoints.GCS,
				Credentials: config.Credentials{ServiceAccountFile: devGCSAccountSource},
			},
			"web-azure": {
				Provider: "azure", Container: devenv.WebContainer, Endpoint: o.endpoints.Azure,
				Credentials: config.Credentials{AccountName: devenv.AzureAccount, AccountKeyEnv: devAzureKeyName},
			},
		},
	}
	d.cfg.SetDefaults()
	return d, d.cfg.Validate()
}

// devConfig is the dev configuration with default endpoints and a fresh
// key, for commands that only read it.
func devConfig() (*config.Config, string, error) {
	d, err := newDevMode(devOptions{endpoints: devenv.DefaultEndpoints()})
	if err != nil {
		return nil, "", err
	}
	return d.cfg, d.apiKey, nil
}

// secret resolves the dev connectors' secrets from dev mode's own table:
// nothing is read from the environment or disk.
func (d *devMode) secret(env, path string) (string, error) {
	name := env
	if name == "" {
		name = path
	}
	if v, ok := d.secrets[name]; ok {
		return v, nil
	}
	return "", errors.New("not a dev mode secret")
}

func (d *devMode) printHelp(w io.Writer, addr string) {
	// The caller knows a fixed key, so it is not echoed into a log.
	keyNote, export := "fixed by --dev-key", "export SIGNGATE_KEY=<the --dev-key value>"
	switch d.keyFrom {
	case "":
		keyNote = "fresh for this process; fix it across restarts with --dev-key or $" + devKeyEnv
		export = "export SIGNGATE_KEY=" + d.apiKey
	case "$" + devKeyEnv:
		keyNote, export = "fixed by $"+devKeyEnv, "export SIGNGATE_KEY=\"$"+devKeyEnv+"\""
	}
	c := d.cfg.Connectors
	fmt.Fprintf(w, `
signgate is running in dev mode on http://%[1]s (embedded policy, example data).
Dev API key (subject "dev", teams vision, media, research, nlp, web; %[3]s):

  %[2]s

Try it:

  curl -s -X POST http://%[1]s/v1/sign \
    -H "Authorization: Bearer $SIGNGATE_KEY" -H 'Content-Type: application/json' \
    -d '{"team":"vision","operation":"read","object":"runs/42/model.pt","expires_in":900}'

Teams: vision -> S3 (versitygw at %[4]s), nlp -> GCS (fake-gcs-server at %[5]s),
web -> Azure (Azurite at %[6]s). A URL is issued whether or not the emulators run;
start them, with the dev buckets and container, with: go run ./tests/devstack

`, addr, export, keyNote, c["vision-s3"].Endpoint, c["nlp-gcs"].Endpoint, c["web-azure"].Endpoint)
}
