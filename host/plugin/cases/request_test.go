package cases

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

const webManifest = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`

func ruleBreakerCase(op plugin.Operation, settings string, expect Expect) Case {
	c := Case{Name: "c", Dir: "c", Manifest: []byte(webManifest), File: CaseFile{
		Operation: op, Node: NodeFacts{Name: "Worker-1"}, File: "/etc/kubernetes/manifests/web.yaml", Expect: expect}}
	if settings != "" {
		c.Settings = json.RawMessage(settings)
	}
	return c
}

// TestCasesSeeWhatTheAgentSends: each operation receives what the agent's
// pipeline sends it: mutate and name the manifest as read (no namespace, no
// suffix), validate the final pod (defaulted namespace, the node-name
// suffix, spec.nodeName, a UID).
func TestCasesSeeWhatTheAgentSends(t *testing.T) {
	r := &Runner{Path: plugintest.BuildGo(t, "host/plugin/testdata/rulebreaker", false), Options: plugin.Options{CacheDir: plugintest.CacheDir()}}
	defer r.Close(context.Background())
	echo := `{"behavior":"echo"}`
	notAllowed := false
	wantName := "web-none-echo"
	for _, c := range []Case{
		ruleBreakerCase(plugin.OpValidate, echo, Expect{Allowed: &notAllowed, Denials: []ExpectedDenial{{Code: "Echo",
			MessageContains: "name=web-worker-1 namespace=default nodeName=worker-1 uid=true labels=map[app:web]"}}}),
		ruleBreakerCase(plugin.OpMutate, echo, Expect{Manifest: json.RawMessage(`{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"echo":"name=web namespace=<nil> nodeName=<nil> uid=false labels=map[app:web]"},"labels":{"app":"web"},"name":"web"},"spec":{"containers":[{"image":"nginx","name":"c"}]}}`)}),
		ruleBreakerCase(plugin.OpName, echo, Expect{Name: &wantName}),
	} {
		out, err := r.Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if !out.Pass {
			t.Errorf("%s:\n%s\nactual:\n%s", c.File.Operation, out.Diff, out.Actual)
		}
	}
}

// TestRejectedSettingsAreACase: settings the plugin refuses make a case
// that can expect the refusal; the other cases still run.
func TestRejectedSettingsAreACase(t *testing.T) {
	r := &Runner{Path: plugintest.BuildGo(t, "host/plugin/testdata/rulebreaker", false), Options: plugin.Options{CacheDir: plugintest.CacheDir()}}
	defer r.Close(context.Background())
	reject := `{"reject":"allowedHostPaths[0] is relative\nsecond line"}`
	allowed := true
	for _, tt := range []struct {
		name    string
		c       Case
		pass    bool
		diffHas string
	}{
		{"expects the rejection", ruleBreakerCase(plugin.OpValidate, reject, Expect{SettingsRejected: true}), true, ""},
		{"expects the rejection and its message", ruleBreakerCase(plugin.OpValidate, reject, Expect{SettingsRejected: true, Error: "is relative"}), true, ""},
		{"wrong message", ruleBreakerCase(plugin.OpValidate, reject, Expect{SettingsRejected: true, Error: "is absolute"}), false, `expected a load error containing "is absolute"`},
		{"unexpected rejection", ruleBreakerCase(plugin.OpValidate, reject, Expect{Allowed: &allowed}), false, `settings rejected by the plugin: allowedHostPaths[0] is relative\nsecond line`},
		{"expected a rejection that did not come", ruleBreakerCase(plugin.OpValidate, "", Expect{SettingsRejected: true}), false, "it accepted them"},
		{"an ordinary case after them", ruleBreakerCase(plugin.OpValidate, "", Expect{Allowed: &allowed}), true, ""},
	} {
		out, err := r.Run(context.Background(), tt.c)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if out.Pass != tt.pass || !strings.Contains(out.Diff, tt.diffHas) {
			t.Errorf("%s: pass %v, diff:\n%s", tt.name, out.Pass, out.Diff)
		}
		if strings.Contains(out.Diff, "\n") && tt.pass {
			t.Errorf("%s: %q", tt.name, out.Diff)
		}
	}
}
