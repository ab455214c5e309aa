package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// runPluginCmd runs `staticlet plugin ARGS` in-process, with the test
// compilation cache, and returns the exit code and output.
func runPluginCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := newPluginCommand()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	if len(args) > 0 && args[0] != "inspect" {
		args = append(args, "--cache-dir", plugintest.CacheDir())
	}
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	code := exitOK
	if err != nil {
		code = exitUsage
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		stderr.WriteString(err.Error())
	}
	return code, stdout.String(), stderr.String()
}

const seedYAML = `apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels:
    app: myapp
    type: front-end
spec:
  containers:
    - name: nginx-container
      image: nginx
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPluginRun(t *testing.T) {
	dp := plugintest.BuildGo(t, "plugins/deny-privileged", true)
	seed := writeFile(t, "seed.yaml", seedYAML)
	priv := writeFile(t, "priv.yaml", strings.Replace(seedYAML, "image: nginx", "image: nginx\n      securityContext: {privileged: true}", 1))

	code, out, errOut := runPluginCmd(t, "run", "--plugin", dp, seed)
	if code != 0 || !strings.HasPrefix(out, "ALLOWED") {
		t.Fatalf("allowed: %d %q %q", code, out, errOut)
	}
	code, out, _ = runPluginCmd(t, "run", "--plugin", dp, priv)
	if code != 1 || !strings.Contains(out, "DENIED\n  deny  Privileged: container \"nginx-container\" must not be privileged (spec.containers[0].securityContext.privileged)") {
		t.Fatalf("denied: %d %q", code, out)
	}
	code, out, _ = runPluginCmd(t, "run", "--plugin", dp, "-o", "json", priv)
	var res struct {
		Allowed bool `json:"allowed"`
		Denials []struct {
			Code string `json:"code"`
		} `json:"denials"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil || res.Allowed || res.Denials[0].Code != "Privileged" {
		t.Fatalf("json: %d %s", code, out)
	}
	settings := writeFile(t, "s.yaml", "allowedHostPaths: [relative]\n")
	if code, _, errOut := runPluginCmd(t, "run", "--plugin", dp, "--settings", settings, seed); code != 2 || !strings.Contains(errOut, "settings rejected") {
		t.Fatalf("bad settings: %d %q", code, errOut)
	}
	if code, _, errOut := runPluginCmd(t, "run", "--plugin", dp, "--op", "name", seed); code != 2 || !strings.Contains(errOut, "does not offer the name operation") {
		t.Fatalf("unoffered op: %d %q", code, errOut)
	}
	if code, _, _ := runPluginCmd(t, "run", "--plugin", dp, "--op", "explode", seed); code != 2 {
		t.Fatalf("bad op: %d", code)
	}
	if code, _, _ := runPluginCmd(t, "run", seed); code != 2 {
		t.Fatalf("no --plugin: %d", code)
	}
}

func TestPluginRunMutateAndName(t *testing.T) {
	seed := writeFile(t, "seed.yaml", seedYAML)
	al := plugintest.BuildGo(t, "plugins/add-labels", true)
	settings := writeFile(t, "s.yaml", "labels: {team: platform}\n")
	code, out, errOut := runPluginCmd(t, "run", "--plugin", al, "--settings", settings, "--op", "mutate", seed)
	if code != 0 || !strings.Contains(out, `patch: [{"op":"add","path":"/metadata/labels/team","value":"platform"}]`) || !strings.Contains(out, "    team: platform") {
		t.Fatalf("mutate: %d %q %q", code, out, errOut)
	}
	nt := plugintest.BuildGo(t, "plugins/name-template", true)
	tmpl := writeFile(t, "t.yaml", `template: "{name}-{node}-{nodeLabel:zone}"`+"\n")
	code, out, _ = runPluginCmd(t, "run", "--plugin", nt, "--settings", tmpl, "--op", "name", "--node-name", "w2", "--node-label", "zone=b", seed)
	if code != 0 || !strings.Contains(out, "name: myapp-pod-w2-b") {
		t.Fatalf("name: %d %q", code, out)
	}
	code, _, errOut = runPluginCmd(t, "run", "--plugin", nt, "--settings", tmpl, "--op", "name", seed)
	if code != 2 || !strings.Contains(errOut, `the node has no label "zone"`) {
		t.Fatalf("plugin error: %d %q", code, errOut)
	}
}

func TestPluginTest(t *testing.T) {
	root := plugintest.ModuleRoot(t)
	al := plugintest.BuildGo(t, "plugins/add-labels", true)
	dir := filepath.Join(root, "plugins", "add-labels")
	code, out, errOut := runPluginCmd(t, "test", "--plugin", al, "--settings", filepath.Join(dir, "settings.yaml"), filepath.Join(dir, "testdata", "cases"))
	if code != 0 || !strings.Contains(out, "4 passed, 0 failed") {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	// A failing case prints a diff and exits 1.
	failing := t.TempDir()
	os.WriteFile(filepath.Join(failing, "manifest.yaml"), []byte(seedYAML), 0o644)
	os.WriteFile(filepath.Join(failing, "case.yaml"), []byte("operation: mutate\nsettings: {labels: {team: a}}\nexpect:\n  patch: []\n"), 0o644)
	code, out, _ = runPluginCmd(t, "test", "--plugin", al, failing)
	if code != 1 || !strings.Contains(out, "FAIL ") || !strings.Contains(out, "patch differs") || !strings.Contains(out, "+ - op: add") {
		t.Fatalf("%d %s", code, out)
	}
}

func TestPluginBenchAndInspect(t *testing.T) {
	dp := plugintest.BuildGo(t, "plugins/deny-privileged", true)
	seed := writeFile(t, "seed.yaml", seedYAML)
	code, out, errOut := runPluginCmd(t, "bench", "--plugin", dp, "-n", "50", seed)
	if code != 0 || !strings.Contains(out, "p50") || !strings.Contains(out, "p99") {
		t.Fatalf("bench: %d %s %s", code, out, errOut)
	}
	code, out, errOut = runPluginCmd(t, "inspect", dp)
	for _, want := range []string{"deny-privileged", "operations              validate\n", "abi version (run)       1", "staticlet_validate (i32, i32) -> (i64)", "settings schema:", "wasi_snapshot_preview1.fd_write"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Fatalf("inspect: %d %s", code, errOut)
	}
	code, out, _ = runPluginCmd(t, "inspect", "-o", "json", dp)
	if code != 0 || !strings.Contains(out, `"sha256"`) {
		t.Fatalf("inspect json: %d %s", code, out)
	}
	junk := writeFile(t, "junk.wasm", "not wasm")
	if code, _, errOut := runPluginCmd(t, "inspect", junk); code != 2 || !strings.Contains(errOut, "invalid plugin module") {
		t.Fatalf("junk: %d %s", code, errOut)
	}
}
