package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// EnvAddress names a running containerd's socket to use instead of starting a private one.
	EnvAddress = "STATICLET_TEST_CONTAINERD_ADDRESS"
	// EnvSnapshotter names the snapshotter to use with the containerd of EnvAddress; empty means the
	// namespace's default, or the client's (overlayfs).
	EnvSnapshotter = "STATICLET_TEST_CONTAINERD_SNAPSHOTTER"
	// EnvRequireIntegration set to 1 turns every skip for a missing containerd into a failure.
	EnvRequireIntegration = "STATICLET_REQUIRE_INTEGRATION"

	modulePath = "github.com/staticlet/staticlet"
	scriptPath = "hack/containerd/containerd.sh"
	// startTimeout bounds the script's start, which may have to apt-get install packages first.
	startTimeout = 10 * time.Minute
)

// ErrUnavailable is wrapped by every reason containerd could not be had.
var ErrUnavailable = errors.New("containerd unavailable")

// daemon is the private containerd of this test binary.
type daemon struct {
	once        sync.Once
	script      string
	stateDir    string
	address     string
	snapshotter string
	err         error
	// started is set once start has returned, so address and snapshotter can be read without once.
	started atomic.Bool
}

var (
	mainCalled atomic.Bool
	private    daemon
)

// Main runs the package's tests, then stops the private containerd if a test started one. Call it from
// TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if err := private.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Containerd returns the gRPC socket address of a containerd for t: $STATICLET_TEST_CONTAINERD_ADDRESS,
// or else this test binary's private one, started on first use.
func Containerd(t testing.TB) string {
	t.Helper()
	// -short is an explicit request, so it skips even when STATICLET_REQUIRE_INTEGRATION=1.
	if testing.Short() {
		t.Skip("testenv: skipping: -short skips tests that need containerd")
	}
	if address := os.Getenv(EnvAddress); address != "" {
		return address
	}
	if !mainCalled.Load() {
		t.Fatal("testenv.Containerd: the package's TestMain must call testenv.Main(m), which stops containerd after the tests")
	}
	private.once.Do(private.start)
	if private.err != nil {
		unavailable(t, private.err)
	}
	return private.address
}

// Snapshotter returns the snapshotter images are unpacked for on the containerd at address, or "" for
// the client's default.
func Snapshotter(address string) string {
	if private.started.Load() && address == private.address && private.snapshotter != "" {
		return private.snapshotter
	}
	return os.Getenv(EnvSnapshotter)
}

// RequireIntegration reports whether STATICLET_REQUIRE_INTEGRATION=1 forbids skipping integration tests.
func RequireIntegration() bool {
	return os.Getenv(EnvRequireIntegration) == "1"
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if RequireIntegration() {
		t.Fatalf("testenv: %s=1 but %v", EnvRequireIntegration, err)
	}
	t.Skipf("testenv: skipping: %v (set %s=1 to fail instead)", err, EnvRequireIntegration)
}

func (d *daemon) start() {
	defer d.started.Store(true)
	if uid := os.Geteuid(); uid != 0 {
		d.err = fmt.Errorf("%w: containerd needs root, running as uid %d", ErrUnavailable, uid)
		return
	}
	root, err := RepoRoot()
	if err != nil {
		d.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return
	}
	d.script = filepath.Join(root, scriptPath)
	// A short path: the socket's must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "staticlet-containerd-")
	if err != nil {
		d.err = fmt.Errorf("%w: create state dir: %w", ErrUnavailable, err)
		return
	}
	d.stateDir = dir
	// The script's watcher purges the state dir if this binary dies without calling stop.
	if _, err := d.run("start", "CONTAINERD_SH_OWNER_PID="+strconv.Itoa(os.Getpid())); err != nil {
		d.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return
	}
	out, err := d.run("env")
	if err != nil {
		d.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return
	}
	env := ParseEnv(out)
	d.address, d.snapshotter = env["CONTAINERD_ADDRESS"], env["CONTAINERD_SNAPSHOTTER"]
	if d.address == "" {
		d.err = fmt.Errorf("%w: %s env %s printed no CONTAINERD_ADDRESS: %q", ErrUnavailable, d.script, d.stateDir, out)
	}
}

// stop purges the private containerd and its state dir; it does nothing if none was started.
func (d *daemon) stop() error {
	if d.stateDir == "" {
		return nil
	}
	if _, err := d.run("purge"); err != nil {
		return fmt.Errorf("stop containerd: %w", err)
	}
	return nil
}

// run runs the harness script's command on the state dir.
func (d *daemon) run(command string, env ...string) ([]byte, error) {
	return RunScript(startTimeout, d.script, command, d.stateDir, env...)
}
