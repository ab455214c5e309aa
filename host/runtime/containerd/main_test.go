package containerd_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/staticlet/staticlet/host/podlogs"
	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/internal/testenv"
)

// TestMain doubles as the shim's logging binary: the runtime under test
// names this test executable as LoggerBinary, and the shim runs it as
// `<binary> shim-logger FILE`.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == podlogs.ShimLoggerCommand {
		if err := podlogs.RunShimLogger(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testenv.Main(m)
}

var nsCounter atomic.Uint64

// testBackoff keeps crash loops short in tests: restart 1 at once, then
// 1 s, 2 s, 2 s...
var testBackoff = containerd.Backoff{Base: time.Second, Max: 2 * time.Second, Reset: 30 * time.Second}

// env is a containerd with the busybox image in a namespace of its own.
type env struct {
	address, namespace, image string
}

func newEnv(t testing.TB) env {
	t.Helper()
	address := testenv.Containerd(t)
	// runc keys state by namespace and container ID across daemons: a
	// namespace unique to this process keeps parallel test binaries apart.
	ns := fmt.Sprintf("stl-test-%d-%d", os.Getpid(), nsCounter.Add(1))
	image := testenv.ImportBusybox(t, address, ns)
	return env{address: address, namespace: ns, image: image}
}

// options returns runtime options on fresh folders of t.
func (e env) options(t testing.TB) containerd.Options {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return containerd.Options{
		Address: e.address, Namespace: e.namespace,
		StateDir: t.TempDir(), PodLogDir: t.TempDir(), NodeName: "node1",
		LoggerBinary: self, CrashBackoff: testBackoff, ImageBackoff: testBackoff,
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}}),
	}
}

// newRuntime returns a runtime that stops every pod it holds when t ends.
func newRuntime(t testing.TB, opts containerd.Options) *containerd.Runtime {
	t.Helper()
	rt, err := containerd.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopAll(t, rt) })
	return rt
}

func stopAll(t testing.TB, rt *containerd.Runtime) {
	ctx := t.Context()
	if ctx.Err() != nil {
		ctx = contextWithTimeout(30 * time.Second)
	}
	pods, err := rt.ListPods(ctx)
	if err != nil {
		t.Logf("cleanup: list pods: %v", err)
	}
	for _, p := range pods {
		if err := rt.StopPod(ctx, p.UID, 0); err != nil {
			t.Errorf("cleanup: stop %s: %v", p.Key, err)
		}
	}
	rt.Close()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
