package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/signgate/signgate/signer/gcs"
)

// exampleGCSAndAzure is the YAML, under connectors:, of the example data's
// GCS and Azure connectors (nlp-gcs, web-azure), with their secrets in a
// temporary file and the environment. With the S3 ones, the embedded
// policy names no connector the configuration lacks.
func exampleGCSAndAzure(t *testing.T) string {
	t.Helper()
	sa, err := gcs.GenerateServiceAccountJSON("signgate-test@signgate-test.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	saFile := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(saFile, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_AZURE_KEY", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
	return fmt.Sprintf(`  nlp-gcs: {provider: gcs, bucket: acme-nlp, endpoint: "http://127.0.0.1:9", credentials: {service_account_file: %q}}
  web-azure: {provider: azure, container: acme-web, endpoint: "http://127.0.0.1:9/devstoreaccount1",
              credentials: {account_name: devstoreaccount1, account_key_env: TEST_AZURE_KEY}}
`, saFile)
}
