package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/keys"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/server/config"
)

const bundleUsage = `usage:
  signgate bundle build DIR -o bundle.tar.gz [--revision R] [--signing-key KEY [--signing-alg RS256] [--signing-key-id ID] [--scope S]]
  signgate bundle verify bundle.tar.gz --verification-key KEY [--signing-alg RS256] [--verification-key-id ID] [--scope S]

KEY is a PEM file (RSA or ECDSA) or, for HS256/HS384/HS512, a file holding the secret.
Run 'signgate bundle build --help' or 'signgate bundle verify --help' for the flags.
`

const bundleBuildUsage = `usage: signgate bundle build DIR -o bundle.tar.gz [--revision R] [--config FILE] [--signing-key KEY [--signing-alg RS256] [--signing-key-id ID] [--scope S]]

Build a policy bundle from DIR, check that signgate would activate it (with
--config: that every connector its data names is in that configuration), and
sign it when --signing-key is given. KEY is a PEM file (RSA or ECDSA) or,
for HS256/HS384/HS512, a file holding the secret.
`

const bundleVerifyUsage = `usage: signgate bundle verify bundle.tar.gz --verification-key KEY [--signing-alg RS256] [--verification-key-id ID] [--scope S]

Verify a bundle's signature and that signgate would activate it, and print
the id of the key it verified with: --verification-key-id, or else the key
id the signature names. KEY is a PEM public key or, for HS256/HS384/HS512, a
file holding the secret. Exit status 1 means the bundle failed verification;
2, a wrong command line (a key that cannot be read included).
`

// bundleCmd builds and verifies policy bundles with OPA's bundle package,
// for teams without the opa CLI. Both check that signgate would activate
// the bundle: it compiles, and its decision has the shape signgate needs.
func bundleCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("bundle", "bundle: missing command build or verify")
	}
	switch {
	case args[0] == "build":
		return bundleBuild(ctx, args[1:], stdout, stderr)
	case args[0] == "verify":
		return bundleVerify(ctx, args[1:], stdout, stderr)
	case isHelp(args[0]):
		fmt.Fprint(stdout, bundleUsage)
		return errHelpShown
	}
	return usagef("bundle", "bundle: unknown command %q", args[0])
}

func bundleBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bundle build", flag.ContinueOnError)
	out := fs.String("o", "bundle.tar.gz", "output file")
	revision := fs.String("revision", "", "the bundle's revision (.manifest)")
	signingKey := fs.String("signing-key", "", "sign with this private key (PEM file) or HMAC secret file")
	alg := fs.String("signing-alg", "RS256", "signing algorithm")
	keyID := fs.String("signing-key-id", "default", "key id written into the signature")
	scope := fs.String("scope", "", "scope claim written into the signature")
	cfgPath := fs.String("config", "", "also check that every connector the data names is in this configuration")
	pos, err := parseArgs(fs, args, stdout, bundleBuildUsage, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef(fs.Name(), "bundle build: want one policy directory")
	}
	b, err := bundles.LoadDir(pos[0])
	if err != nil {
		return err
	}
	for i := range b.Modules {
		// Archive paths are relative to the directory, as opa build writes them.
		b.Modules[i].URL = b.Modules[i].Path
	}
	if *revision != "" {
		b.Manifest.Revision = *revision
	}
	rev, err := authz.Check(ctx, b)
	if err != nil {
		return fmt.Errorf("bundle build: signgate would refuse this bundle: %w", err)
	}
	if *cfgPath != "" {
		if err := checkBundleConnectors(ctx, b, *cfgPath); err != nil {
			return err
		}
	}
	if *signingKey != "" {
		claims := ""
		if *scope != "" {
			if claims, err = claimsFile(*scope, *keyID); err != nil {
				return err
			}
			defer os.Remove(claims)
		}
		if err := b.GenerateSignature(bundle.NewSigningConfig(*signingKey, *alg, claims), *keyID, false); err != nil {
			return fmt.Errorf("bundle build: sign: %w", err)
		}
	} else if *scope != "" {
		return usagef(fs.Name(), "bundle build: --scope needs --signing-key")
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := bundle.NewWriter(f).Write(*b); err != nil {
		f.Close()
		return fmt.Errorf("bundle build: write %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	signed := "unsigned"
	if *signingKey != "" {
		signed = "signed by key " + *keyID
	}
	fmt.Fprintf(stdout, "wrote %s: revision %s, %d modules, %s\n", *out, rev, len(b.Modules), signed)
	return nil
}

func bundleVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bundle verify", flag.ContinueOnError)
	key := fs.String("verification-key", "", "public key (PEM file) or HMAC secret file")
	alg := fs.String("signing-alg", "RS256", "signature algorithm")
	keyID := fs.String("verification-key-id", "", "id of the verification key (default: the key id the signature names)")
	scope := fs.String("scope", "", "scope the signature must carry")
	pos, err := parseArgs(fs, args, stdout, bundleVerifyUsage, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *key == "" {
		return usagef(fs.Name(), "bundle verify: want one bundle file and --verification-key")
	}
	kc, err := keys.NewKeyConfig(*key, *alg, "")
	if err != nil {
		return usagef(fs.Name(), "bundle verify: --verification-key: %v", err)
	}
	if !strings.HasPrefix(*alg, "HS") {
		if block, _ := pem.Decode([]byte(kc.Key)); block == nil {
			return usagef(fs.Name(), "bundle verify: --verification-key %s: not a PEM public key", *key)
		}
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	// The key id to verify with: the one asked for, or else the one the
	// signature names, so that what is printed is the key OPA used.
	id := *keyID
	if id == "" {
		if id, err = signatureKeyID(raw); err != nil {
			return fmt.Errorf("bundle verify: %s: %w", pos[0], err)
		}
	}
	vc := bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{id: kc}, id, *scope, nil)
	b, err := bundle.NewReader(bytes.NewReader(raw)).WithBundleVerificationConfig(vc).Read()
	if err != nil {
		return fmt.Errorf("bundle verify: %s: %w", pos[0], err)
	}
	rev, err := authz.Check(ctx, &b)
	if err != nil {
		return fmt.Errorf("bundle verify: signgate would refuse this bundle: %w", err)
	}
	fmt.Fprintf(stdout, "%s: signature OK (key %s), revision %s, %d modules\n", pos[0], authz.SigningKeyID(&b, vc), rev, len(b.Modules))
	return nil
}

// signatureKeyID is the key id that a bundle's signature names (its
// keyid claim, else its kid header), read without verifying anything: it
// only picks the key that OPA then verifies with. A bundle without a
// signature fails verification later, with OPA's own message.
func signatureKeyID(raw []byte) (string, error) {
	loader := bundle.NewTarballLoader(bytes.NewReader(raw))
	var sigs bundle.SignaturesConfig
	for {
		f, err := loader.NextFile()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		if !bundle.IsSignaturesFile(f.Path()) {
			continue
		}
		var buf bytes.Buffer
		if _, err := f.Read(&buf, 1<<20); err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		if err := json.Unmarshal(buf.Bytes(), &sigs); err != nil {
			return "", fmt.Errorf("%s: %w", f.Path(), err)
		}
	}
	if len(sigs.Signatures) == 0 {
		return "default", nil
	}
	msg, err := jws.Parse([]byte(sigs.Signatures[0]))
	if err != nil {
		return "", fmt.Errorf("signature: %w", err)
	}
	var claims struct {
		KeyID string `json:"keyid"`
	}
	if err := json.Unmarshal(msg.Payload(), &claims); err == nil && claims.KeyID != "" {
		return claims.KeyID, nil
	}
	if sigs := msg.Signatures(); len(sigs) > 0 {
		if kid, ok := sigs[0].ProtectedHeaders().KeyID(); ok && kid != "" {
			return kid, nil
		}
	}
	return "default", nil
}

// checkBundleConnectors refuses a bundle whose data gives a team a
// connector that the configuration at cfgPath does not have: a signgate
// running that configuration would refuse the bundle the same way.
func checkBundleConnectors(ctx context.Context, b *bundle.Bundle, cfgPath string) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	e := authz.New()
	if err := e.SetConnectors(slices.Sorted(maps.Keys(cfg.Connectors))); err != nil {
		return err
	}
	if err := e.Activate(ctx, b, "bundle build"); err != nil {
		return fmt.Errorf("bundle build: signgate with %s would refuse this bundle: %w", cfgPath, err)
	}
	return nil
}

// claimsFile writes the signature's claims for OPA's signer, which reads
// them from a file.
func claimsFile(scope, keyID string) (string, error) {
	f, err := os.CreateTemp("", "signgate-claims-*.json")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(map[string]string{"scope": scope, "keyid": keyID}); err != nil {
		return "", err
	}
	return filepath.Clean(f.Name()), nil
}
