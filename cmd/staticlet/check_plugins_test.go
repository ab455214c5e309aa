package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// TestCheckRunsThePluginChain runs `staticlet check` with real .wasm
// reference plugins built from source: a mutation, a naming plugin and a
// validator, as the agent would run them.
func TestCheckRunsThePluginChain(t *testing.T) {
	denyPrivileged := plugintest.BuildGo(t, "plugins/deny-privileged", true)
	addLabels := plugintest.BuildGo(t, "plugins/add-labels", true)
	nameTemplate := plugintest.BuildGo(t, "plugins/name-template", true)

	dir := t.TempDir()
	manifests := filepath.Join(dir, "manifests")
	os.Mkdir(manifests, 0o755)
	os.WriteFile(filepath.Join(manifests, "web.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: busybox}]\n"), 0o644)
	os.WriteFile(filepath.Join(manifests, "root.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: root}\nspec:\n  hostPID: true\n  containers: [{name: c, image: busybox, securityContext: {privileged: true}}]\n"), 0o644)
	config := fmt.Sprintf(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
stateDir: %s
plugins:
- name: add-labels
  path: %s
  settings: {labels: {team: platform}}
- name: name-template
  path: %s
  settings: {template: "{name}-on-{node}"}
- name: deny-privileged
  path: %s
`, filepath.Join(dir, "state"), addLabels, nameTemplate, denyPrivileged)
	configPath := filepath.Join(dir, "staticlet.yaml")
	os.WriteFile(configPath, []byte(config), 0o644)

	code, out, errOut := runCLI(t, "check", "--config", configPath, "--node-name", "worker-1", "-o", "json", manifests)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (root.yaml denied): %s %s", code, out, errOut)
	}
	var res checkOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]checkEntry{}
	for _, m := range res.Manifests {
		got[filepath.Base(m.File)] = m
	}
	web := got["web.yaml"]
	if web.Verdict != "accepted" || web.Name != "web-on-worker-1" || web.Pod.Labels["team"] != "platform" || len(web.Mutations) != 1 {
		t.Errorf("web.yaml: verdict %s name %s labels %v mutations %v", web.Verdict, web.Name, web.Pod.Labels, web.Mutations)
	}
	root := got["root.yaml"]
	reasons := strings.Join(root.Reasons, "\n")
	if root.Verdict != "rejected" || !strings.Contains(reasons, "plugin deny-privileged") || !strings.Contains(reasons, "privileged") || !strings.Contains(reasons, "hostPID") {
		t.Errorf("root.yaml: %s %q", root.Verdict, reasons)
	}

	// A plugin file that does not match its pinned digest is refused at
	// load: a configuration error, exit 2, naming the plugin.
	bad := strings.Replace(config, "- name: deny-privileged\n", "- name: deny-privileged\n  sha256: "+strings.Repeat("ab", 32)+"\n", 1)
	os.WriteFile(configPath, []byte(bad), 0o644)
	code, _, errOut = runCLI(t, "check", "--config", configPath, "--node-name", "worker-1", manifests)
	if code != exitUsage || !strings.Contains(errOut, "deny-privileged") || !strings.Contains(errOut, "sha256") {
		t.Errorf("sha256 mismatch: exit %d, %q", code, errOut)
	}
}
