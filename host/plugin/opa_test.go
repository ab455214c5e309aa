package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// opaPolicy is one of the Gatekeeper-style test policies of plugins/opa-psp,
// as listed in its policies.tsv (what `make plugins-test` builds too).
type opaPolicy struct {
	name, entrypoint string
	sources          []string // paths
}

// pkg is the policy's Rego package (the entrypoint without its rule).
func (p opaPolicy) pkg() string { return p.entrypoint[:strings.LastIndexByte(p.entrypoint, '/')] }

func opaPolicies(t *testing.T) []opaPolicy {
	t.Helper()
	dir := filepath.Join(plugintest.ModuleRoot(t), "plugins", "opa-psp")
	data, err := os.ReadFile(filepath.Join(dir, "policies.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []opaPolicy
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Split(line, "\t")
		if strings.HasPrefix(line, "#") || len(fields) != 3 {
			continue
		}
		p := opaPolicy{name: fields[0], entrypoint: fields[1]}
		for _, s := range strings.Fields(fields[2]) {
			p.sources = append(p.sources, filepath.Join(dir, "policies", s))
		}
		out = append(out, p)
	}
	if len(out) < 2 {
		t.Fatalf("policies.tsv lists %d policies", len(out))
	}
	return out
}

func opaSpec(name, path, entrypoint string, settings json.RawMessage) Spec {
	return Spec{Name: name, Path: path, ABI: ABIOPA, Entrypoint: entrypoint, Settings: settings}
}

func readYAMLJSON(t *testing.T, path string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return js
}

// TestOPAPoliciesAgreeWithOPAEval compiles each Gatekeeper-style policy with
// `opa build -t wasm`, runs every manifest of its case folders through
// LoadChain's validate, and evaluates the same input document with `opa
// eval` on the Rego source: the denials must be exactly the violations'
// messages, case by case.
func TestOPAPoliciesAgreeWithOPAEval(t *testing.T) {
	root := plugintest.ModuleRoot(t)
	denied, allowed := 0, 0
	for _, pol := range opaPolicies(t) {
		t.Run(pol.name, func(t *testing.T) {
			sources := pol.sources
			wasm := plugintest.BuildOPA(t, pol.entrypoint, sources...)
			dir := filepath.Join(root, "plugins", "opa-psp", "testdata", pol.name)
			defaults := readYAMLJSON(t, filepath.Join(dir, "settings.yaml"))
			caseDirs, err := filepath.Glob(filepath.Join(dir, "cases", "*"))
			if err != nil || len(caseDirs) == 0 {
				t.Fatalf("no cases in %s: %v", dir, err)
			}
			chains := map[string]*Chain{}
			for _, caseDir := range caseDirs {
				var cf struct {
					Settings json.RawMessage `json:"settings"`
				}
				if err := json.Unmarshal(readYAMLJSON(t, filepath.Join(caseDir, "case.yaml")), &cf); err != nil {
					t.Fatal(err)
				}
				settings := defaults
				if len(cf.Settings) > 0 {
					settings = cf.Settings
				}
				chain := chains[string(settings)]
				if chain == nil {
					chain = loadChain(t, opaSpec(pol.name, wasm, pol.entrypoint, settings))
					chains[string(settings)] = chain
				}
				manifest := readYAMLJSON(t, filepath.Join(caseDir, "manifest.yaml"))
				res, err := chain.Validate(context.Background(), Request{File: "/etc/kubernetes/manifests/x.yaml", Source: "file", Manifest: manifest})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Errors) > 0 {
					t.Fatalf("%s: plugin failed: %v", caseDir, res.Errors)
				}
				var got []string
				for _, d := range res.Denials {
					if d.Code != "Violation" {
						t.Errorf("%s: denial code %q, want Violation", caseDir, d.Code)
					}
					got = append(got, d.Message)
				}

				input, err := OPAInput(manifest, settings)
				if err != nil {
					t.Fatal(err)
				}
				var eval struct {
					Result []struct {
						Expressions []struct {
							Value []struct {
								Msg string `json:"msg"`
							} `json:"value"`
						} `json:"expressions"`
					} `json:"result"`
				}
				out := plugintest.EvalOPA(t, "data."+strings.ReplaceAll(pol.entrypoint, "/", "."), input, sources...)
				if err := json.Unmarshal(out, &eval); err != nil {
					t.Fatalf("opa eval output: %v\n%s", err, out)
				}
				var want []string
				for _, r := range eval.Result {
					for _, e := range r.Expressions {
						for _, v := range e.Value {
							want = append(want, v.Msg)
						}
					}
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s:\n  plugin denials %q\n  opa eval       %q", filepath.Base(caseDir), got, want)
				}
				if len(want) > 0 {
					denied++
				} else {
					allowed++
				}
			}
		})
	}
	if !t.Failed() && (denied == 0 || allowed == 0) {
		t.Errorf("the cases should both deny and allow: %d denied, %d allowed", denied, allowed)
	}
}

func writeRegoFile(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.rego")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOPARefusesBuiltinsTheHostLacks: a module importing built-ins the host
// does not implement is refused at load, naming them.
func TestOPARefusesBuiltinsTheHostLacks(t *testing.T) {
	src := writeRegoFile(t, `package needs
violation contains {"msg": msg} if {
	resp := http.send({"method": "get", "url": "http://127.0.0.1:1"})
	msg := sprintf("%v at %v", [resp.status_code, time.now_ns()])
}
`)
	wasm := plugintest.BuildOPA(t, "needs/violation", src)
	_, err := LoadChain(context.Background(), []Spec{opaSpec("needs", wasm, "needs/violation", nil)}, testOpts)
	if !errors.Is(err, ErrOPABuiltin) {
		t.Fatalf("LoadChain: %v, want ErrOPABuiltin", err)
	}
	for _, name := range []string{"http.send", "time.now_ns"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "needs sprintf") {
		t.Errorf("error %q names sprintf, which the host implements", err)
	}

	// plugin inspect says the same before anything is configured.
	module, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(context.Background(), module)
	if err != nil || info.OPA == nil {
		t.Fatalf("Inspect: %+v, %v", info, err)
	}
	if got := strings.Join(info.OPA.Builtins, ","); got != "http.send,sprintf,time.now_ns" {
		t.Errorf("inspect: built-ins %s", got)
	}
	if got := strings.Join(info.OPA.Unsupported, ","); got != "http.send,time.now_ns" || len(info.Problems) != 2 {
		t.Errorf("inspect: unsupported %s, problems %q", got, info.Problems)
	}
	if strings.Join(info.OPA.Entrypoints, ",") != "needs/violation" || !strings.HasPrefix(info.OPA.ABIVersion, "1.") {
		t.Errorf("inspect: %+v", info.OPA)
	}
}

// TestOPALoadErrors: a wrong entrypoint names the module's entrypoints; a
// staticlet-ABI module is not an OPA module, nor the reverse.
func TestOPALoadErrors(t *testing.T) {
	pol := opaPolicies(t)[0]
	wasm := plugintest.BuildOPA(t, pol.entrypoint, pol.sources...)
	_, err := LoadChain(context.Background(), []Spec{opaSpec("x", wasm, pol.pkg()+"/deny", nil)}, testOpts)
	if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), pol.entrypoint) {
		t.Errorf("wrong entrypoint: %v", err)
	}
	_, err = LoadChain(context.Background(), []Spec{{Name: "x", Path: wasm}}, testOpts)
	if !errors.Is(err, ErrInvalidModule) && !errors.Is(err, ErrMissingExport) {
		t.Errorf("OPA module as a staticlet plugin: %v", err)
	}
	goPlugin := plugintest.BuildGo(t, "plugins/deny-privileged", false)
	_, err = LoadChain(context.Background(), []Spec{opaSpec("x", goPlugin, "a/b", nil)}, testOpts)
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "not an OPA module") {
		t.Errorf("Go plugin as an OPA module: %v", err)
	}
}

// TestOPASandbox: an OPA module runs under the plugin's deadline and memory
// cap like any plugin, and the instance that failed is replaced.
func TestOPASandbox(t *testing.T) {
	src := writeRegoFile(t, `package hostile
violation contains {"msg": "spin"} if {
	input.review.object.metadata.name == "spin"
	count([x | some x in numbers.range(1, 400000000); x % 7 == 0]) > 0
}
violation contains {"msg": "hog"} if {
	input.review.object.metadata.name == "hog"
	xs := [sprintf("%v-padding-padding-padding", [x]) | some x in numbers.range(1, 5000000)]
	count(xs) > 0
}
`)
	wasm := plugintest.BuildOPA(t, "hostile/violation", src)
	pod := func(name string) []byte {
		return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{"containers":[{"name":"c","image":"x"}]}}`, name))
	}
	spec := opaSpec("hostile", wasm, "hostile/violation", nil)
	spec.Timeout = &metav1.Duration{Duration: 300 * time.Millisecond}
	limit := resource.MustParse("1Gi")
	spec.MemoryLimit = &limit
	chain := loadChain(t, spec)
	start := time.Now()
	res, err := chain.Validate(context.Background(), Request{Manifest: pod("spin")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || !errors.Is(res.Errors[0].Err, ErrTimeout) {
		t.Fatalf("spin: errors %v, want one timeout", res.Errors)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("spin took %s with a 300ms timeout", took)
	}
	res, err = chain.Validate(context.Background(), Request{Manifest: pod("fine")})
	if err != nil || len(res.Errors) > 0 || !res.Allowed {
		t.Fatalf("after a timeout: %+v, %v", res, err)
	}

	spec.Timeout = &metav1.Duration{Duration: 20 * time.Second}
	small := resource.MustParse("8Mi")
	spec.MemoryLimit = &small
	chain = loadChain(t, spec)
	res, err = chain.Validate(context.Background(), Request{Manifest: pod("hog")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || !errors.Is(res.Errors[0].Err, ErrOutOfMemory) {
		t.Fatalf("hog: errors %v, want one out of memory", res.Errors)
	}
	res, err = chain.Validate(context.Background(), Request{Manifest: pod("fine")})
	if err != nil || len(res.Errors) > 0 || !res.Allowed {
		t.Fatalf("after running out of memory: %+v, %v", res, err)
	}
}

func TestOPASpecValidate(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "a", Path: "p", ABI: ABIOPA}, "entrypoint: invalid plugin spec: must not be empty with abi: opa"},
		{Spec{Name: "a", Path: "p", ABI: ABIOPA, Entrypoint: "pkg/rule name"}, `entrypoint: invalid plugin spec: "pkg/rule name" is not a rule path`},
		{Spec{Name: "a", Path: "p", ABI: ABIOPA, Entrypoint: "pkg//rule"}, "is not a rule path"},
		{Spec{Name: "a", Path: "p", Entrypoint: "pkg/rule"}, "entrypoint: invalid plugin spec: only an abi: opa plugin has an entrypoint"},
		{Spec{Name: "a", Path: "p", ABI: "rego"}, `abi: invalid plugin spec: "rego": must be staticlet or opa`},
		{Spec{Name: "a", Path: "p", ABI: ABIOPA, Entrypoint: "k8spspprivileged/violation"}, ""},
		{Spec{Name: "a", Path: "p", ABI: ABIStaticlet}, ""},
	} {
		err := tc.spec.Validate("plugins[0]")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.spec, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidSpec)):
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.want)
		}
	}
}

// TestOPASprintf checks the host's sprintf against what `opa eval` prints
// for the same call.
func TestOPASprintf(t *testing.T) {
	for _, tc := range []struct{ format, values, want string }{
		{"%v, %v", `["app", {"privileged": true, "runAsUser": 0}]`, `app, {"privileged": true, "runAsUser": 0}`},
		{"%d items, %s, %v", `[3, "x", [1, "a", null, false]]`, `3 items, x, [1, "a", null, false]`},
		{"%v %v %.2f %d", `[1.5, 12345678901234567890, 2, 2.0]`, `1.5 12345678901234567890 %!f(int64=02) %!d(float64=2)`},
		{"%v", `[{"b": {"z": 1, "a": [true]}, "a": "q\"uote"}]`, `{"a": "q\"uote", "b": {"a": [true], "z": 1}}`},
	} {
		got, err := opaSprintf([]json.RawMessage{json.RawMessage(fmt.Sprintf("%q", tc.format)), json.RawMessage(tc.values)})
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("sprintf(%q, %s) = %q, want %q", tc.format, tc.values, got, tc.want)
		}
		out := plugintest.EvalOPA(t, fmt.Sprintf("sprintf(%q, %s)", tc.format, tc.values), []byte("{}"))
		var eval struct {
			Result []struct {
				Expressions []struct {
					Value string `json:"value"`
				} `json:"expressions"`
			} `json:"result"`
		}
		if err := json.Unmarshal(out, &eval); err != nil || len(eval.Result) != 1 {
			t.Fatalf("opa eval: %v\n%s", err, out)
		}
		if opa := eval.Result[0].Expressions[0].Value; opa != got {
			t.Errorf("sprintf(%q, %s): host %q, opa eval %q", tc.format, tc.values, got, opa)
		}
	}
}
