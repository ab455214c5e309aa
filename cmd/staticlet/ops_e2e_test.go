package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/staticlet/staticlet/host/statusapi"
	"github.com/staticlet/staticlet/internal/testenv"
)

// buildBinaries returns the staticlet binary, built once per test binary (testenv.StaticletBinary).
func buildBinaries(t *testing.T) string { return testenv.StaticletBinary(t) }

// startAgent starts the built binary with args, its stderr captured, and
// kills it at the end of the test if it is still running.
func startAgent(t *testing.T, bin string, args ...string) (*exec.Cmd, *testenv.SyncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &stderr
}

// dryRunAgent is what a `staticlet run --dry-run` in a test folder uses: a manifest folder, a status
// socket, a metrics address and the configuration file naming them.
type dryRunAgent struct{ manifests, socket, metrics, config string }

// newDryRunAgent writes the configuration into dir: node n1, the folder, socket and address above, then
// configTail (YAML, e.g. a plugins: list).
func newDryRunAgent(t *testing.T, dir, configTail string) dryRunAgent {
	t.Helper()
	a := dryRunAgent{manifests: filepath.Join(dir, "manifests"), socket: filepath.Join(dir, "status.sock"),
		metrics: freeAddress(t), config: filepath.Join(dir, "staticlet.yaml")}
	if err := os.MkdirAll(a.manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	header := fmt.Sprintf("apiVersion: staticlet.dev/v1alpha1\nkind: StaticletConfiguration\nnodeName: n1\n"+
		"podManifestPath: %s\nstatusSocket: %s\nstateDir: %s\nmetricsAddress: %s\n",
		a.manifests, a.socket, filepath.Join(dir, "state"), a.metrics)
	if err := os.WriteFile(a.config, []byte(header+configTail), 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

func freeAddress(t *testing.T) string { return freeAddressAny(t) }

func freeAddressAny(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metricValue returns a gauge or counter from a /metrics body.
func metricValue(t *testing.T, body, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range fam.Metric {
		for _, lp := range m.Label {
			if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestOperations runs the built binary on the real containerd: health and
// readiness, metrics, SIGHUP with a bad and a good configuration, SIGTERM
// leaving the pod running, and a restarted agent adopting it.
func TestOperations(t *testing.T) {
	address := testenv.Containerd(t)
	ns := fmt.Sprintf("stl-ops-%d", os.Getpid())
	image := testenv.ImportBusybox(t, address, ns)
	bin := buildBinaries(t)
	dir := t.TempDir()
	manifests := filepath.Join(dir, "manifests")
	os.Mkdir(manifests, 0o755)
	metricsAddr := freeAddress(t)
	socket := filepath.Join(dir, "run", "status.sock")
	configPath := filepath.Join(dir, "staticlet.yaml")
	writeConfig := func(level string) {
		os.WriteFile(configPath, []byte(fmt.Sprintf(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
nodeName: node1
podManifestPath: %s
containerd: {address: %s, namespace: %s}
statusSocket: %s
stateDir: %s
podLogDir: %s
metricsAddress: %s
logging: {level: %s}
source: {removalDelay: 0s}
`, manifests, address, ns, socket, filepath.Join(dir, "state"), filepath.Join(dir, "pods"), metricsAddr, level)), 0o644)
	}
	writeConfig("info")
	start := func() (*exec.Cmd, *testenv.SyncBuffer) { return startAgent(t, bin, "run", "--config", configPath) }
	base := "http://" + metricsAddr

	agent1, log1 := start()
	waitFor(t, "/healthz", 10*time.Second, func() bool { code, _ := httpGet(base + "/healthz"); return code == 200 })
	waitFor(t, "/readyz", 10*time.Second, func() bool { code, _ := httpGet(base + "/readyz"); return code == 200 })
	if _, body := httpGet(base + "/readyz"); !strings.Contains(body, "[+] containerd ok") || !strings.Contains(body, "[+] sources ok") {
		t.Fatalf("readyz body %q", body)
	}

	os.WriteFile(filepath.Join(manifests, "sleeper.yaml"), []byte(fmt.Sprintf(
		"apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {name: main, image: %q, imagePullPolicy: Never, command: [sleep, '3600']}\n", image)), 0o644)
	waitFor(t, "the pod running", 30*time.Second, func() bool {
		_, body := httpGet(base + "/metrics")
		v, ok := metricValue(t, body, "staticlet_pods", map[string]string{"phase": "Running"})
		return ok && v == 1
	})
	_, body := httpGet(base + "/metrics")
	for _, m := range []struct {
		name   string
		labels map[string]string
	}{
		{"staticlet_manifests", map[string]string{"verdict": "accepted"}},
		{"staticlet_reconcile_duration_seconds", nil},
		{"staticlet_source_relist_duration_seconds", map[string]string{"source": "file"}},
		{"staticlet_source_events_total", map[string]string{"source": "file", "kind": "event"}},
		{"staticlet_container_restarts_total", map[string]string{"pod": "sleeper-node1"}},
		{"staticlet_synced", nil},
	} {
		if _, ok := metricValue(t, body, m.name, m.labels); !ok {
			t.Errorf("metric %s%v missing", m.name, m.labels)
		}
	}
	st, err := statusapi.Fetch(context.Background(), socket)
	if err != nil || len(st.Pods) != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
	uid := st.Pods[0].UID

	// SIGHUP with a broken configuration: refused, the agent keeps going.
	os.WriteFile(configPath, []byte("apiVersion: staticlet.dev/v1alpha1\nkind: StaticletConfiguration\nloging: {}\n"), 0o644)
	agent1.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the bad reload to be refused", 10*time.Second, func() bool {
		return strings.Contains(log1.String(), "configuration refused; keeping the running one")
	})
	if code, _ := httpGet(base + "/readyz"); code != 200 {
		t.Fatal("not ready after a refused reload")
	}
	// SIGHUP with a good one: the log level changes.
	writeConfig("debug")
	agent1.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload", 10*time.Second, func() bool {
		return strings.Contains(log1.String(), "configuration reloaded: log_level=debug")
	})

	// SIGTERM: the agent exits cleanly and the container keeps running.
	agent1.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- agent1.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent exit: %v\n%s", err, log1.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not stop on SIGTERM")
	}
	c, err := client.New(address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	containers, err := c.Containers(ctx)
	if err != nil || len(containers) == 0 {
		t.Fatalf("containers after SIGTERM: %d %v", len(containers), err)
	}
	running := 0
	pids := map[uint32]bool{}
	for _, ctr := range containers {
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue
		}
		if s, err := task.Status(ctx); err == nil && s.Status == client.Running {
			running++
			pids[task.Pid()] = true
		}
	}
	if running == 0 {
		t.Fatal("SIGTERM stopped the pod's containers")
	}

	// A new agent adopts the pod: same UID, same process, no restart.
	_, log2 := start()
	waitFor(t, "the restarted agent to be ready", 15*time.Second, func() bool { code, _ := httpGet(base + "/readyz"); return code == 200 })
	st, err = statusapi.Fetch(context.Background(), socket)
	if err != nil || len(st.Pods) != 1 || st.Pods[0].UID != uid || st.Pods[0].Restarts != 0 {
		t.Fatalf("status after restart: %+v %v\n%s", st, err, log2.String())
	}
	if !strings.Contains(log2.String(), "adopted running pod") {
		t.Errorf("no adoption logged:\n%s", log2.String())
	}
	for _, ctr := range containers {
		if task, err := ctr.Task(ctx, nil); err == nil && pids[task.Pid()] {
			delete(pids, task.Pid())
		}
	}
	if len(pids) != 0 {
		t.Errorf("the adopted pod's processes changed")
	}

	// Removing the manifest stops the pod.
	os.Remove(filepath.Join(manifests, "sleeper.yaml"))
	waitFor(t, "the pod gone", 30*time.Second, func() bool {
		st, err := statusapi.Fetch(context.Background(), socket)
		return err == nil && len(st.Pods) == 0
	})
}
