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

// otherExampleConnectors is the YAML, under connectors:, of every connector
// the example data names but vision-s3, which the tests write themselves:
// research-s3 and contractors-s3 (credentials in the environment) plus
// exampleGCSAndAzure. No request in those tests reaches them.
func otherExampleConnectors(t *testing.T) string {
	t.Helper()
	t.Setenv("TEST_EXAMPLE_AK", "AKIDEXAMPLETEST")
	t.Setenv("TEST_EXAMPLE_SK", "example-test-secret")
	return `  research-s3: {provider: s3, bucket: acme-research, region: us-east-1, endpoint: "http://127.0.0.1:9",
                credentials: {access_key_id_env: TEST_EXAMPLE_AK, secret_access_key_env: TEST_EXAMPLE_SK}}
  contractors-s3: {provider: s3, bucket: acme-contractors, region: us-east-1, endpoint: "http://127.0.0.1:9",
                   credentials: {access_key_id_env: TEST_EXAMPLE_AK, secret_access_key_env: TEST_EXAMPLE_SK}}
` + exampleGCSAndAzure(t)
}
