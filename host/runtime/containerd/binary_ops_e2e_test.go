package containerd_test

import (
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/statusapi"
	"github.com/staticlet/staticlet/internal/testenv"
)

// TestSecondAgentRefused: a second `staticlet run` on the state dir of a
// running one exits at once, naming the first one's PID; the first keeps
// serving.
func TestSecondAgentRefused(t *testing.T) {
	bin, _, opts := binarySetup(t)
	manifests := t.TempDir()
	socket := filepath.Join(t.TempDir(), "status.sock")
	first := startAgentProcess(t, bin, opts, manifests, socket)
	waitStatus(t, 30*time.Second, fetchStatus(t, socket), func(st statusapi.Status) bool { return st.Synced })

	second := agentCommand(bin, opts, manifests, filepath.Join(t.TempDir(), "second.sock"))
	second.Args = append(second.Args, "--metrics-address", "off")
	var out testenv.SyncBuffer
	second.Stdout, second.Stderr = &out, &out
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- second.Wait() }()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		second.Process.Kill()
		<-exited
		t.Fatalf("the second agent did not exit:\n%s", out.String())
	}
	if code := second.ProcessState.ExitCode(); code != 2 {
		t.Errorf("second agent exit %d, want 2:\n%s", code, out.String())
	}
	if want := fmt.Sprintf("another staticlet agent holds the state dir (pid %d)", first.cmd.Process.Pid); !strings.Contains(out.String(), want) {
		t.Errorf("second agent's output lacks %q:\n%s", want, out.String())
	}
	if data, err := os.ReadFile(filepath.Join(opts.StateDir, "lock")); err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(first.cmd.Process.Pid) {
		t.Errorf("lock file %q (%v), want the first agent's pid", data, err)
	}
	if st := fetchStatus(t, socket)(); !st.Synced {
		t.Error("the first agent stopped serving")
	}
}

// TestAgentReloadHTTPCheckFrequency: SIGHUP with a changed
// httpCheckFrequency applies it (the URL is fetched on the new interval)
// and names a changed restart-only setting (clusterDomain) in a warning.
func TestAgentReloadHTTPCheckFrequency(t *testing.T) {
	bin, _, opts := binarySetup(t)
	var fetches atomic.Int64
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fetches.Add(1)
		fmt.Fprint(w, `{"apiVersion":"v1","kind":"PodList","items":[]}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	kubeletConfig := filepath.Join(dir, "kubelet.yaml")
	writeConfig := func(frequency, domain string) {
		t.Helper()
		doc := "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodURL: " + srv.URL +
			"\nhttpCheckFrequency: " + frequency + "\nclusterDomain: " + domain + "\n"
		if err := os.WriteFile(kubeletConfig, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("1h", "cluster.local")
	socket := filepath.Join(t.TempDir(), "status.sock")
	cmd := agentCommand(bin, opts, t.TempDir(), socket)
	cmd.Args = append(cmd.Args, "--kubelet-config", kubeletConfig, "--metrics-address", "off")
	var logs testenv.SyncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("agent output:\n%s", logs.String())
		}
	})
	waitStatus(t, 30*time.Second, fetchStatus(t, socket), func(st statusapi.Status) bool { return st.Synced })
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches at start with a 1h interval, want 1", n)
	}

	writeConfig("100ms", "example.org")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, 20*time.Second, fetchStatus(t, socket), func(statusapi.Status) bool {
		return strings.Contains(logs.String(), "SIGHUP: configuration reloaded") && fetches.Load() >= 3
	})
	out := logs.String()
	if !strings.Contains(out, "SIGHUP: setting applied: setting=httpCheckFrequency") {
		t.Errorf("no log that httpCheckFrequency was applied:\n%s", out)
	}
	if !strings.Contains(out, "only changes on restart; keeping the running value: setting=clusterDomain") {
		t.Errorf("no warning that clusterDomain needs a restart:\n%s", out)
	}
}
