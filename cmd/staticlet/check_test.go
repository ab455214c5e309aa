package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := newRootCommand()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(args)
	err := root.Execute()
	code := exitOK
	if err != nil {
		code = exitUsage
		if ee, ok := err.(*exitError); ok {
			code = ee.code
		}
		if err.Error() != "" {
			stderr.WriteString(err.Error())
		}
	}
	return code, stdout.String(), stderr.String()
}

func TestCheckExamples(t *testing.T) {
	code, out, errOut := runCLI(t, "check", "--kubelet-config", "../../examples/kubelet-config.yaml", "--node-name", "worker-1", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	var res checkOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Manifests) != 1 {
		t.Fatalf("manifests = %+v", res.Manifests)
	}
	m := res.Manifests[0]
	if m.Verdict != "accepted" || m.Name != "myapp-pod-worker-1" || m.Namespace != "default" || len(m.UID) != 32 {
		t.Fatalf("entry = %+v", m)
	}
}

func TestCheckReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	write("good.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec:\n  containers: [{name: c, image: busybox}]\n")
	write("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  serviceAccountName: admin\n  containers: [{name: c, image: busybox, ports: [{containerPort: 70000}]}]\n")
	write("zz-dup.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec:\n  containers: [{name: c, image: busybox}]\n")
	write("good.yaml.bak", "backup")
	code, out, _ := runCLI(t, "check", "--node-name", "n1", "-o", "json", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (rejected files)", code)
	}
	var res checkOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]checkEntry{}
	for _, m := range res.Manifests {
		got[filepath.Base(m.File)] = m
	}
	if got["good.yaml"].Verdict != "accepted" || got["good.yaml.bak"].Verdict != "ignored" {
		t.Errorf("verdicts: %+v", got)
	}
	bad := strings.Join(got["bad.yaml"].Reasons, "\n")
	if got["bad.yaml"].Verdict != "rejected" || !strings.Contains(bad, "spec.serviceAccountName") || !strings.Contains(bad, "spec.containers[0].ports[0].containerPort") {
		t.Errorf("bad.yaml must list every error with its field: %q", bad)
	}
	dup := strings.Join(got["zz-dup.yaml"].Reasons, "\n")
	if got["zz-dup.yaml"].Verdict != "rejected" || !strings.Contains(dup, "good.yaml") {
		t.Errorf("zz-dup.yaml must name the file holding the name: %q", dup)
	}

	// The table names the same things.
	code, out, _ = runCLI(t, "check", "--node-name", "n1", dir)
	if code != 1 || !strings.Contains(out, "bad.yaml") || !strings.Contains(out, "spec.serviceAccountName") || !strings.Contains(out, "VERDICT") {
		t.Errorf("table output (exit %d):\n%s", code, out)
	}
}

func TestCheckUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"check", "-o", "xml", "."},
		{"check", "--kubelet-config", "/no/such/file"},
		{"check", "--bogus-flag"},
		{"check", "--node-name", "Not_Valid!", "."},
	} {
		if code, _, _ := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestCheckRuntimeRefusals: what the containerd runtime would refuse at
// start is rejected by check, with the field named, as the agent's
// admission rejects it.
func TestCheckRuntimeRefusals(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tty.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: tty}\nspec:\n  securityContext: {sysctls: [{name: kernel.msgmax, value: '1'}]}\n  containers: [{name: c, image: busybox, tty: true}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "check", "--node-name", "n1", "-o", "json", dir)
	if code != exitRejected {
		t.Fatalf("exit %d, want %d: %s %s", code, exitRejected, out, errOut)
	}
	var res checkOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, d := range res.Manifests[0].Details {
		fields[d.Field] = true
	}
	if res.Manifests[0].Verdict != "rejected" || !fields["spec.containers[0].tty"] || !fields["spec.securityContext.sysctls[0]"] {
		t.Errorf("entry = %+v", res.Manifests[0])
	}
}

// TestCheckRefusesABadSysctlAllowlist: an allowedUnsafeSysctls pattern the
// runtime would refuse to start with is a configuration error for check.
func TestCheckRefusesABadSysctlAllowlist(t *testing.T) {
	dir := t.TempDir()
	kubelet := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(kubelet, []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nallowedUnsafeSysctls: [\"kernel.*\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "check", "--node-name", "n1", "--kubelet-config", kubelet, dir)
	if code != exitUsage || !strings.Contains(errOut, `allowedUnsafeSysctls[0] "kernel.*"`) {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
