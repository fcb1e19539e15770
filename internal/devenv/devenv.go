// Package devenv describes the local development environment that
// `signgate serve --dev` signs for and that `go run ./tests/devstack`
// starts: the emulators' default addresses, the dev buckets and container,
// and the emulators' public credentials. Both sides read it from here, so
// they cannot drift apart.
package devenv

import "strconv"

// The emulators' default ports on 127.0.0.1.
const (
	S3Port    = 7070  // versitygw
	GCSPort   = 4443  // fake-gcs-server
	AzurePort = 10000 // Azurite's blob service
)

// Public credentials of the emulators. They open nothing but a developer's
// own emulator, and signgate uses them only with --dev.
const (
	S3AccessKey = "signgate-dev"
	S3SecretKey = "signgate-dev-secret"
	S3Region    = "us-east-1"
	// AzureAccount and AzureKey are Azurite's documented, well-known
	// development account and key.
	AzureAccount = "devstoreaccount1"
	AzureKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	// GCSServiceAccount is the email of the throw-away service account that
	// dev mode generates a key for at each start.
	GCSServiceAccount = "signgate-dev@signgate-dev.iam.gserviceaccount.com"
	// GCSProject is the project the dev bucket is created in.
	GCSProject = "signgate-dev"
)

// The dev connectors' buckets and container, one per connector of the
// embedded example data (policies/data.json).
const (
	VisionBucket      = "acme-vision"      // vision-s3: teams vision and media
	ResearchBucket    = "acme-research"    // research-s3
	ContractorsBucket = "acme-contractors" // contractors-s3
	NLPBucket         = "acme-nlp"         // nlp-gcs
	WebContainer      = "acme-web"         // web-azure
)

// S3Buckets are the dev S3 buckets.
func S3Buckets() []string { return []string{VisionBucket, ResearchBucket, ContractorsBucket} }

// Endpoints are where the three emulators listen, as the dev connectors
// name them.
type Endpoints struct {
	S3    string // http://127.0.0.1:7070
	GCS   string // http://127.0.0.1:4443
	Azure string // http://127.0.0.1:10000/devstoreaccount1: the account is part of it
}

// EndpointsAt are the endpoints of emulators on 127.0.0.1 at these ports.
func EndpointsAt(s3Port, gcsPort, azurePort int) Endpoints {
	return Endpoints{
		S3:    "http://" + HostPort(s3Port),
		GCS:   "http://" + HostPort(gcsPort),
		Azure: "http://" + HostPort(azurePort) + "/" + AzureAccount,
	}
}

// DefaultEndpoints are the endpoints at the default ports.
func DefaultEndpoints() Endpoints { return EndpointsAt(S3Port, GCSPort, AzurePort) }

// HostPort is 127.0.0.1:port.
func HostPort(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
