package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

const webYAML = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec:\n  containers: [{name: c, image: nginx}]\n"

func ruleBreakerWasm(t *testing.T) string {
	return plugintest.BuildGo(t, "host/plugin/testdata/rulebreaker", false)
}

// TestPluginRunSendsWhatTheAgentSends: `plugin run --op validate` sends
// the final pod (defaulted namespace, node-name suffix, spec.nodeName, UID)
// as the agent and `check` do, and -o json shows what was sent.
func TestPluginRunSendsWhatTheAgentSends(t *testing.T) {
	rb := ruleBreakerWasm(t)
	web := writeFile(t, "web.yaml", webYAML)
	echo := writeFile(t, "echo.yaml", "behavior: echo\n")
	code, out, errOut := runPluginCmd(t, "run", "--plugin", rb, "--settings", echo, "--node-name", "Worker-1", web)
	if code != 1 || !strings.Contains(out, "Echo: name=web-worker-1 namespace=default nodeName=worker-1 uid=true labels=map[app:web]") {
		t.Fatalf("validate: %d %q %q", code, out, errOut)
	}
	code, out, _ = runPluginCmd(t, "run", "--plugin", rb, "--settings", echo, "--op", "name", "-o", "json", web)
	var res struct {
		Name string          `json:"name"`
		Sent json.RawMessage `json:"sent"`
	}
	var sent bytes.Buffer
	if err := json.Unmarshal([]byte(out), &res); err != nil || json.Compact(&sent, res.Sent) != nil || code != 0 || res.Name != "web-none-echo" ||
		sent.String() != `{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web"},"name":"web"},"spec":{"containers":[{"image":"nginx","name":"c"}]}}` {
		t.Fatalf("name: %d %q %v", code, out, err)
	}
	// A manifest the agent rejects before the plugin: exit 1, saying so.
	noName := writeFile(t, "noname.yaml", strings.Replace(webYAML, "name: web, ", "", 1))
	code, _, errOut = runPluginCmd(t, "run", "--plugin", rb, "--settings", echo, noName)
	if code != 1 || !strings.Contains(errOut, "before the plugin's validate is called") || !strings.Contains(errOut, "metadata.name") {
		t.Fatalf("rejected before the plugin: %d %q", code, errOut)
	}
}

// TestPluginTextIsOneLine: control characters a plugin puts in a denial, a
// warning, its log or an error never forge a line of `plugin run` or
// `check`, and a 4 MB error is capped.
func TestPluginTextIsOneLine(t *testing.T) {
	rb := ruleBreakerWasm(t)
	web := writeFile(t, "web.yaml", webYAML)
	forge := writeFile(t, "forge.yaml", "behavior: forge\n")
	code, out, errOut := runPluginCmd(t, "run", "--plugin", rb, "--settings", forge, "-v", web)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 1 || len(lines) != 3 || lines[0] != "DENIED" || !strings.HasPrefix(lines[1], "  deny  ") || !strings.HasPrefix(lines[2], "  warn  ") {
		t.Fatalf("run: %d\n%s", code, out)
	}
	for _, s := range []string{out, errOut} {
		if strings.ContainsAny(s, "\x1b\r\x07") || strings.Contains(s, "\n2026-01-01T00:00:00Z [INFO] forged") {
			t.Fatalf("raw control characters in:\n%q", s)
		}
	}
	if !strings.Contains(errOut, `forged: line\r\x1b[31mred`) {
		t.Errorf("the plugin's log message, escaped, is missing from -v output:\n%s", errOut)
	}
	huge := writeFile(t, "huge.yaml", "behavior: huge-error\n")
	code, out, errOut = runPluginCmd(t, "run", "--plugin", rb, "--settings", huge, "--memory-limit", "64Mi", web)
	if code != 2 || len(out)+len(errOut) > 20000 || !strings.Contains(out, "more bytes)") || strings.Contains(out+errOut, "\x1b") {
		t.Fatalf("huge error: exit %d, %d+%d bytes:\n%.500s", code, len(out), len(errOut), out)
	}

	dir := t.TempDir()
	manifests := filepath.Join(dir, "manifests")
	os.Mkdir(manifests, 0o755)
	os.WriteFile(filepath.Join(manifests, "web.yaml"), []byte(webYAML), 0o644)
	config := fmt.Sprintf("apiVersion: staticlet.dev/v1alpha1\nkind: StaticletConfiguration\nstateDir: %s\nplugins:\n- name: forge\n  path: %s\n  settings: {behavior: forge}\n",
		filepath.Join(dir, "state"), rb)
	configPath := filepath.Join(dir, "staticlet.yaml")
	os.WriteFile(configPath, []byte(config), 0o644)
	code, out, errOut = runCLI(t, "check", "--config", configPath, "--node-name", "worker-1", manifests)
	if code != 1 || strings.ContainsAny(out+errOut, "\x1b\r\x07") || strings.Contains(out, "\n2026-01-01T00:00:00Z [INFO] forged") {
		t.Fatalf("check: exit %d:\n%q\n%q", code, out, errOut)
	}
	forgedRows := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "forged: line") {
			forgedRows++
		}
	}
	if forgedRows != 2 { // the denial and the warning, one row each
		t.Errorf("check: %d rows quote the plugin's text, want 2:\n%s", forgedRows, out)
	}
}

// TestPluginTestRejectedSettingsCases: a case whose settings the plugin
// rejects can expect it, and one that does not expect it fails alone; the
// plugin flags (--timeout) apply to every case.
func TestPluginTestRejectedSettingsCases(t *testing.T) {
	rb := ruleBreakerWasm(t)
	dir := t.TempDir()
	for name, caseYAML := range map[string]string{
		"a-rejected":   "settings: {reject: \"paths[0] is relative\"}\nexpect: {settingsRejected: true, error: is relative}\n",
		"b-allowed":    "expect: {allowed: true}\n",
		"c-unexpected": "settings: {reject: \"paths[0] is relative\"}\nexpect: {allowed: true}\n",
		// --timeout applies to the cases
		"d-loop": "settings: {behavior: loop}\nexpect: {error: timed out after 100ms}\n",
	} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		os.WriteFile(filepath.Join(dir, name, "case.yaml"), []byte(caseYAML), 0o644)
		os.WriteFile(filepath.Join(dir, name, "manifest.yaml"), []byte(webYAML), 0o644)
	}
	code, out, errOut := runPluginCmd(t, "test", "--plugin", rb, "--timeout", "100ms", dir)
	if code != 1 || !strings.Contains(out, "PASS "+filepath.Join(dir, "a-rejected")) || !strings.Contains(out, "PASS "+filepath.Join(dir, "b-allowed")) ||
		!strings.Contains(out, "FAIL "+filepath.Join(dir, "c-unexpected")+"\n    the plugin refused to load:") || !strings.HasSuffix(out, "3 passed, 1 failed\n") {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
}

// TestCheckRefusesStolenPodNames is the example: neither a mutate
// that renames a pod to etcd nor a naming plugin that names it
// etcd-worker-1 can take kube-system/etcd-worker-1 from the etcd manifest.
func TestCheckRefusesStolenPodNames(t *testing.T) {
	rb := ruleBreakerWasm(t)
	dir := t.TempDir()
	manifests := filepath.Join(dir, "manifests")
	os.Mkdir(manifests, 0o755)
	pod := func(name string) []byte {
		return []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: kube-system}\nspec:\n  containers: [{name: c, image: busybox}]\n")
	}
	// File names sort before etcd.yaml, so the thieves are seen first.
	os.WriteFile(filepath.Join(manifests, "a-renamed.yaml"), pod("renamed"), 0o644)
	os.WriteFile(filepath.Join(manifests, "b-named.yaml"), pod("named"), 0o644)
	os.WriteFile(filepath.Join(manifests, "etcd.yaml"), pod("etcd"), 0o644)
	config := fmt.Sprintf(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
stateDir: %s
plugins:
- name: rename
  path: %s
  settings: {behavior: rename}
  match: {files: [a-renamed.yaml]}
- name: name-etcd
  path: %s
  settings: {behavior: name-etcd}
  match: {files: [b-named.yaml]}
`, filepath.Join(dir, "state"), rb, rb)
	configPath := filepath.Join(dir, "staticlet.yaml")
	os.WriteFile(configPath, []byte(config), 0o644)
	code, out, errOut := runCLI(t, "check", "--config", configPath, "--node-name", "worker-1", "-o", "json", manifests)
	var res checkOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out, errOut)
	}
	got := map[string]checkEntry{}
	for _, m := range res.Manifests {
		got[filepath.Base(m.File)] = m
	}
	if e := got["etcd.yaml"]; e.Verdict != "accepted" || e.Name != "etcd-worker-1" {
		t.Errorf("etcd.yaml: %+v", e)
	}
	if e := got["a-renamed.yaml"]; e.Verdict != "rejected" || !strings.Contains(strings.Join(e.Reasons, "\n"), `forbidden mutation: metadata.name: changed from "renamed" to "etcd"`) {
		t.Errorf("a-renamed.yaml: %+v", e)
	}
	if e := got["b-named.yaml"]; e.Verdict != "rejected" || !strings.Contains(strings.Join(e.Reasons, "\n"), "a naming plugin named this pod kube-system/etcd-worker-1") {
		t.Errorf("b-named.yaml: %+v", e)
	}
}

// TestInspectEscapesWhatTheModuleDeclares: metadata and export names are
// the module author's bytes; inspect prints them escaped, one line each.
func TestInspectEscapesWhatTheModuleDeclares(t *testing.T) {
	var out bytes.Buffer
	printInspect(&out, "x.wasm", plugin.ModuleInfo{
		Metadata: &plugin.Metadata{Name: "x\nname: forged", Description: "\x1b[2Jcleared"},
		Exports:  []plugin.FunctionInfo{{Name: "staticlet_validate\nimports:", Signature: "(i32, i32) -> i64"}},
		Problems: []string{"bad\rexport"},
	})
	s := out.String()
	if strings.ContainsAny(s, "\x1b\r") || strings.Contains(s, "\nname: forged") || strings.Count(s, "\nimports:") != 1 ||
		!strings.Contains(s, `x\nname: forged`) || !strings.Contains(s, `problem: bad\rexport`) {
		t.Fatalf("%q", s)
	}
}
