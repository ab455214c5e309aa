package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
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

// RunStaticlet runs `staticlet run --config configPath` (the binary of StaticletBinary) until the test
// ends: then it sends SIGTERM and waits for the exit, and logs what the agent printed when the test
// failed. The channel is closed when the binary exits. Cleanups registered after this call run before
// the agent is stopped (Go runs them last first), so a test can remove its pods while the agent lives.
func RunStaticlet(t testing.TB, configPath string) <-chan struct{} {
	t.Helper()
	cmd := exec.Command(StaticletBinary(t), "run", "--config", configPath)
	var logs SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		if t.Failed() {
			t.Logf("staticlet's log:\n%s", logs.String())
		}
	})
	return exited
}

// FreePort is a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
