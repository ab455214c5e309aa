package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
	"github.com/staticlet/staticlet/host/statusapi"
)

// The plugin sandbox seen from outside, with the built binary: `plugin run`
// and `check` end at the deadline with a clear error for hostile guests, and
// a running agent answers `staticlet status`, serves /healthz, obeys
// SIGTERM and recovers when a good module replaces the hostile one, all
// while the hostile plugin runs.

const sandboxTimeout = 500 * time.Millisecond

// sandboxSlack is the generous bound these tests allow past the deadlines
// (the tight figure is BenchmarkHostileStop's).
const sandboxSlack = 2 * time.Second

func hostileModule(t *testing.T, hostileCase string) string {
	return plugintest.BuildC(t, "host/plugin/testdata/hostile/hostile.c", "-O0", "-DHOSTILE_"+hostileCase)
}

func runTimed(t *testing.T, bin string, args ...string) (time.Duration, string, int) {
	t.Helper()
	start := time.Now()
	out, err := exec.Command(bin, args...).CombinedOutput()
	took := time.Since(start)
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return took, string(out), code
}

func TestSandboxCommandsEndAtTheDeadline(t *testing.T) {
	bin := buildBinaries(t)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	manifest := filepath.Join(dir, "pod.yaml")
	os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: nginx}]\n"), 0o644)
	timeout := sandboxTimeout.String()

	t.Run("plugin run", func(t *testing.T) {
		for _, c := range []struct {
			name, path, want string
		}{
			{"recursion", hostileModule(t, "FIB"), "plugin call timed out after " + timeout},
			{"recursion through host calls", hostileModule(t, "HOSTCALLS"), "plugin call timed out after " + timeout},
			{"start section", plugintest.BuildWat(t, "host/plugin/testdata/hostile/start-loop.wat"), "start function: plugin call timed out after " + timeout},
			{"_initialize", hostileModule(t, "INIT_LOOP"), "_initialize: plugin call timed out after " + timeout},
		} {
			t.Run(c.name, func(t *testing.T) {
				args := []string{"plugin", "run", "--plugin", c.path, "--timeout", timeout, "--cache-dir", cache, manifest}
				runTimed(t, bin, args...) // compiles into the cache
				took, out, code := runTimed(t, bin, args...)
				if code == 0 || !strings.Contains(out, c.want) {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				if took > sandboxTimeout+sandboxSlack {
					t.Fatalf("took %v with a %v timeout:\n%s", took, sandboxTimeout, out)
				}
			})
		}
	})

	t.Run("check", func(t *testing.T) {
		config := filepath.Join(dir, "check.yaml")
		os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
nodeName: n1
pluginCacheDir: %s
plugins:
- {name: fib, path: %s, timeout: %s}
`, cache, hostileModule(t, "FIB"), timeout)), 0o644)
		took, out, code := runTimed(t, bin, "check", "--config", config, manifest)
		if code != 1 || !strings.Contains(out, "plugin call timed out after "+timeout) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if took > sandboxTimeout+sandboxSlack+time.Second { // plus a cached load
			t.Fatalf("took %v:\n%s", took, out)
		}
	})
}

// TestAgentNeverWaitsOnAPlugin runs the agent (dry-run: no containerd
// needed) with a plugin that never returns before its deadline, on a folder
// of manifests.
func TestAgentNeverWaitsOnAPlugin(t *testing.T) {
	bin := buildBinaries(t)
	dir := t.TempDir()
	policyPath := filepath.Join(dir, "policy.wasm")
	a := newDryRunAgent(t, dir, fmt.Sprintf(`source: {removalDelay: 0s}
plugins:
- {name: policy, path: %s, timeout: 5s, failurePolicy: Fail}
`, policyPath))
	const pods = 6
	for i := range pods {
		os.WriteFile(filepath.Join(a.manifests, fmt.Sprintf("p%d.yaml", i)), []byte(fmt.Sprintf(
			"apiVersion: v1\nkind: Pod\nmetadata: {name: p%d}\nspec:\n  containers: [{name: c, image: nginx}]\n", i)), 0o644)
	}
	hostile, err := os.ReadFile(hostileModule(t, "TWICE"))
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(plugintest.BuildC(t, "plugins/c-example/deny_host_network.c", "-O2"))
	if err != nil {
		t.Fatal(err)
	}
	replace := func(module []byte) {
		tmp := policyPath + ".tmp"
		if err := os.WriteFile(tmp, module, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, policyPath); err != nil {
			t.Fatal(err)
		}
	}
	replace(hostile)
	socket, metrics := a.socket, a.metrics
	agent, log := startAgent(t, bin, "run", "--dry-run", "--config", a.config)
	waitFor(t, "the status socket", 30*time.Second, func() bool { _, err := os.Stat(socket); return err == nil })
	waitFor(t, "the first plugin timeout", 30*time.Second, func() bool { return strings.Contains(log.String(), "timed out") })

	// While the plugin runs (each call runs into its 5 s deadline), every
	// status query and /healthz answers at once: within 1.5 s even on a
	// loaded machine, where an agent waiting on the plugin would take up
	// to 5 s.
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		began := time.Now()
		_, err := statusapi.Fetch(ctx, socket)
		cancel()
		if err != nil {
			t.Fatalf("status did not answer within 1.5s while a plugin ran (%v): %v\n%s", time.Since(began), err, log.String())
		}
		if code, _ := httpGet("http://" + metrics + "/healthz"); code != 200 {
			t.Fatalf("/healthz answered %d while a plugin ran", code)
		}
		time.Sleep(100 * time.Millisecond)
	}

	st, err := statusapi.Fetch(context.Background(), socket)
	if err != nil || len(st.Sources) != 1 || st.Sources[0].AdmittingFiles == 0 {
		t.Errorf("status does not show the admission in progress: %+v %v", st.Sources, err)
	}

	// Three timeouts in a row quarantine the plugin: status and metrics
	// show it (the Event on the Node is recorded by the mirror manager,
	// which needs an API server: host/mirror's tests).
	waitFor(t, "the plugin quarantined in status", 60*time.Second, func() bool {
		st, err := statusapi.Fetch(context.Background(), socket)
		return err == nil && len(st.Plugins) == 1 && st.Plugins[0].QuarantinedUntil != "" && st.Plugins[0].ConsecutiveTimeouts >= 3
	})
	_, body := httpGet("http://" + metrics + "/metrics")
	if v, ok := metricValue(t, body, "staticlet_plugin_calls_total", map[string]string{"plugin": "policy", "outcome": "quarantined"}); !ok || v < 1 {
		t.Errorf("no quarantined calls counted (%v, %v)", v, ok)
	}

	// A good module in place of the hostile one: every manifest is admitted
	// and its pod runs.
	replace(good)
	waitFor(t, "every pod admitted under the good module", 60*time.Second, func() bool {
		st, err := statusapi.Fetch(context.Background(), socket)
		return err == nil && len(st.Pods) == pods
	})

	// SIGTERM in the middle of an admission that waits on a plugin: the
	// agent exits promptly.
	replace(hostile)
	waitFor(t, "the hostile module back in force", 60*time.Second, func() bool {
		return strings.Count(log.String(), "timed out") > 1
	})
	began := time.Now()
	agent.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- agent.Wait() }()
	select {
	case <-done:
		if took := time.Since(began); took > sandboxSlack {
			t.Fatalf("SIGTERM took %v", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the agent ignored SIGTERM while a plugin ran\n%s", log.String())
	}
}
