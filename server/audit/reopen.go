package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Reopen makes the file sink open audit.path anew, for logrotate: once the
// file has been moved aside, the records that follow go to a new file at
// the configured path. The worker reopens between two group commits, so
// every record is in the old file or the new one, never lost or split.
// When the path cannot be opened, the sink keeps writing the file it had
// and Reopen says why. Other sinks have nothing to reopen.
func (p *Pipeline) Reopen(ctx context.Context) error {
	if p.file == nil {
		return nil
	}
	done := make(chan error, 1)
	select {
	case p.reopen <- done:
	case <-p.exited:
		return errors.New("audit: reopen: the pipeline is closed")
	case <-ctx.Done():
		return fmt.Errorf("audit: reopen: %w", ctx.Err())
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: reopen: %w", ctx.Err())
	}
}

// reopen opens r.path before it lets go of the file it has, so that a
// failure leaves the sink writing where it was.
func (r *rotatingFile) reopen() error {
	if r.f == nil {
		return errors.New("audit: file is closed")
	}
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("audit: reopen %s: %w", r.path, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: reopen %s: %w", r.path, err)
	}
	// What went to the old file is made durable before it is let go.
	serr := r.f.Sync()
	_ = r.f.Close()
	r.f, r.size = f, info.Size()
	return errors.Join(serr, syncDir(filepath.Dir(r.path)))
}
