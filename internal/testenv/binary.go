package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// FreePort is a TCP port that nothing listens on now, on any address. It is taken below the kernel's
// ephemeral range (net.ipv4.ip_local_port_range), not from it: a port the kernel hands out for :0 is
// one it also gives outgoing connections (kubectl's, the API server's), and a server a test starts
// later on it (a pod's httpd) could then find it in use.
func FreePort(t testing.TB) int {
	t.Helper()
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if fields := strings.Fields(string(data)); len(fields) == 2 {
			if n, err := strconv.Atoi(fields[0]); err == nil && n > 11000 {
				low = n
			}
		}
	}
	for range 200 {
		port := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatalf("testenv: no free port below %d after 200 tries", low)
	return 0
}
