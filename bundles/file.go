package bundles

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/download"
)

// fileLoader reads a bundle archive from a file:// resource with OPA's
// bundle reader, as OPA's own bundle plugin does, and reads it again when
// its content changes, looked at every polling interval. A file whose
// bytes did not change is not read again, so a refused archive is refused
// once, like a refused download with its ETag.
type fileLoader struct {
	path      string
	every     time.Duration
	vc        *bundle.VerificationConfig
	sizeLimit int64
	opts      ast.ParserOptions
	f         func(context.Context, download.Update) error

	last [sha256.Size]byte // the content last read
	stop chan struct{}
	done chan struct{}
}

func newFileLoader(path string, every time.Duration, vc *bundle.VerificationConfig, sizeLimit int64,
	opts ast.ParserOptions, f func(context.Context, download.Update) error) (*fileLoader, error) {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return nil, fmt.Errorf("bundles: file://%s is a directory; use policy.source: directory, which watches it", path)
	}
	if sizeLimit <= 0 {
		sizeLimit = bundle.DefaultSizeLimitBytes
	}
	return &fileLoader{path: path, every: every, vc: vc, sizeLimit: sizeLimit, opts: opts, f: f,
		stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start reads the file now, then every interval until Stop.
func (l *fileLoader) Start(ctx context.Context) {
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.every)
		defer t.Stop()
		for {
			l.oneShot(ctx)
			select {
			case <-ctx.Done():
				return
			case <-l.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends the polling and waits for a read in progress.
func (l *fileLoader) Stop(ctx context.Context) {
	close(l.stop)
	select {
	case <-l.done:
	case <-ctx.Done():
	}
}

func (l *fileLoader) oneShot(ctx context.Context) {
	raw, err := l.read()
	if err != nil {
		_ = l.f(ctx, download.Update{Error: err})
		return
	}
	sum := sha256.Sum256(raw)
	if sum == l.last {
		_ = l.f(ctx, download.Update{}) // nothing new
		return
	}
	l.last = sum
	b, err := bundle.NewReader(bytes.NewReader(raw)).
		WithBundleVerificationConfig(l.vc).
		WithSizeLimitBytes(l.sizeLimit).
		WithRegoVersion(l.opts.RegoVersion).
		WithProcessAnnotations(l.opts.ProcessAnnotation).
		WithBundleEtag(hex.EncodeToString(sum[:])).
		Read()
	if err != nil {
		_ = l.f(ctx, download.Update{Error: err})
		return
	}
	_ = l.f(ctx, download.Update{Bundle: &b, ETag: hex.EncodeToString(sum[:])})
}

// read returns the file's bytes, refusing one larger than the size limit.
func (l *fileLoader) read() ([]byte, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, l.sizeLimit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > l.sizeLimit {
		return nil, fmt.Errorf("bundle file %s exceeds the size limit of %d bytes", l.path, l.sizeLimit)
	}
	return raw, nil
}
