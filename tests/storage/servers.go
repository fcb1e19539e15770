package storage

import (
	"context"
	"errors"
	"sync"
)

// Servers is one test run's set of storage servers. A server that could
// not start has a nil field and its error in the matching Err field.
type Servers struct {
	S3       *S3
	S3Err    error
	Azure    *Azure
	AzureErr error
	GCS      *GCS
	GCSErr   error
}

// Config says what credentials the servers accept.
type Config struct {
	Dir            string // scratch space, removed by the caller
	S3AccessKey    string
	S3SecretKey    string
	ServiceAccount *ServiceAccount // whose public key the GCS proxy trusts
}

// StartAll starts the three servers side by side. It never fails as a
// whole: a test decides per provider whether to skip or fail.
func StartAll(ctx context.Context, cfg Config) *Servers {
	var s Servers
	var wg sync.WaitGroup
	wg.Go(func() { s.S3, s.S3Err = StartS3(ctx, cfg.Dir, cfg.S3AccessKey, cfg.S3SecretKey) })
	wg.Go(func() { s.Azure, s.AzureErr = StartAzure(ctx, cfg.Dir) })
	wg.Go(func() { s.GCS, s.GCSErr = StartGCS(ctx, cfg.ServiceAccount) })
	wg.Wait()
	return &s
}

// Stop ends every server that started.
func (s *Servers) Stop() {
	var wg sync.WaitGroup
	if s.S3 != nil {
		wg.Go(s.S3.Stop)
	}
	if s.Azure != nil {
		wg.Go(s.Azure.Stop)
	}
	if s.GCS != nil {
		wg.Go(s.GCS.Stop)
	}
	wg.Wait()
}

// IsNotInstalled reports whether err means a server binary is missing.
func IsNotInstalled(err error) bool { return errors.Is(err, ErrNotInstalled) }
