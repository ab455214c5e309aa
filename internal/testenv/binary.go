package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var staticletBuild struct {
	once sync.Once
	path string
	err  error
}

// StaticletBinary builds cmd/staticlet and cmd/staticlet-logger (which `staticlet run` finds beside
// itself), once per test binary, and returns the staticlet binary's path. They go to one folder under
// the OS temp folder shared by every test binary (each builds apart, then renames its files in, so
// test binaries running at once never see a half-written one), so nothing is left behind per run.
func StaticletBinary(t testing.TB) string {
	t.Helper()
	staticletBuild.once.Do(func() {
		staticletBuild.path, staticletBuild.err = buildStaticlet()
	})
	if staticletBuild.err != nil {
		t.Fatal(staticletBuild.err)
	}
	return staticletBuild.path
}

func buildStaticlet() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	shared := filepath.Join(os.TempDir(), "staticlet-test-bin")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		return "", fmt.Errorf("build staticlet: %w", err)
	}
	dir, err := os.MkdirTemp(shared, ".build-")
	if err != nil {
		return "", fmt.Errorf("build staticlet: %w", err)
	}
	defer os.RemoveAll(dir)
	out, err := exec.Command(goCommand(), "build", "-o", dir+"/", root+"/cmd/staticlet", root+"/cmd/staticlet-logger").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build staticlet: %w: %s", err, out)
	}
	for _, name := range []string{"staticlet-logger", "staticlet"} {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(shared, name)); err != nil {
			return "", fmt.Errorf("build staticlet: %w", err)
		}
	}
	return filepath.Join(shared, "staticlet"), nil
}
