package storage

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// BuildSigngate builds ./cmd/signgate of this repository into dir and
// returns the binary's path, for the tests that run signgate as operators
// do: as its own process.
func BuildSigngate(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "signgate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/signgate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/signgate: %v\n%s", err, out)
	}
	return bin, nil
}
