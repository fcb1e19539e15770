package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestBuildInfoMetric(t *testing.T) {
	mfs, err := newRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	b := readBuild()
	for _, mf := range mfs {
		if mf.GetName() != "signgate_build_info" {
			continue
		}
		if len(mf.GetMetric()) != 1 {
			t.Fatalf("%d series, want 1", len(mf.GetMetric()))
		}
		m := mf.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		want := map[string]string{"version": b.Version, "revision": orUnknown(b.Revision), "goversion": runtime.Version()}
		if len(labels) != len(want) {
			t.Fatalf("labels %v, want %v", labels, want)
		}
		for k, v := range want {
			if labels[k] != v || v == "" {
				t.Fatalf("labels %v, want %v", labels, want)
			}
		}
		if m.GetGauge().GetValue() != 1 {
			t.Fatalf("value %v, want 1", m.GetGauge().GetValue())
		}
		return
	}
	t.Fatal("no signgate_build_info in the registry")
}

// TestBinary builds signgate once, with the version stamped as a release
// build stamps it, and checks the exit statuses of the real process.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "signgate")
	build := exec.Command(goTool, "build", "-ldflags", "-X main.version=v9.9.9-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tests := []struct {
		name       string
		givenArgs  []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"prints the stamped version", []string{"--version"}, 0, "signgate v9.9.9-test\n", ""},
		{"prints help on stdout", []string{"bundle", "verify", "--help"}, 0, "usage: signgate bundle verify", ""},
		{"exits 2 on a usage error", []string{"serve", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{"exits 1 on a failure", []string{"serve", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, 1, "", `"msg":"signgate stopped"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, tt.givenArgs...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d; stderr %q", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) || (tt.wantStdout == "" && stdout.Len() > 0) {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) || (tt.wantStderr == "" && stderr.Len() > 0) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}
