package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
	"github.com/staticlet/staticlet/host/statusapi"
)

// TestAgentRunsAnOPAPlugin runs the built agent (dry-run: no containerd
// needed) with an OPA module compiled from a Gatekeeper-style policy as its
// plugin: the privileged pod's file is rejected with the violation's
// message, the other pod runs, as `staticlet check` and `opa eval` say.
func TestAgentRunsAnOPAPlugin(t *testing.T) {
	bin := buildBinaries(t)
	root := plugintest.ModuleRoot(t)
	policies := filepath.Join(root, "plugins", "opa-psp", "policies")
	wasm := plugintest.BuildOPA(t, "k8spsphostnamespace/violation", filepath.Join(policies, "host_namespaces.rego"))

	a := newDryRunAgent(t, t.TempDir(), fmt.Sprintf(`plugins:
- name: psp-host-namespace
  path: %s
  abi: opa
  entrypoint: k8spsphostnamespace/violation
  settings: {allowHostNetwork: true}
`, wasm))
	os.WriteFile(filepath.Join(a.manifests, "web.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  hostNetwork: true\n  containers: [{name: c, image: nginx}]\n"), 0o644)
	os.WriteFile(filepath.Join(a.manifests, "debug.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: debug}\nspec:\n  hostPID: true\n  containers: [{name: c, image: busybox}]\n"), 0o644)
	socket := a.socket

	_, log := startAgent(t, bin, "run", "--dry-run", "--config", a.config)
	var st statusapi.Status
	waitFor(t, "both files decided", 60*time.Second, func() bool {
		var err error
		st, err = statusapi.Fetch(context.Background(), socket)
		return err == nil && len(st.Files) == 2 && len(st.Pods) == 1
	})
	if st.Pods[0].Name != "web-n1" {
		t.Errorf("running pod %q, want web-n1", st.Pods[0].Name)
	}
	for _, f := range st.Files {
		reasons := strings.Join(f.Reasons, "\n")
		switch filepath.Base(f.File) {
		case "web.yaml":
			if f.Verdict == "rejected" {
				t.Errorf("web.yaml rejected: %q", reasons)
			}
		case "debug.yaml":
			if f.Verdict != "rejected" || !strings.Contains(reasons, "Sharing the host namespace is not allowed: debug-n1 (hostPID)") {
				t.Errorf("debug.yaml: %s %q\n%s", f.Verdict, reasons, log.String())
			}
		}
	}
}
