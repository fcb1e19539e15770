package storage

import (
	"debug/buildinfo"
	"testing"
)

func TestBuildSigngateBuildsTheShippedBinary(t *testing.T) {
	bin, err := BuildSigngate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	// What deploy/build.sh passes, and so the image, CI and the harness.
	for key, want := range map[string]string{
		"-tags":       "disable_grpc_modules",
		"CGO_ENABLED": "0",
		"-trimpath":   "true",
	} {
		if got[key] != want {
			t.Errorf("build setting %s = %q, want %q (settings %v)", key, got[key], want, info.Settings)
		}
	}
	if info.Path != "github.com/signgate/signgate/cmd/signgate" {
		t.Errorf("built %s, want ./cmd/signgate", info.Path)
	}
}
