package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signgate/signgate/tests/storage"
)

// TestClientExamples runs the Python and JavaScript examples of
// docs/clients.md, as they are, against every provider.
func TestClientExamples(t *testing.T) {
	root, err := storage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	langs := []struct{ name, interpreter, script string }{
		{"python", "python3", filepath.Join(root, "examples", "python", "signgate_example.py")},
		{"javascript", "node", filepath.Join(root, "examples", "js", "signgate_example.mjs")},
	}
	for _, lang := range langs {
		for _, cp := range clientProviders {
			t.Run(lang.name+"/"+cp.provider, func(t *testing.T) {
				needServer(t, serverErrOf(cp.provider))
				bin, err := exec.LookPath(lang.interpreter)
				if err != nil {
					storage.SkipOrFail(t, "SKIPPED: no "+lang.interpreter+" on PATH")
				}
				t.Parallel()
				file := filepath.Join(t.TempDir(), "data.bin")
				if err := os.WriteFile(file, randomData(t, 11<<20+99), 0o644); err != nil {
					t.Fatal(err)
				}
				cmd := exec.CommandContext(t.Context(), bin, lang.script, cp.team, object("example.bin"), file)
				cmd.Env = cliEnv("alice")
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.HasPrefix(string(out), "ok: ") {
					t.Fatalf("%s %s: %v\n%s", lang.interpreter, filepath.Base(lang.script), err, out)
				}
				t.Logf("%s", strings.TrimSpace(string(out)))
			})
		}
	}
}
