package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
	"github.com/staticlet/staticlet/host/statusapi"
)

// TestAgentRunsAnOCIPlugin runs the built agent (dry-run) with its plugin
// given as oci://...@sha256 and a public key: it pulls, verifies and runs
// it (the privileged pod's file is rejected), and, restarted with the
// registry gone, starts from its plugin store.
func TestAgentRunsAnOCIPlugin(t *testing.T) {
	bin := buildBinaries(t)
	server := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer server.Close()
	host := strings.TrimPrefix(server.URL, "http://")
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, "plugin", "keygen", "--out", filepath.Join(dir, "author")); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := runCLI(t, "plugin", "push", "--plugin", plugintest.BuildGo(t, "plugins/deny-privileged", false),
		"--key", filepath.Join(dir, "author.key"), "oci://"+host+"/policies/deny-privileged:v1")
	if code != 0 {
		t.Fatalf("push: %s", errOut)
	}
	ref := strings.TrimSpace(out)

	a := newDryRunAgent(t, dir, fmt.Sprintf(`pluginLoading:
  publicKeys: [author.pub]
plugins:
- name: deny-privileged
  path: %s
`, ref))
	os.WriteFile(filepath.Join(a.manifests, "web.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: nginx}]\n"), 0o644)
	os.WriteFile(filepath.Join(a.manifests, "root.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: root}\nspec:\n  containers: [{name: c, image: nginx, securityContext: {privileged: true}}]\n"), 0o644)
	socket, config := a.socket, a.config

	check := func(log fmt.Stringer) {
		t.Helper()
		var st statusapi.Status
		waitFor(t, "both files decided", 60*time.Second, func() bool {
			var err error
			st, err = statusapi.Fetch(context.Background(), socket)
			return err == nil && len(st.Files) == 2 && len(st.Pods) == 1
		})
		for _, f := range st.Files {
			if filepath.Base(f.File) == "root.yaml" && (f.Verdict != "rejected" || !strings.Contains(strings.Join(f.Reasons, " "), "Privileged")) {
				t.Errorf("root.yaml: %s %q\n%s", f.Verdict, f.Reasons, log)
			}
		}
	}
	agent, agentLog := startAgent(t, bin, "run", "--dry-run", "--config", config)
	check(agentLog)
	agent.Process.Signal(syscall.SIGTERM)
	agent.Wait()

	server.Close()
	_, agentLog = startAgent(t, bin, "run", "--dry-run", "--config", config)
	check(agentLog)
	if _, err := os.Stat(filepath.Join(dir, "state", "plugin-store")); err != nil {
		t.Errorf("no plugin store in the state folder: %v", err)
	}
}
