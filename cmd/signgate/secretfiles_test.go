package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signgate/signgate/server/config"
)

func TestCheckSecretFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "account-key")
	if err := os.WriteFile(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Connectors: map[string]config.Connector{"web": {Credentials: config.Credentials{AccountKeyFile: p}}}}
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	if err := checkSecretFiles(cfg, log); err != nil {
		t.Fatalf("by default a readable secret file is a warning, got %v", err)
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "connectors.web.credentials.account_key_file") {
		t.Fatalf("no warning naming the field: %s", logged.String())
	}
	if strings.Contains(logged.String(), "secret\n") {
		t.Fatal("the log holds the secret")
	}
	cfg.Server.StrictSecretFiles = true
	if err := checkSecretFiles(cfg, log); err == nil || !strings.Contains(err.Error(), "account_key_file") {
		t.Fatalf("strict_secret_files: got %v, want a refusal naming the field", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkSecretFiles(cfg, log); err != nil {
		t.Fatalf("a 0600 file refused: %v", err)
	}
}
