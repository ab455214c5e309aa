package containerd_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/statusapi"
	"github.com/staticlet/staticlet/internal/testenv"
)

// buildStaticlet returns the staticlet binary, built once per test binary.
func buildStaticlet(t testing.TB) string { return testenv.StaticletBinary(t) }

// agentProcess is `staticlet run` as a subprocess.
type agentProcess struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

func startAgentProcessTB(tb testing.TB, bin string, opts containerd.Options, manifests, socket string) *exec.Cmd {
	cmd := agentCommand(bin, opts, manifests, socket)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

func agentCommand(bin string, opts containerd.Options, manifests, socket string) *exec.Cmd {
	return exec.Command(bin, "run", "--pod-manifest-path", manifests, "--node-name", "node1",
		"--containerd-address", opts.Address, "--containerd-namespace", opts.Namespace,
		"--state-dir", opts.StateDir, "--pod-log-dir", opts.PodLogDir, "--status-socket", socket)
}

func startAgentProcess(t *testing.T, bin string, opts containerd.Options, manifests, socket string) *agentProcess {
	t.Helper()
	cmd := agentCommand(bin, opts, manifests, socket)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProcess{cmd: cmd, stderr: &stderr}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("agent output:\n%s", stderr.String())
		}
	})
	return p
}

func fetchStatus(t testing.TB, socket string) func() statusapi.Status {
	return func() statusapi.Status {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := statusapi.Fetch(ctx, socket)
		if err != nil {
			return statusapi.Status{}
		}
		return st
	}
}

// binarySetup builds the binary and gives runtime options on a fresh
// namespace; every pod left there is stopped when the test ends.
func binarySetup(t *testing.T) (string, env, containerd.Options) {
	t.Helper()
	bin := buildStaticlet(t)
	e := newEnv(t)
	opts := e.options(t)
	t.Cleanup(func() {
		if rt, err := containerd.New(opts); err == nil {
			stopAll(t, rt)
		}
	})
	return bin, e, opts
}

// TestAgentKilledAndRestarted runs the staticlet binary, kills it with
// SIGKILL while its pod runs and while another starts, and starts it again:
// the running container is adopted (same container, no restart, no
// duplicate), the interrupted start completes, and the new agent manages
// both (a removal stops the pod).
func TestAgentKilledAndRestarted(t *testing.T) {
	bin, e, opts := binarySetup(t)
	manifests := t.TempDir()
	socket := filepath.Join(t.TempDir(), "status.sock")

	writeManifest(t, manifests, "web.yaml", manifest("web", e.image, "echo up; "+longRunning, "Always", 1))
	first := startAgentProcess(t, bin, opts, manifests, socket)
	st := waitStatus(t, 30*time.Second, fetchStatus(t, socket), func(st statusapi.Status) bool {
		p, n := findPod(st, "web-node1")
		return n == 1 && podRunning(p)
	})
	before, _ := findPod(st, "web-node1")
	// A second pod lands just before the kill: its start may be cut anywhere.
	writeManifest(t, manifests, "late.yaml", manifest("late", e.image, longRunning, "Always", 1))
	time.Sleep(40 * time.Millisecond)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.cmd.Wait()

	startAgentProcess(t, bin, opts, manifests, socket)
	st = waitStatus(t, 30*time.Second, fetchStatus(t, socket), func(st statusapi.Status) bool {
		web, n := findPod(st, "web-node1")
		late, m := findPod(st, "late-node1")
		return st.Synced && n == 1 && m == 1 && podRunning(web) && podRunning(late)
	})
	after, _ := findPod(st, "web-node1")
	if after.UID != before.UID || after.Restarts != 0 {
		t.Errorf("web after the agent restart: uid %s restarts %d, want uid %s with 0 restarts", after.UID, after.Restarts, before.UID)
	}
	for _, name := range []string{"web-node1", "late-node1"} {
		if n := containersOf(t, opts, name); n != 1 {
			t.Errorf("%d containers for %s, want 1", n, name)
		}
	}
	if got := logOf(opts, after, 0); got != "up\n" {
		t.Errorf("web's log after the restart = %q, want one start only", got)
	}
	os.Remove(filepath.Join(manifests, "web.yaml"))
	waitStatus(t, 30*time.Second, fetchStatus(t, socket), func(st statusapi.Status) bool {
		_, n := findPod(st, "web-node1")
		return st.Synced && n == 0
	})
	if n := containersOf(t, opts, "web-node1"); n != 0 {
		t.Errorf("%d containers for web-node1 after its removal, want 0", n)
	}
}
