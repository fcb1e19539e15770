package bundles

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/signgate/signgate/authz"
)

// DirWatcher keeps an engine on the bundle in a directory: every change,
// once the files have been quiet for the debounce interval, is read,
// verified when verification is configured, compiled and probed, and only
// then swapped in. A change that fails any step leaves the active revision
// in place and is reported.
type DirWatcher struct {
	e      *authz.Engine
	dir    string
	source string
	cfg    loadConfig
	w      *fsnotify.Watcher
	stop   chan struct{}
	done   chan struct{}
}

// WatchDir activates the bundle in dir, then watches dir (and its
// subdirectories) until Close. It returns the first load's error, so that a
// bad directory fails start-up; nothing is then watched.
func WatchDir(ctx context.Context, e *authz.Engine, dir string, opts ...LoadOption) (*DirWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("bundles: watch %s: %w", dir, err)
	}
	dw := &DirWatcher{
		e: e, dir: dir, source: "directory:" + dir, cfg: newLoadConfig(opts), w: w,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	// Watch before the first load, so that no change slips in between.
	if err := dw.addTree(dir); err != nil {
		w.Close()
		return nil, err
	}
	if err := dw.reload(ctx); err != nil {
		w.Close()
		return nil, err
	}
	go dw.run(ctx)
	return dw, nil
}

// Close stops watching (so does the end of WatchDir's context) and waits for a reload in progress to finish.
func (dw *DirWatcher) Close() error {
	select {
	case <-dw.stop:
	default:
		close(dw.stop)
	}
	<-dw.done
	return dw.w.Close()
}

// Reload reads the directory now, as a change would. A change is picked up
// on its own; this is for callers that know better, such as a SIGHUP.
func (dw *DirWatcher) Reload(ctx context.Context) error { return dw.reload(ctx) }

func (dw *DirWatcher) reload(ctx context.Context) error {
	b, stage, err := loadDir(dw.dir, dw.cfg)
	if err != nil {
		dw.e.Refuse(dw.source, stage, err)
		return err
	}
	return dw.e.ActivateSigned(ctx, b, dw.source, authz.SigningKeyID(b, dw.cfg.verify))
}

func (dw *DirWatcher) run(ctx context.Context) {
	defer close(dw.done)
	reloadCtx := context.WithoutCancel(ctx) // a reload under way finishes whole
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-dw.stop:
			return
		case <-ctx.Done():
			return
		case ev, ok := <-dw.w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					_ = dw.addTree(ev.Name) // its files are read on reload anyway
				}
			}
			timer.Reset(dw.cfg.debounce)
		case err, ok := <-dw.w.Errors:
			if !ok {
				return
			}
			// A lost event (queue overflow) may hide a change: reload to be sure.
			dw.e.Logger().Warn("policy directory watch error", "dir", dw.dir, "err", err)
			timer.Reset(dw.cfg.debounce)
		case <-timer.C:
			_ = dw.reload(reloadCtx) // reported through the engine
		}
	}
}

// addTree watches root and every directory below it that a load reads.
func (dw *DirWatcher) addTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != root {
				return nil // removed while we walked
			}
			return fmt.Errorf("bundles: watch %s: %w", path, err)
		}
		if !d.IsDir() {
			return nil
		}
		if path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if err := dw.w.Add(path); err != nil {
			return fmt.Errorf("bundles: watch %s: %w", path, err)
		}
		return nil
	})
}

// WithDebounce sets how long a watched directory must stay quiet before a
// change is loaded (default 250ms), so that a copy of several files is
// loaded once, whole.
func WithDebounce(d time.Duration) LoadOption {
	return func(c *loadConfig) {
		if d > 0 {
			c.debounce = d
		}
	}
}
