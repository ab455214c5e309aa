package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

const privilegedManifest = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad","namespace":"kube-system","labels":{"tier":"control-plane"}},"spec":{"containers":[{"name":"c","image":"nginx","securityContext":{"privileged":true}}]}}`

var testOpts = Options{CacheDir: plugintest.CacheDir()}

func loadChain(t *testing.T, specs ...Spec) *Chain {
	t.Helper()
	c, err := LoadChain(context.Background(), specs, testOpts)
	if err != nil {
		t.Fatalf("LoadChain: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func rawSpec(t testing.TB, name, behavior string) Spec {
	s := Spec{Name: name, Path: plugintest.BuildGo(t, "host/plugin/testdata/raw", false)}
	if behavior != "" {
		s.Settings = json.RawMessage(`{"behavior":"` + behavior + `"}`)
	}
	return s
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func writeTiny(t *testing.T, m tinyModule) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.wasm")
	if err := os.WriteFile(p, m.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSpecValidate(t *testing.T) {
	neg := dur(-time.Second)
	q := resource.MustParse("1Ki")
	err := ValidateSpecs([]Spec{
		{Name: "ok", Path: "a.wasm"},
		{Name: "Bad_Name", Path: "", SHA256: "xyz", FailurePolicy: "Sometimes", Mode: "Loud", Timeout: neg, MemoryLimit: &q,
			Match: Match{Files: []string{"[unclosed"}, Namespaces: []string{"Not A NS"}}},
		{Name: "ok", Path: "b.wasm"},
	}, "plugins")
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"plugins[1].name:", "plugins[1].path: invalid plugin spec: must not be empty", "plugins[1].sha256:",
		"plugins[1].failurePolicy:", "plugins[1].mode:", "plugins[1].timeout: invalid plugin spec: must be positive",
		"plugins[1].memoryLimit:", "plugins[1].match.files[0]:", "plugins[1].match.namespaces[0]:",
		`plugins[2].name: invalid plugin spec: "ok" is also the name of plugins[0]`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !errors.Is(err, ErrInvalidSpec) {
		t.Error("not ErrInvalidSpec")
	}
}

func TestSpecDecodesFromYAMLConfig(t *testing.T) {
	var s Spec
	data := []byte(`{"name":"x","path":"x.wasm","timeout":"250ms","memoryLimit":"32Mi","settings":{"a":[1,2]},"match":{"labelSelector":{"matchLabels":{"a":"b"}},"files":["*.yaml"]}}`)
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.EffectiveTimeout() != 250*time.Millisecond || s.EffectiveMemoryLimit() != 32<<20 || string(s.Settings) != `{"a":[1,2]}` {
		t.Fatalf("decoded %+v", s)
	}
	if err := s.Validate("plugins[0]"); err != nil {
		t.Fatal(err)
	}
	var n Spec
	if err := json.Unmarshal([]byte(`{"name":"y","path":"y","memoryLimit":1048576}`), &n); err != nil || n.EffectiveMemoryLimit() != 1<<20 {
		t.Fatalf("numeric memoryLimit: %v %v", err, n.EffectiveMemoryLimit())
	}
}

func TestLoadFailuresNameThePlugin(t *testing.T) {
	good := plugintest.BuildGo(t, "plugins/deny-privileged", false)
	garbage := filepath.Join(t.TempDir(), "garbage.wasm")
	os.WriteFile(garbage, []byte("\x00asm\x01\x00\x00\x00\x05junk"), 0o644)
	tooSmall := resource.MustParse("1Mi")
	tests := []struct {
		name string
		spec Spec
		kind error
		text string
	}{
		{"missing file", Spec{Name: "gone", Path: "/nonexistent/x.wasm"}, ErrReadModule, "plugins[0] (gone)"},
		{"sha256 mismatch", Spec{Name: "pinned", Path: good, SHA256: strings.Repeat("ab", 32)}, ErrChecksum, "the config requires abab"},
		{"invalid module", Spec{Name: "junk", Path: garbage}, ErrInvalidModule, "plugins[0] (junk)"},
		{"wrong ABI version", Spec{Name: "future", Path: writeTiny(t, tinyModule{abiVersion: 2, response: "{}"})}, ErrABIVersion, "ABI version 2"},
		{"no alloc export", Spec{Name: "noalloc", Path: writeTiny(t, tinyModule{abiVersion: 1, noAlloc: true})}, ErrMissingExport, "staticlet_alloc"},
		{"no operation", Spec{Name: "idle", Path: writeTiny(t, tinyModule{abiVersion: 1, noOperations: true})}, ErrNoOperation, "staticlet_validate"},
		{"settings rejected", Spec{Name: "dp", Path: good, Settings: json.RawMessage(`{"allowedHostPaths":["relative"]}`)}, ErrSettingsRejected, `allowedHostPaths[0]: "relative" is not an absolute path`},
		{"settings typo", Spec{Name: "dp", Path: good, Settings: json.RawMessage(`{"allowHostNetwrok":true}`)}, ErrSettingsRejected, `unknown field "allowHostNetwrok"`},
		{"memory below module minimum", Spec{Name: "dp", Path: good, MemoryLimit: &tooSmall}, ErrInvalidSpec, "below the module's minimum memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadChain(context.Background(), []Spec{tt.spec}, testOpts)
			if err == nil {
				c.Close(context.Background())
				t.Fatal("loaded")
			}
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), "("+tt.spec.Name+")") {
				t.Fatalf("error %q: want kind %v containing %q", err, tt.kind, tt.text)
			}
		})
	}
}

func TestSHA256Match(t *testing.T) {
	path := plugintest.BuildGo(t, "plugins/deny-privileged", false)
	c := loadChain(t, Spec{Name: "dp", Path: path})
	digest := c.Plugins()[0].Digest
	c2 := loadChain(t, Spec{Name: "dp", Path: path, SHA256: strings.ToUpper(digest)})
	if c2.Fingerprint() != c.Fingerprint() && c2.Plugins()[0].Digest != digest {
		t.Fatal("digest differs")
	}
}

func TestChainOrderAndStages(t *testing.T) {
	addLabels := plugintest.BuildGo(t, "plugins/add-labels", false)
	c := loadChain(t,
		Spec{Name: "first", Path: addLabels, Settings: json.RawMessage(`{"labels":{"team":"a","order":"first"}}`)},
		Spec{Name: "second", Path: addLabels, Settings: json.RawMessage(`{"labels":{"team":"b"},"overwrite":true}`)},
		Spec{Name: "namer", Path: plugintest.BuildGo(t, "plugins/name-template", false), Settings: json.RawMessage(`{"template":"{label:team}-{name}-{node}"}`)},
		Spec{Name: "dp", Path: plugintest.BuildGo(t, "plugins/deny-privileged", false)},
	)
	ctx := context.Background()
	m, err := c.Mutate(ctx, seedRequest)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Changes) != 2 || m.Changes[0].Plugin != "first" || m.Changes[1].Plugin != "second" {
		t.Fatalf("changes %+v", m.Changes)
	}
	if got := m.Changes[1].Patch.String(); got != `[{"op":"replace","path":"/metadata/labels/team","value":"b"}]` {
		t.Fatalf("second patch %s", got)
	}
	req := seedRequest
	req.Manifest = m.Manifest
	n, err := c.Name(ctx, req)
	if err != nil || n.Name != "b-myapp-pod-worker-1" || n.Plugin != "namer" {
		t.Fatalf("name %+v %v", n, err)
	}
	v, err := c.Validate(ctx, req)
	if err != nil || !v.Allowed {
		t.Fatalf("validate %+v %v", v, err)
	}
	req.Manifest = []byte(privilegedManifest)
	v, _ = c.Validate(ctx, req)
	if v.Allowed || len(v.Denials) != 1 || v.Denials[0].Code != "Privileged" || v.Denials[0].Plugin != "dp" ||
		v.Denials[0].Field != "spec.containers[0].securityContext.privileged" || v.Denials[0].Mode != Enforce {
		t.Fatalf("denials %+v", v)
	}
}

func TestModes(t *testing.T) {
	dp := plugintest.BuildGo(t, "plugins/deny-privileged", false)
	al := plugintest.BuildGo(t, "plugins/add-labels", false)
	ctx := context.Background()
	req := seedRequest
	req.Manifest = []byte(privilegedManifest)
	for _, mode := range []Mode{Enforce, Warn, Audit} {
		t.Run(string(mode), func(t *testing.T) {
			c := loadChain(t,
				Spec{Name: "dp", Path: dp, Mode: mode},
				Spec{Name: "al", Path: al, Mode: mode, Settings: json.RawMessage(`{"labels":{"x":"y"}}`)},
			)
			v, _ := c.Validate(ctx, req)
			m, _ := c.Mutate(ctx, req)
			switch mode {
			case Enforce:
				if v.Allowed || len(v.Denials) != 1 || len(m.Changes) != 1 {
					t.Fatalf("%+v %+v", v, m)
				}
			case Warn:
				if !v.Allowed || len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0].Message, "would deny: dp: Privileged") ||
					len(m.Changes) != 0 || string(m.Manifest) != privilegedManifest || !strings.Contains(m.Warnings[0].Message, "would change") {
					t.Fatalf("%+v %+v", v, m)
				}
			case Audit:
				if !v.Allowed || len(v.Audit) != 1 || v.Audit[0].Mode != Audit || v.Audit[0].Code != "Privileged" ||
					len(m.Changes) != 0 || len(m.Audit) != 1 || m.Audit[0].Code != "WouldMutate" {
					t.Fatalf("%+v %+v", v, m)
				}
			}
		})
	}
}

func TestFailurePolicies(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		policy FailurePolicy
		mode   Mode
		check  func(ValidateResult) bool
	}{
		{Fail, Enforce, func(v ValidateResult) bool { return !v.Allowed && v.Denials[0].Code == "PluginFailed" }},
		{Ignore, Enforce, func(v ValidateResult) bool { return v.Allowed && strings.Contains(v.Warnings[0].Message, "(ignored)") }},
		{Fail, Warn, func(v ValidateResult) bool { return v.Allowed && len(v.Warnings) == 1 }},
		{Fail, Audit, func(v ValidateResult) bool {
			return v.Allowed && len(v.Audit) == 1 && v.Audit[0].Code == "PluginFailed"
		}},
	} {
		t.Run(string(tt.policy)+"/"+string(tt.mode), func(t *testing.T) {
			s := rawSpec(t, "raw", "error")
			s.FailurePolicy, s.Mode = tt.policy, tt.mode
			c := loadChain(t, s)
			v, err := c.Validate(ctx, seedRequest)
			if err != nil || !tt.check(v) || len(v.Errors) != 1 || !errors.Is(v.Errors[0], ErrPluginReported) {
				t.Fatalf("%+v %v", v, err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	dp := plugintest.BuildGo(t, "plugins/deny-privileged", false)
	ctx := context.Background()
	req := func(file string) Request {
		return Request{File: file, Manifest: []byte(privilegedManifest), Node: Node{Name: "n"}}
	}
	tests := []struct {
		name  string
		match Match
		file  string
		hit   bool
	}{
		{"empty matches all", Match{}, "/m/a.yaml", true},
		{"namespace hit", Match{Namespaces: []string{"kube-system"}}, "/m/a.yaml", true},
		{"namespace miss", Match{Namespaces: []string{"default"}}, "/m/a.yaml", false},
		{"selector hit", Match{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "control-plane"}}}, "/m/a.yaml", true},
		{"selector miss", Match{LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"control-plane"}}}}}, "/m/a.yaml", false},
		{"base name glob", Match{Files: []string{"kube-*.yaml"}}, "/etc/kubernetes/manifests/kube-apiserver.yaml", true},
		{"full path glob", Match{Files: []string{"/etc/kubernetes/manifests/*"}}, "/etc/kubernetes/manifests/x.json", true},
		{"glob miss", Match{Files: []string{"kube-*.yaml"}}, "/etc/kubernetes/manifests/etcd.yaml", false},
		{"all criteria", Match{Namespaces: []string{"kube-system"}, Files: []string{"etcd.yaml"}}, "/m/etcd.yaml", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := loadChain(t, Spec{Name: "dp", Path: dp, Match: tt.match})
			v, err := c.Validate(ctx, req(tt.file))
			if err != nil || v.Allowed == tt.hit {
				t.Fatalf("hit=%v: %+v %v", tt.hit, v, err)
			}
		})
	}
	// A pod without a namespace is in "default".
	c := loadChain(t, Spec{Name: "dp", Path: dp, Match: Match{Namespaces: []string{"default"}}})
	r := req("/m/a.yaml")
	r.Manifest = []byte(strings.Replace(privilegedManifest, `"namespace":"kube-system",`, "", 1))
	if v, _ := c.Validate(ctx, r); v.Allowed {
		t.Fatal("default namespace not matched")
	}
}

// TestHostilePlugins: every misbehaviour is contained, reported with the
// plugin's name and a sentinel kind, bounded in time, and the next call on
// the same chain works (the broken instance was rebuilt).
func TestHostilePlugins(t *testing.T) {
	ctx := context.Background()
	mem32 := resource.MustParse("32Mi")
	spec := rawSpec(t, "raw", "")
	spec.Timeout = dur(5 * time.Second)
	spec.MemoryLimit = &mem32
	c := loadChain(t, spec)
	loopSpec := spec
	loopSpec.Timeout = dur(200 * time.Millisecond)
	loopChain := loadChain(t, loopSpec)
	call := func(behavior string) (ValidateResult, time.Duration) {
		c := c
		if behavior == "loop" {
			c = loopChain
		}
		start := time.Now()
		v, err := c.Validate(ctx, Request{File: "/m/" + behavior + ".yaml", Manifest: []byte(seedManifest), Node: Node{Name: "n"}})
		if err != nil {
			t.Fatalf("%s: chain error %v", behavior, err)
		}
		return v, time.Since(start)
	}
	for _, tt := range []struct {
		behavior string
		kind     error
		text     string
	}{
		{"loop", ErrTimeout, "timed out after 200ms"},
		{"membomb", ErrOutOfMemory, "limit 33554432 bytes"},
		{"panic", ErrTrap, "raw plugin panics on purpose"},
		{"exit", ErrTrap, "exited with code 3"},
		{"giant", ErrResponseTooLarge, "5242880 bytes, the limit is 4194304"},
		{"invalid-json", ErrBadResponse, "invalid character"},
		{"out-of-bounds", ErrBadResponse, "outside the guest's memory"},
	} {
		t.Run(tt.behavior, func(t *testing.T) {
			v, took := call(tt.behavior)
			if v.Allowed || len(v.Errors) != 1 || !errors.Is(v.Errors[0], tt.kind) || !strings.Contains(v.Errors[0].Error(), tt.text) ||
				!strings.HasPrefix(v.Errors[0].Error(), "plugin raw: validate: ") {
				t.Fatalf("got %+v", v)
			}
			if took > 3*time.Second {
				t.Fatalf("took %v", took)
			}
			if v, _ := call("ok"); !v.Allowed {
				t.Fatalf("plugin not healthy after %s: %+v", tt.behavior, v)
			}
		})
	}
	t.Run("no filesystem, network or environment", func(t *testing.T) {
		for behavior, want := range map[string]string{
			"files":  "read 0 bytes, err=open /etc/passwd:",
			"socket": "connected=false err=",
			"env":    "env=0",
		} {
			v, _ := call(behavior)
			if len(v.Denials) != 1 || !strings.Contains(v.Denials[0].Message, want) {
				t.Errorf("%s: %+v", behavior, v)
			}
		}
	})
}

func TestTinyModules(t *testing.T) {
	ctx := context.Background()
	loop := writeTiny(t, tinyModule{abiVersion: 1, validate: []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x00}})
	trap := writeTiny(t, tinyModule{abiVersion: 1, validate: []byte{0x00}})
	ok := writeTiny(t, tinyModule{abiVersion: 1, response: `{"allowed":false}`})
	for _, opts := range []Options{{}, {DisableInterruptInstrumentation: true}} {
		c, err := LoadChain(ctx, []Spec{
			{Name: "loop", Path: loop, Timeout: dur(100 * time.Millisecond)},
			{Name: "trap", Path: trap},
			{Name: "ok", Path: ok},
		}, opts)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		v, err := c.Validate(ctx, seedRequest)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("took %v", took)
		}
		if err != nil || len(v.Errors) != 2 || !errors.Is(v.Errors[0], ErrTimeout) || !errors.Is(v.Errors[1], ErrTrap) ||
			v.Denials[2].Code != "Denied" {
			t.Fatalf("%+v %v", v, err)
		}
		if c.Plugins()[0].Interruptible == opts.DisableInterruptInstrumentation {
			t.Fatal("instrumentation choice not honoured")
		}
		c.Close(ctx)
	}
}

type capture struct {
	mu    sync.Mutex
	lines []string
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, string(p))
	return len(p), nil
}

func TestHostFunctions(t *testing.T) {
	out := &capture{}
	logger := hclog.New(&hclog.LoggerOptions{Output: out, Level: hclog.Trace})
	c, err := LoadChain(context.Background(), []Spec{rawSpec(t, "raw", "")}, Options{CacheDir: plugintest.CacheDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	v, _ := c.Validate(context.Background(), Request{File: "/m/log.yaml", Manifest: []byte(seedManifest)})
	if !v.Allowed {
		t.Fatalf("%+v", v)
	}
	out.mu.Lock()
	var logged int
	for _, l := range out.lines {
		if strings.Contains(l, "raw: xxx") {
			logged++
			if len(l) > DefaultLogMessageBytes+200 || !strings.Contains(l, "truncated=true") {
				t.Fatalf("not truncated: %d bytes", len(l))
			}
		}
	}
	out.mu.Unlock()
	if logged != DefaultLogBurst {
		t.Fatalf("logged %d of 200 messages, want the burst %d", logged, DefaultLogBurst)
	}
	v, _ = c.Validate(context.Background(), Request{File: "/m/node.yaml", Manifest: []byte(seedManifest), Node: Node{Name: "worker-long-name", Labels: map[string]string{"zone": "a"}}})
	if len(v.Denials) != 1 || v.Denials[0].Message != `worker-long-name {"zone":"a"}` {
		t.Fatalf("node facts: %+v", v)
	}
}

func TestNameMustBeDNSSubdomain(t *testing.T) {
	c := loadChain(t, Spec{Name: "nt", Path: plugintest.BuildGo(t, "plugins/name-template", false), Settings: json.RawMessage(`{"template":"{name}_{node}"}`)})
	n, err := c.Name(context.Background(), seedRequest)
	if err != nil || n.Name != "" || len(n.Errors) != 1 || !errors.Is(n.Errors[0], ErrBadResponse) || !strings.Contains(n.Errors[0].Error(), "not a DNS subdomain") || n.Allowed() {
		t.Fatalf("%+v %v", n, err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	c := loadChain(t, Spec{Name: "dp", Path: plugintest.BuildGo(t, "plugins/deny-privileged", false)})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				req := seedRequest
				if i%2 == 0 {
					req.Manifest = []byte(privilegedManifest)
				}
				v, err := c.Validate(context.Background(), req)
				if err != nil || v.Allowed == (i%2 == 0) {
					errs <- errors.New("wrong verdict")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestClosedChainAndCanceledContext(t *testing.T) {
	s := rawSpec(t, "raw", "loop")
	c, err := LoadChain(context.Background(), []Spec{s}, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Validate(ctx, seedRequest); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the caller's deadline, got %v", err)
	}
	c.Close(context.Background())
	if _, err := c.Validate(context.Background(), seedRequest); !errors.Is(err, ErrChainClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	dp := plugintest.BuildGo(t, "plugins/deny-privileged", false)
	a := loadChain(t, Spec{Name: "dp", Path: dp})
	b := loadChain(t, Spec{Name: "dp", Path: dp})
	c := loadChain(t, Spec{Name: "dp", Path: dp, Settings: json.RawMessage(`{"allowHostPID":true}`)})
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() == c.Fingerprint() {
		t.Fatal("fingerprint does not follow settings")
	}
}

func TestCompilationCacheDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	os.MkdirAll(dir, 0o777)
	c, err := LoadChain(context.Background(), []Spec{{Name: "t", Path: writeTiny(t, tinyModule{abiVersion: 1, response: `{"allowed":true}`})}}, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v", fi.Mode())
	}
}

// TestLoopingGuestDoesNotBlockGC: compiled Wasm cannot be preempted, so a
// guest in an endless loop must still reach Go regularly, or the Go
// runtime's stop-the-world (and with it the timer that interrupts the
// guest) would wait forever.
func TestLoopingGuestDoesNotBlockGC(t *testing.T) {
	s := rawSpec(t, "raw", "loop")
	s.Timeout = dur(2 * time.Second)
	c := loadChain(t, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Validate(context.Background(), seedRequest)
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	runtime.GC()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("GC took %v while a guest looped", took)
	}
	<-done
}

func TestObserveCall(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	opts := testOpts
	opts.ObserveCall = func(plugin string, op Operation, outcome string, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if took <= 0 {
			t.Errorf("%s %s: duration %s", plugin, op, took)
		}
		seen = append(seen, plugin+" "+string(op)+" "+outcome)
	}
	c, err := LoadChain(context.Background(), []Spec{{Name: "dp", Path: plugintest.BuildGo(t, "plugins/deny-privileged", false)}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	c.Validate(context.Background(), seedRequest)
	req := seedRequest
	req.Manifest = []byte(privilegedManifest)
	c.Validate(context.Background(), req)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ";") != "dp validate ok;dp validate denied" {
		t.Fatalf("observed %v", seen)
	}
}
