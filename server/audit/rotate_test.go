package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRotatingFile(t *testing.T) {
	tests := []struct {
		name        string
		givenWrites int
		givenMax    int64
		givenKeep   int
		givenMaxAge time.Duration // the clock moves 1ms each time it is read
		wantFiles   int           // the live file and the backups kept
		wantPruned  uint64
	}{
		{name: "keeps writing one file under the size limit", givenWrites: 4, givenMax: 100, givenKeep: 2, wantFiles: 1},
		{name: "rotates before a write would pass the limit", givenWrites: 4, givenMax: 25, givenKeep: 5, wantFiles: 2},
		{name: "keeps only max_backups rotated files", givenWrites: 10, givenMax: 10, givenKeep: 2, wantFiles: 3, wantPruned: 7},
		{name: "keeps every rotated file with max_backups -1", givenWrites: 6, givenMax: 10, givenKeep: -1, wantFiles: 6},
		{name: "keeps every rotated file by default", givenWrites: 12, givenMax: 10, givenKeep: 0, wantFiles: 12},
		{name: "removes rotated files older than max_age", givenWrites: 10, givenMax: 10, givenMaxAge: 3*time.Millisecond + time.Microsecond, wantFiles: 3, wantPruned: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.jsonl")
			at := testNow
			clock := func() time.Time { at = at.Add(time.Millisecond); return at }
			f, err := openRotating(path, tt.givenMax, tt.givenKeep, tt.givenMaxAge, clock)
			if err != nil {
				t.Fatal(err)
			}
			var all []byte
			for range tt.givenWrites {
				line := []byte(`{"n":1234}` + "\n") // 11 bytes
				if _, err := f.Write(line); err != nil {
					t.Fatal(err)
				}
				all = append(all, line...)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != tt.wantFiles {
				t.Fatalf("%d files, want %d: %v", len(entries), tt.wantFiles, entries)
			}
			var got []byte
			for _, e := range entries { // backups first, oldest first; the live file last
				if e.Name() == "audit.jsonl" {
					continue
				}
				if !strings.HasPrefix(e.Name(), "audit.jsonl.") {
					t.Errorf("unexpected file %s", e.Name())
				}
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				got = append(got, b...)
			}
			live, _ := os.ReadFile(path)
			got = append(got, live...)
			if pruned := f.prunedAge.Load() + f.prunedCount.Load(); pruned != tt.wantPruned {
				t.Errorf("%d files pruned, want %d", pruned, tt.wantPruned)
			}
			if tt.givenKeep <= 0 && tt.givenMaxAge == 0 && !bytes.Equal(got, all) {
				t.Errorf("files hold %q, want every line in order %q", got, all)
			}
			if !bytes.HasSuffix(all, got) {
				t.Errorf("files hold %q, want the newest lines of %q", got, all)
			}
			if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", info.Mode().Perm())
			}
		})
	}
}

func TestRotatingFileAppendsToAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openRotating(path, 1<<20, 1, 0, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("new\n")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, _ := os.ReadFile(path); string(b) != "old\nnew\n" {
		t.Fatalf("file = %q", b)
	}
}

func TestRotatingFileRefusesAnUnopenablePath(t *testing.T) {
	if _, err := openRotating(filepath.Join(t.TempDir(), "no", "such", "dir", "a.jsonl"), 0, 0, 0, time.Now); err == nil {
		t.Fatal("opened a file in a directory that does not exist")
	}
}
