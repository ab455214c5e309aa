package main

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// TestPluginPublishAndPull: an author makes a key, pushes a signed plugin to
// a registry on localhost and pins its tag; `plugin run` pulls, verifies and
// runs the pinned reference with the public key, refuses it with another
// key, and runs it from the store once the registry is gone.
func TestPluginPublishAndPull(t *testing.T) {
	server := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer server.Close()
	host := strings.TrimPrefix(server.URL, "http://")
	dir := t.TempDir()
	wasm := plugintest.BuildGo(t, "plugins/deny-privileged", false)
	manifest := filepath.Join(dir, "pod.yaml")
	os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: root}\nspec:\n  containers: [{name: c, image: nginx, securityContext: {privileged: true}}]\n"), 0o644)

	for _, prefix := range []string{"author", "stranger"} {
		if code, _, errOut := runCLI(t, "plugin", "keygen", "--out", filepath.Join(dir, prefix)); code != 0 {
			t.Fatalf("keygen: %d %s", code, errOut)
		}
	}
	code, out, errOut := runCLI(t, "plugin", "push", "--plugin", wasm, "--key", filepath.Join(dir, "author.key"), "oci://"+host+"/policies/deny-privileged:v1")
	if code != 0 || !strings.HasPrefix(out, "oci://"+host+"/policies/deny-privileged@sha256:") {
		t.Fatalf("push: %d %q %s", code, out, errOut)
	}
	ref := strings.TrimSpace(out)
	if code, out, errOut := runCLI(t, "plugin", "resolve", "oci://"+host+"/policies/deny-privileged:v1"); code != 0 || strings.TrimSpace(out) != ref {
		t.Fatalf("resolve: %d %q %s, want %s", code, out, errOut, ref)
	}

	store := filepath.Join(dir, "store")
	run := func(key string) (int, string, string) {
		return runCLI(t, "plugin", "run", "--plugin", ref, "--public-key", filepath.Join(dir, key+".pub"), "--store", store,
			"--cache-dir", plugintest.CacheDir(), manifest)
	}
	if code, out, errOut := run("stranger"); code != exitUsage || !strings.Contains(errOut, "signature not verified") {
		t.Fatalf("another key: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := run("author"); code != 1 || !strings.Contains(out, "Privileged") {
		t.Fatalf("pulled plugin: exit %d (want 1, denied) %q %q", code, out, errOut)
	}
	server.Close()
	if code, out, errOut := run("author"); code != 1 || !strings.Contains(out, "Privileged") {
		t.Fatalf("from the store, registry gone: exit %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "plugin", "run", "--plugin", "oci://"+host+"/policies/deny-privileged:v1", "--public-key", filepath.Join(dir, "author.pub"), manifest); code != exitUsage || !strings.Contains(errOut, "not pinned") {
		t.Fatalf("a tag: %d %q", code, errOut)
	}
}
