package gcs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ServiceAccount is the part of a service-account key file that signs
// URLs. Key.PublicKey is what a verifier (gcsverify) needs.
type ServiceAccount struct {
	Email string
	Key   *rsa.PrivateKey
}

// serviceAccountFile is the JSON key file Google issues, reduced to the
// fields that signing and its tools use.
type serviceAccountFile struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id,omitempty"`
	PrivateKeyID string `json:"private_key_id,omitempty"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri,omitempty"`
}

// ParseServiceAccountJSON reads client_email and the RSA private_key (PEM,
// PKCS #8 or PKCS #1) from a service-account key file.
func ParseServiceAccountJSON(b []byte) (ServiceAccount, error) {
	var f serviceAccountFile
	if err := json.Unmarshal(b, &f); err != nil {
		return ServiceAccount{}, fmt.Errorf("service account JSON: %w", err)
	}
	switch {
	case f.Type != "" && f.Type != "service_account":
		return ServiceAccount{}, fmt.Errorf("service account JSON: type %q, want service_account", f.Type)
	case f.ClientEmail == "":
		return ServiceAccount{}, errors.New("service account JSON: no client_email")
	}
	block, _ := pem.Decode([]byte(f.PrivateKey))
	if block == nil {
		return ServiceAccount{}, errors.New("service account JSON: private_key is not PEM")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return ServiceAccount{}, fmt.Errorf("service account JSON: private_key: %w", err)
		}
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return ServiceAccount{}, fmt.Errorf("service account JSON: private_key is %T, want RSA", parsed)
	}
	return ServiceAccount{Email: f.ClientEmail, Key: key}, nil
}

// GenerateServiceAccountJSON makes a new RSA-2048 key and returns it as a
// service-account key file for email, for dev mode and tests, where GCS is
// an emulator behind a verifying proxy that holds the public key.
func GenerateServiceAccountJSON(email string) ([]byte, error) {
	if email == "" {
		return nil, errors.New("gcs: generate service account: empty email")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("gcs: generate service account: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("gcs: generate service account: %w", err)
	}
	id := make([]byte, 20)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("gcs: generate service account: %w", err)
	}
	// Google's emails read name@project.iam.gserviceaccount.com.
	_, domain, _ := strings.Cut(email, "@")
	project, _, _ := strings.Cut(domain, ".")
	return json.MarshalIndent(serviceAccountFile{
		Type:         "service_account",
		ProjectID:    project,
		PrivateKeyID: hex.EncodeToString(id),
		PrivateKey:   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:  email,
		TokenURI:     "https://oauth2.googleapis.com/token",
	}, "", "  ")
}
