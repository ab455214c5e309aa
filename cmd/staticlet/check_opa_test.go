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

// TestCheckRunsAnOPAPlugin runs `staticlet check` with a configuration
// whose plugin is an OPA module (abi: opa) compiled from a Gatekeeper-style
// policy with `opa build -t wasm`, its settings as the Constraint's
// parameters: the privileged pod is denied with the violation's message, the
// others are accepted, and an unknown entrypoint is a configuration error.
func TestCheckRunsAnOPAPlugin(t *testing.T) {
	root := plugintest.ModuleRoot(t)
	policies := filepath.Join(root, "plugins", "opa-psp", "policies")
	wasm := plugintest.BuildOPA(t, "k8spspprivileged/violation", filepath.Join(policies, "privileged.rego"), filepath.Join(policies, "lib"))

	dir := t.TempDir()
	manifests := filepath.Join(dir, "manifests")
	os.Mkdir(manifests, 0o755)
	os.WriteFile(filepath.Join(manifests, "web.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: busybox}]\n"), 0o644)
	os.WriteFile(filepath.Join(manifests, "root.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: root}\nspec:\n  containers: [{name: c, image: busybox, securityContext: {privileged: true}}]\n"), 0o644)
	os.WriteFile(filepath.Join(manifests, "cni.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: cni}\nspec:\n  containers: [{name: c, image: registry.k8s.io/cni:v1, securityContext: {privileged: true}}]\n"), 0o644)
	config := fmt.Sprintf(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
stateDir: %s
plugins:
- name: psp-privileged
  path: %s
  abi: opa
  entrypoint: k8spspprivileged/violation
  settings: {exemptImages: ["registry.k8s.io/*"]}
`, filepath.Join(dir, "state"), wasm)
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
	if v := got["web.yaml"].Verdict; v != "accepted" {
		t.Errorf("web.yaml: %s %q", v, got["web.yaml"].Reasons)
	}
	if v := got["cni.yaml"].Verdict; v != "accepted" {
		t.Errorf("cni.yaml (exempt image): %s %q", v, got["cni.yaml"].Reasons)
	}
	rootEntry := got["root.yaml"]
	reasons := strings.Join(rootEntry.Reasons, "\n")
	if rootEntry.Verdict != "rejected" || !strings.Contains(reasons, "psp-privileged") ||
		!strings.Contains(reasons, `Privileged container is not allowed: c, securityContext: {"privileged": true}`) {
		t.Errorf("root.yaml: %s %q", rootEntry.Verdict, reasons)
	}

	bad := strings.Replace(config, "entrypoint: k8spspprivileged/violation", "entrypoint: k8spspprivileged/deny", 1)
	os.WriteFile(configPath, []byte(bad), 0o644)
	code, _, errOut = runCLI(t, "check", "--config", configPath, "--node-name", "worker-1", manifests)
	if code != exitUsage || !strings.Contains(errOut, "psp-privileged") || !strings.Contains(errOut, `no entrypoint "k8spspprivileged/deny"`) {
		t.Errorf("unknown entrypoint: exit %d, %q", code, errOut)
	}
}
