package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signgate/signgate/server/config"
)

func TestReopen(t *testing.T) {
	t.Run("after logrotate moved the file, records go to a new file and none is lost", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "audit.jsonl")
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "file", Path: path}, prometheus.NewRegistry())
		ctx := context.Background()
		const before, after = 5, 7
		for i := range before {
			if err := p.Record(ctx, record(fmt.Sprintf("before-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		moved := path + ".1"
		if err := os.Rename(path, moved); err != nil {
			t.Fatal(err)
		}
		if err := p.Reopen(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range after {
			if err := p.Record(ctx, record(fmt.Sprintf("after-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		if got := readEvents(t, moved); len(got) != before || got[0].DecisionID != "before-0" {
			t.Errorf("the moved file holds %d records, want the %d written before the reopen", len(got), before)
		}
		if got := readEvents(t, path); len(got) != after || got[0].DecisionID != "after-0" {
			t.Errorf("the new file holds %d records, want the %d written after the reopen", len(got), after)
		}
		if info, err := os.Stat(path); err != nil {
			t.Error(err)
		} else if info.Mode().Perm() != 0o600 {
			t.Errorf("the new file has mode %v, want 0600", info.Mode().Perm())
		}
	})
	t.Run("keeps writing the old file when the path cannot be opened", func(t *testing.T) {
		dir := t.TempDir()
		sub := filepath.Join(dir, "logs")
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(sub, "audit.jsonl")
		p := newPipeline(t, config.Audit{Mode: "strict", Sink: "file", Path: path}, prometheus.NewRegistry())
		ctx := context.Background()
		moved := filepath.Join(dir, "moved")
		if err := os.Rename(sub, moved); err != nil { // the directory is gone
			t.Fatal(err)
		}
		if err := p.Reopen(ctx); err == nil {
			t.Fatal("Reopen succeeded without the directory")
		}
		if err := p.Record(ctx, record("still-stored")); err != nil {
			t.Fatalf("a record after a failed reopen: %v", err)
		}
		if got := readEvents(t, filepath.Join(moved, "audit.jsonl")); len(got) != 1 || got[0].DecisionID != "still-stored" {
			t.Errorf("the old file holds %v, want the record written after the failed reopen", got)
		}
	})
	t.Run("other sinks have nothing to reopen", func(t *testing.T) {
		p := newPipeline(t, config.Audit{Sink: "console"}, prometheus.NewRegistry())
		if err := p.Reopen(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a closed pipeline says so", func(t *testing.T) {
		p := newPipeline(t, config.Audit{Sink: "file", Path: filepath.Join(t.TempDir(), "a.jsonl")}, prometheus.NewRegistry())
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := p.Reopen(context.Background()); err == nil {
			t.Fatal("Reopen of a closed pipeline succeeded")
		}
	})
}
