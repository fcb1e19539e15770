package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// rotatingFile appends to one file and rotates it by size, keeping a number
// of old files. It is our own rather than lumberjack because strict mode
// needs what lumberjack does not expose: fsync of the file that was written,
// of the directory after a rotation, and a write that is undone when it
// fails half-way (so that a full disk never leaves half a record behind).
// It is used by one goroutine at a time.
type rotatingFile struct {
	path       string
	maxBytes   int64         // rotate before a write would pass this; 0: never
	maxBackups int           // rotated files kept; 0 or less: all
	maxAge     time.Duration // rotated files older than this go; 0: none
	now        func() time.Time

	// What prune removed, by reason; read by the metrics collector.
	prunedCount, prunedAge atomic.Uint64

	f    *os.File
	size int64
}

func openRotating(path string, maxBytes int64, maxBackups int, maxAge time.Duration, now func() time.Time) (*rotatingFile, error) {
	r := &rotatingFile{path: path, maxBytes: maxBytes, maxBackups: maxBackups, maxAge: maxAge, now: now}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", r.path, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: stat %s: %w", r.path, err)
	}
	r.f, r.size = f, info.Size()
	// The file may be new: make its directory entry durable too.
	return syncDir(filepath.Dir(r.path))
}

// Write appends p whole, or not at all: on a short or failed write the file
// is cut back to where it was.
func (r *rotatingFile) Write(p []byte) (int, error) {
	if r.f == nil {
		return 0, errors.New("audit: file is closed")
	}
	if r.maxBytes > 0 && r.size > 0 && r.size+int64(len(p)) > r.maxBytes {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	if err != nil {
		_ = r.f.Truncate(r.size) // best effort; /dev/full cannot be cut
		return 0, fmt.Errorf("audit: write %s: %w", r.path, err)
	}
	r.size += int64(n)
	return n, nil
}

// Sync makes what was written durable.
func (r *rotatingFile) Sync() error {
	if r.f == nil {
		return errors.New("audit: file is closed")
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("audit: fsync %s: %w", r.path, err)
	}
	return nil
}

func (r *rotatingFile) Close() error {
	if r.f == nil {
		return nil
	}
	err := errors.Join(r.Sync(), r.f.Close())
	r.f = nil
	return err
}

// rotate moves the full file aside as PATH.<UTC time> and starts a new one.
// The old file is synced before, and the directory after, so that a record
// that was acknowledged stays on disk under one name or the other.
func (r *rotatingFile) rotate() error {
	if err := r.Sync(); err != nil {
		return err
	}
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("audit: close %s: %w", r.path, err)
	}
	r.f = nil
	backup := r.path + "." + r.now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(r.path, backup); err != nil {
		// Keep appending to the same file rather than stop.
		if oerr := r.open(); oerr != nil {
			return errors.Join(err, oerr)
		}
		return fmt.Errorf("audit: rotate %s: %w", r.path, err)
	}
	if err := r.open(); err != nil {
		return err
	}
	r.prune()
	return nil
}

// prune removes rotated files older than maxAge, then the oldest beyond
// maxBackups; by default neither is set and it removes nothing. The
// timestamp suffix sorts in time order.
func (r *rotatingFile) prune() {
	if r.maxBackups <= 0 && r.maxAge <= 0 {
		return
	}
	matches, err := filepath.Glob(globEscape(r.path) + ".*")
	if err != nil {
		return
	}
	var backups []string
	now := r.now()
	for _, m := range matches {
		at, ok := backupTime(strings.TrimPrefix(m, r.path+"."))
		switch {
		case !ok:
		case r.maxAge > 0 && now.Sub(at) > r.maxAge:
			if os.Remove(m) == nil {
				r.prunedAge.Add(1)
			}
		default:
			backups = append(backups, m)
		}
	}
	if r.maxBackups <= 0 {
		return
	}
	slices.Sort(backups)
	for len(backups) > r.maxBackups {
		if os.Remove(backups[0]) == nil {
			r.prunedCount.Add(1)
		}
		backups = backups[1:]
	}
}

// backupTime is when a rotated file was moved aside, from its suffix.
func backupTime(s string) (time.Time, bool) {
	t, err := time.Parse("20060102T150405.000000000Z", s)
	return t, err == nil
}

func globEscape(p string) string {
	var b strings.Builder
	for _, c := range p {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// syncDir fsyncs a directory, so that a file created or renamed in it
// survives a crash. Some file systems cannot sync a directory; that is not
// an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("audit: fsync directory %s: %w", dir, err)
	}
	return nil
}
