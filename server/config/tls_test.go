package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signgate/signgate/server/config"
)

func TestTLSValidation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tls.pem")
	if err := os.WriteFile(file, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name      string
		givenTLS  string
		wantErrs  []string // each must appear; none: valid
		wantOnTLS bool
	}{
		{name: "no TLS is plain HTTP", givenTLS: "{}"},
		{name: "a certificate and its key", givenTLS: fmt.Sprintf("{cert_file: %q, key_file: %q}", file, file), wantOnTLS: true},
		{name: "mutual TLS", givenTLS: fmt.Sprintf("{cert_file: %q, key_file: %q, client_ca_file: %q}", file, file, file), wantOnTLS: true},
		{name: "a certificate without a key", givenTLS: fmt.Sprintf("{cert_file: %q}", file),
			wantErrs: []string{"config: server.tls.key_file: required with cert_file"}},
		{name: "a key without a certificate", givenTLS: fmt.Sprintf("{key_file: %q}", file),
			wantErrs: []string{"config: server.tls.cert_file: required with key_file"}},
		{name: "client CAs without a certificate", givenTLS: fmt.Sprintf("{client_ca_file: %q}", file),
			wantErrs: []string{"config: server.tls.client_ca_file: needs cert_file and key_file"}},
		{name: "files that cannot be read are named by their fields", givenTLS: fmt.Sprintf("{cert_file: %q, key_file: %q, client_ca_file: %q}", missing, dir, missing),
			wantErrs: []string{"config: server.tls.cert_file: open " + missing, "config: server.tls.key_file: " + dir + " is a directory",
				"config: server.tls.client_ca_file: open " + missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(auditBase + "server: {tls: " + tt.givenTLS + "}\n"))
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.Server.TLS.Enabled() != tt.wantOnTLS {
					t.Errorf("TLS enabled %v, want %v", c.Server.TLS.Enabled(), tt.wantOnTLS)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}
