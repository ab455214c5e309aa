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
// itself) into a temporary folder, once per test binary, and returns the staticlet binary's path.
func StaticletBinary(t testing.TB) string {
	t.Helper()
	staticletBuild.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			staticletBuild.err = err
			return
		}
		dir, err := os.MkdirTemp("", "staticlet-bin-")
		if err != nil {
			staticletBuild.err = fmt.Errorf("build staticlet: %w", err)
			return
		}
		out, err := exec.Command(goCommand(), "build", "-o", dir+"/", root+"/cmd/staticlet", root+"/cmd/staticlet-logger").CombinedOutput()
		if err != nil {
			staticletBuild.err = fmt.Errorf("build staticlet: %w: %s", err, out)
			return
		}
		staticletBuild.path = filepath.Join(dir, "staticlet")
	})
	if staticletBuild.err != nil {
		t.Fatal(staticletBuild.err)
	}
	return staticletBuild.path
}
