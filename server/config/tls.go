package config

import (
	"fmt"
	"os"
)

// TLS serves the API over HTTPS. The files are PEM; signgate re-reads them
// when they change (docs/operations.md), so a rotated certificate needs no
// restart.
type TLS struct {
	CertFile string `json:"cert_file"` // the certificate chain, leaf first
	KeyFile  string `json:"key_file"`  // its private key
	// ClientCAFile, when set, turns on mutual TLS: every client must present
	// a certificate that chains to one of these CAs.
	ClientCAFile string `json:"client_ca_file"`
}

// Enabled reports whether the API listener serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

func (t TLS) validate(p string, bad func(path, format string, args ...any)) {
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		if t.ClientCAFile != "" {
			bad(p+".client_ca_file", "needs cert_file and key_file: client certificates are asked for in a TLS handshake")
		}
		return
	case t.CertFile == "":
		bad(p+".cert_file", "required with key_file")
	case t.KeyFile == "":
		bad(p+".key_file", "required with cert_file")
	}
	for _, f := range []struct{ field, path string }{
		{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"client_ca_file", t.ClientCAFile},
	} {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			bad(p+"."+f.field, "%v", err)
		}
	}
}

// readable checks that path is a file this process can open.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a directory, want a PEM file", path)
	}
	return nil
}
