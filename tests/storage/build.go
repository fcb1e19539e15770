package storage

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// BuildSigngate builds ./cmd/signgate of this repository into dir and
// returns the binary's path, for the tests that run signgate as operators
// do: as its own process. It builds with deploy/build.sh, as the image,
// CI and the benchmark harness do, so that the tests run the binary that
// ships (static, with the disable_grpc_modules build tag).
func BuildSigngate(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "signgate")
	build := exec.Command("sh", filepath.Join("deploy", "build.sh"), bin)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("deploy/build.sh: %v\n%s", err, out)
	}
	return bin, nil
}
