package storage

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// Azurite's well-known development account. The key is public: it is in
// Azurite's README and every Azure SDK's emulator docs.
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

func azuriteBinary(root string) string {
	return filepath.Join(root, "tests", "node_modules", ".bin", "azurite-blob")
}

// Azure is a running Azurite blob service, in memory.
type Azure struct {
	Endpoint   string // http://127.0.0.1:PORT/devstoreaccount1
	AccountKey string
	Account    string
	Process    *Process
	client     *azblob.Client
}

// StartAzure starts azurite-blob from <repo>/tests/node_modules.
func StartAzure(ctx context.Context, dir string) (*Azure, error) { return StartAzureAt(ctx, dir, 0) }

// StartAzureAt is StartAzure on a given port (0: a free one).
func StartAzureAt(ctx context.Context, dir string, port int) (*Azure, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	exe, err := findBinary(azuriteBinary(root), "azurite-blob")
	if err != nil {
		return nil, err
	}
	srv := &Azure{Account: AzuriteAccount, AccountKey: AzuriteKey}
	cred, err := azblob.NewSharedKeyCredential(srv.Account, srv.AccountKey)
	if err != nil {
		return nil, err
	}
	argv := func(port int) []string {
		return []string{exe,
			"--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
			"--inMemoryPersistence", "--skipApiVersionCheck",
			"--disableTelemetry", "--silent"}
	}
	ready := func(ctx context.Context, port int) error {
		// The poll retries by itself; the SDK's own retries would only slow it.
		noRetry := &azblob.ClientOptions{}
		noRetry.Retry.MaxRetries = -1
		c, err := azblob.NewClientWithSharedKeyCredential(
			"http://"+hostPort(port)+"/"+srv.Account, cred, noRetry)
		if err != nil {
			return err
		}
		// An authenticated call proves the listener and the account work.
		_, err = c.NewListContainersPager(nil).NextPage(ctx)
		return err
	}
	p, port, err := StartServerAt(ctx, "azurite-blob", dir, nil, port, argv, ready)
	if err != nil {
		return nil, err
	}
	srv.Process = p
	srv.Endpoint = "http://" + hostPort(port) + "/" + srv.Account
	if srv.client, err = azblob.NewClientWithSharedKeyCredential(srv.Endpoint, cred, nil); err != nil {
		p.Stop()
		return nil, err
	}
	return srv, nil
}

// Client is a client with the account key, for set-up and checks.
func (a *Azure) Client() *azblob.Client { return a.client }

// CreateContainer creates a private container.
func (a *Azure) CreateContainer(ctx context.Context, name string) error {
	if _, err := a.client.CreateContainer(ctx, name, nil); err != nil {
		return fmt.Errorf("azure: create container %q: %w", name, err)
	}
	return nil
}

// Stop ends Azurite.
func (a *Azure) Stop() { a.Process.Stop() }

// PutObject uploads a block blob with the account key (set-up only).
func (a *Azure) PutObject(ctx context.Context, container, name string, data []byte) error {
	if _, err := a.client.UploadBuffer(ctx, container, name, data, nil); err != nil {
		return fmt.Errorf("azure: put %s/%s: %w", container, name, err)
	}
	return nil
}

// GetObject downloads a blob with the account key (checks only). It
// returns found=false when there is no such blob.
func (a *Azure) GetObject(ctx context.Context, container, name string) (data []byte, found bool, err error) {
	out, err := a.client.DownloadStream(ctx, container, name, nil)
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("azure: get %s/%s: %w", container, name, err)
	}
	defer out.Body.Close()
	data, err = io.ReadAll(out.Body)
	return data, err == nil, err
}
