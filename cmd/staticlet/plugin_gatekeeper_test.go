package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// TestPluginGatekeeper converts a ConstraintTemplate (Rego v0, a library
// module) and a Constraint into a plugin with `plugin gatekeeper`, then
// loads the printed entry: the parameters are its settings, the match and
// enforcementAction its match and mode, and it denies (as warnings, warn)
// what the Rego says.
func TestPluginGatekeeper(t *testing.T) {
	opa := plugintest.OPA(t)
	dir := t.TempDir()
	testdata := filepath.Join("testdata", "gatekeeper")
	code, out, errOut := runCLI(t, "plugin", "gatekeeper", "--template", filepath.Join(testdata, "template.yaml"),
		"--constraint", filepath.Join(testdata, "constraint.yaml"), "--out", dir, "--opa", opa)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "excludedNamespaces [kube-system] has no equivalent") {
		t.Errorf("no note on excludedNamespaces: %q", errOut)
	}
	var doc struct {
		Plugins []plugin.Spec `json:"plugins"`
	}
	if err := yaml.UnmarshalStrict([]byte(out), &doc); err != nil || len(doc.Plugins) != 1 {
		t.Fatalf("output is not a plugins list (%v):\n%s", err, out)
	}
	spec := doc.Plugins[0]
	if spec.Name != "host-paths" || spec.ABI != plugin.ABIOPA || spec.Entrypoint != "k8spsphostpath/violation" ||
		spec.Mode != plugin.Warn || strings.Join(spec.Match.Namespaces, ",") != "default,tools" ||
		string(spec.Settings) != `{"allowedPrefixes":["/var/log"]}` || spec.Path != filepath.Join(dir, "policy.wasm") {
		t.Fatalf("entry: %+v settings %s", spec, spec.Settings)
	}
	chain, err := plugin.LoadChain(context.Background(), []plugin.Spec{spec}, plugin.Options{CacheDir: plugintest.CacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close(context.Background())
	pod := func(path string) plugin.Request {
		return plugin.Request{Manifest: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"c","image":"x"}],"volumes":[{"name":"v","hostPath":{"path":"` + path + `"}}]}}`)}
	}
	res, err := chain.Validate(context.Background(), pod("/etc"))
	if err != nil || !res.Allowed || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Message, "HostPath volume v is not allowed: /etc") {
		t.Fatalf("/etc: %+v %v", res, err)
	}
	res, err = chain.Validate(context.Background(), pod("/var/log/app"))
	if err != nil || !res.Allowed || len(res.Warnings) != 0 {
		t.Fatalf("/var/log/app: %+v %v", res, err)
	}
}
