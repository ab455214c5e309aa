package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckStartAfter: check prints the annotation's validation errors with
// the file and field, what a pod will wait for that no manifest provides,
// and fails on a cycle.
func TestCheckStartAfter(t *testing.T) {
	manifest := func(name, after string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
			"\n  annotations: {staticlet.dev/start-after: \"" + after + "\"}\nspec:\n  containers: [{name: c, image: busybox}]\n"
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("web.yaml", manifest("web", "db, kube-system/cache"))
	write("db.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: db}\nspec:\n  containers: [{name: c, image: busybox}]\n")
	code, out, _ := runCLI(t, "check", "--node-name", "n1", dir)
	if code != 0 || !strings.Contains(out, `start-after: will wait for kube-system/cache (no static pod with manifest name "cache" in namespace "kube-system")`) {
		t.Fatalf("missing dependency (exit %d):\n%s", code, out)
	}

	write("bad.yaml", manifest("bad", "bad,,Db"))
	code, out, _ = runCLI(t, "check", "--node-name", "n1", dir)
	if code != 1 || !strings.Contains(out, "metadata.annotations[staticlet.dev/start-after]: Invalid value: \"bad,,Db\": names the pod itself (default/bad)") ||
		!strings.Contains(out, `entry 3 "Db": invalid name`) {
		t.Fatalf("invalid annotation (exit %d):\n%s", code, out)
	}
	os.Remove(filepath.Join(dir, "bad.yaml"))

	write("db.yaml", manifest("db", "web"))
	code, out, _ = runCLI(t, "check", "--node-name", "n1", dir)
	if code != 1 || strings.Count(out, "error: staticlet.dev/start-after forms a cycle") != 2 ||
		!strings.Contains(out, "default/db-n1 → default/web-n1 → default/db-n1") {
		t.Fatalf("cycle (exit %d):\n%s", code, out)
	}
}
