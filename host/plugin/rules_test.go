package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// rulesManifest is a pod in the default namespace, with no namespace
// written.
const rulesManifest = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`

func ruleBreaker(t testing.TB, name, behavior string) Spec {
	s := Spec{Name: name, Path: plugintest.BuildGo(t, "host/plugin/testdata/rulebreaker", false)}
	if behavior != "" {
		s.Settings = json.RawMessage(`{"behavior":"` + behavior + `"}`)
	}
	return s
}

func rulesRequest(file string) Request {
	return Request{File: file, Source: "file", Manifest: []byte(rulesManifest), Node: Node{Name: "worker-1"}}
}

func TestSanitizeText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text, ünïcode ✓", "plain text, ünïcode ✓"},
		{"a\nb\r\tc", `a\nb\r\tc`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"bell\x07 del\x7f nul\x00", `bell\x07 del\x7f nul\x00`},
		{"c1 \u0085 \u009b sep \u2028", `c1 \u0085 \u009b sep \u2028`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{`back\slash \n`, `back\\slash \\n`},
	} {
		if got := SanitizeText(tt.in, 0); got != tt.want {
			t.Errorf("SanitizeText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := SanitizeText(strings.Repeat("x", 5000), 1000); got != strings.Repeat("x", 1000)+"…(4000 more bytes)" {
		t.Errorf("cap: %q", got)
	}
	// The cap does not split a rune: "é" is two bytes.
	if got := SanitizeText("aé", 2); got != "a…(2 more bytes)" {
		t.Errorf("cap inside a rune: %q", got)
	}
	err := sanitizeError(fmt.Errorf("%w: line\nforged", ErrPluginReported), 100)
	if !errors.Is(err, ErrPluginReported) || err.Error() != `plugin reported an error: line\nforged` {
		t.Errorf("sanitizeError: %v", err)
	}
}

// oneLine fails unless s is a single line with no terminal escape.
func oneLine(t *testing.T, what, s string) {
	t.Helper()
	if strings.ContainsAny(s, "\n\r\x1b\x07") {
		t.Errorf("%s is not one escaped line: %q", what, s)
	}
}

func TestPluginTextIsEscapedAndCapped(t *testing.T) {
	ctx := context.Background()
	var logBuf bytes.Buffer
	var mu sync.Mutex
	opts := testOpts
	opts.Logger = hclog.New(&hclog.LoggerOptions{Output: lockedWriter{&mu, &logBuf}, Level: hclog.Trace})
	spec := ruleBreaker(t, "rb", "")
	mem := resource.MustParse("64Mi") // room for the flood responses
	spec.MemoryLimit = &mem
	c, err := LoadChain(ctx, []Spec{spec}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)

	t.Run("control characters", func(t *testing.T) {
		v, err := c.Validate(ctx, rulesRequest("/m/forge.yaml"))
		if err != nil || v.Allowed || len(v.Denials) != 1 || len(v.Warnings) != 1 {
			t.Fatalf("%+v %v", v, err)
		}
		d := v.Denials[0]
		for what, s := range map[string]string{"code": d.Code, "message": d.Message, "field": d.Field, "warning": v.Warnings[0].Message, "denial": d.String()} {
			oneLine(t, what, s)
		}
		if !strings.Contains(d.Message, `first line\n2026-01-01T00:00:00Z [INFO] forged: line\r\x1b[31mred`) {
			t.Errorf("message not escaped as expected: %q", d.Message)
		}
		mu.Lock()
		logged := logBuf.String()
		mu.Unlock()
		lines := strings.Split(strings.TrimRight(logged, "\n"), "\n")
		forgedLines := 0
		for _, l := range lines {
			if strings.Contains(l, "forged: line") {
				forgedLines++
				oneLine(t, "log line", l)
			}
		}
		if forgedLines != 1 || strings.Contains(logged, "\x1b") || strings.Contains(logged, "\n2026-01-01") {
			t.Errorf("the plugin's log message is not one escaped line:\n%s", logged)
		}
	})

	t.Run("a 4 MB error", func(t *testing.T) {
		mu.Lock()
		logBuf.Reset()
		mu.Unlock()
		v, err := c.Validate(ctx, rulesRequest("/m/huge-error.yaml"))
		if err != nil || len(v.Errors) != 1 || !errors.Is(v.Errors[0], ErrPluginReported) || len(v.Denials) != 1 {
			t.Fatalf("%+v %v", v, err)
		}
		msg := v.Errors[0].Error()
		if len(msg) > MaxErrorBytes+200 || !strings.Contains(msg, "more bytes)") {
			t.Errorf("error not capped: %d bytes, ends %q", len(msg), msg[max(0, len(msg)-60):])
		}
		oneLine(t, "error", msg)
		if den := v.Denials[0].Message; len(den) > MaxErrorBytes+200 {
			t.Errorf("denial for the error not capped: %d bytes", len(den))
		}
		out, _ := json.Marshal(v.Errors[0])
		if len(out) > MaxErrorBytes+400 {
			t.Errorf("error JSON not capped: %d bytes", len(out))
		}
		mu.Lock()
		logged := logBuf.String()
		mu.Unlock()
		if len(logged) > MaxErrorBytes+1000 || strings.Count(strings.TrimRight(logged, "\n"), "\n") != 0 {
			t.Errorf("agent log of the failure: %d bytes, %d lines", len(logged), strings.Count(logged, "\n"))
		}
	})

	t.Run("150,001 denials and 150 warnings", func(t *testing.T) {
		v, err := c.Validate(ctx, rulesRequest("/m/many-denials.yaml"))
		if err != nil || v.Allowed {
			t.Fatalf("%+v %v", v.Errors, err)
		}
		if len(v.Denials) != MaxDenialsPerCall+1 || v.Denials[MaxDenialsPerCall].Code != "TooManyDenials" ||
			v.Denials[MaxDenialsPerCall].Message != "(149901 more denials)" {
			t.Errorf("denials: %d, last %+v", len(v.Denials), v.Denials[len(v.Denials)-1])
		}
		if len(v.Warnings) != MaxWarningsPerCall+1 || v.Warnings[MaxWarningsPerCall].Message != "(50 more warnings)" {
			t.Errorf("warnings: %d: %+v", len(v.Warnings), v.Warnings)
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestForbiddenMutations(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ behavior, field string }{
		{"rename", `metadata.name: changed from "web" to "etcd"`},
		{"move", `metadata.namespace: changed from "default" to "kube-system"`},
	} {
		t.Run(tt.behavior, func(t *testing.T) {
			c := loadChain(t, ruleBreaker(t, "rb", tt.behavior))
			m, err := c.Mutate(ctx, rulesRequest("/m/web.yaml"))
			if err != nil || len(m.Errors) != 1 || !errors.Is(m.Errors[0], ErrForbiddenMutation) ||
				!strings.Contains(m.Errors[0].Error(), tt.field) || len(m.Changes) != 0 || string(m.Manifest) != rulesManifest {
				t.Fatalf("%+v %v", m, err)
			}
			if m.Allowed() || m.Denials[0].Code != "PluginFailed" {
				t.Errorf("failurePolicy Fail should deny: %+v", m.Report)
			}
			ignore := ruleBreaker(t, "rb", tt.behavior)
			ignore.FailurePolicy = Ignore
			c = loadChain(t, ignore)
			m, _ = c.Mutate(ctx, rulesRequest("/m/web.yaml"))
			if !m.Allowed() || len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0].Message, "forbidden mutation") || string(m.Manifest) != rulesManifest {
				t.Errorf("failurePolicy Ignore should skip with a warning: %+v", m)
			}
		})
	}
	t.Run("labels may change", func(t *testing.T) {
		c := loadChain(t, ruleBreaker(t, "rb", "relabel"))
		m, err := c.Mutate(ctx, rulesRequest("/m/web.yaml"))
		if err != nil || len(m.Errors) != 0 || len(m.Changes) != 1 {
			t.Fatalf("%+v %v", m, err)
		}
	})
	t.Run("an explicit default namespace is no move", func(t *testing.T) {
		_, _, err := checkMutation([]byte(rulesManifest), []byte(strings.Replace(rulesManifest, `"name":"web"`, `"name":"web","namespace":"default"`, 1)))
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestMatchIsDecidedOnTheManifestAsRead: a mutation that changes labels
// (or, were it allowed, the namespace) cannot change which plugins run
// after it.
func TestMatchIsDecidedOnTheManifestAsRead(t *testing.T) {
	ctx := context.Background()
	relabel := ruleBreaker(t, "relabel", "relabel")
	echoExempt := ruleBreaker(t, "echo", "echo")
	echoExempt.Match.LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "exempt"}}
	c := loadChain(t, relabel, echoExempt)
	m, err := c.Mutate(ctx, rulesRequest("/m/web.yaml"))
	if err != nil || len(m.Errors) != 0 || len(m.Changes) != 1 || m.Changes[0].Plugin != "relabel" {
		t.Fatalf("the echo plugin matched the mutated labels: %+v %v", m, err)
	}
	// Validate and name see the mutated pod but match on the one read.
	req := rulesRequest("/m/web.yaml")
	req.AsRead, req.Manifest = req.Manifest, m.Manifest
	v, err := c.Validate(ctx, req)
	if err != nil || !v.Allowed {
		t.Fatalf("the echo validator matched the mutated labels: %+v %v", v, err)
	}
	req.AsRead = nil
	if v, _ := c.Validate(ctx, req); v.Allowed {
		t.Fatalf("without AsRead the manifest itself decides: %+v", v)
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)}
	type entered struct {
		plugin string
		until  time.Time
		cause  error
	}
	var mu sync.Mutex
	var quarantines []entered
	var outcomes []string
	opts := testOpts
	opts.Now = clock.Now
	opts.QuarantineAfter = 2
	opts.QuarantineBackoff = 30 * time.Second
	opts.QuarantineMaxBackoff = 45 * time.Second
	opts.OnQuarantine = func(plugin string, until time.Time, cause error) {
		mu.Lock()
		defer mu.Unlock()
		quarantines = append(quarantines, entered{plugin, until, cause})
	}
	opts.ObserveCall = func(plugin string, op Operation, outcome string, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, outcome)
	}
	spec := ruleBreaker(t, "rb", "")
	spec.Timeout = dur(100 * time.Millisecond)
	ignored := spec
	ignored.Name, ignored.FailurePolicy = "ignored", Ignore
	c, err := LoadChain(ctx, []Spec{spec, ignored}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	validate := func(file string) (ValidateResult, time.Duration) {
		start := time.Now()
		v, err := c.Validate(ctx, rulesRequest(file))
		if err != nil {
			t.Fatal(err)
		}
		return v, time.Since(start)
	}
	kinds := func(v ValidateResult) []error {
		var out []error
		for _, e := range v.Errors {
			for _, k := range []error{ErrTimeout, ErrQuarantined} {
				if errors.Is(e, k) {
					out = append(out, k)
				}
			}
		}
		return out
	}

	// Two timeouts each: both plugins are quarantined for 30 s.
	for range 2 {
		if v, _ := validate("/m/loop.yaml"); len(kinds(v)) != 2 || kinds(v)[0] != ErrTimeout {
			t.Fatalf("want two timeouts: %+v", v.Errors)
		}
	}
	mu.Lock()
	if len(quarantines) != 2 || quarantines[0].plugin != "rb" || !quarantines[0].until.Equal(clock.Now().Add(30*time.Second)) ||
		!errors.Is(quarantines[0].cause, ErrTimeout) {
		t.Fatalf("OnQuarantine: %+v", quarantines)
	}
	mu.Unlock()
	for _, info := range c.Plugins() {
		if !info.Quarantine.Until.Equal(clock.Now().Add(30*time.Second)) || info.Quarantine.ConsecutiveTimeouts != 2 {
			t.Fatalf("Plugins: %+v", info)
		}
	}
	// Quarantined: even a manifest the plugin would allow fails at once;
	// the failurePolicy decides (Fail denies, Ignore warns).
	v, took := validate("/m/ok.yaml")
	if took > 50*time.Millisecond || len(kinds(v)) != 2 || kinds(v)[0] != ErrQuarantined || kinds(v)[1] != ErrQuarantined {
		t.Fatalf("quarantined calls: took %v, %+v", took, v.Errors)
	}
	if v.Allowed || len(v.Denials) != 1 || v.Denials[0].Plugin != "rb" || len(v.Warnings) != 1 || v.Warnings[0].Plugin != "ignored" {
		t.Fatalf("failure policies: %+v", v.Report)
	}
	mu.Lock()
	if last := outcomes[len(outcomes)-1]; last != "quarantined" {
		t.Errorf("ObserveCall outcome %q", last)
	}
	mu.Unlock()

	// After the back-off, one more timeout quarantines again at once, for
	// twice as long (capped at 45 s).
	clock.Advance(31 * time.Second)
	validate("/m/loop.yaml")
	if got := c.Plugins()[0].Quarantine.Until; !got.Equal(clock.Now().Add(45 * time.Second)) {
		t.Fatalf("second quarantine until %v, want now+45s", got)
	}
	// After it, a call that does not time out clears the quarantine.
	clock.Advance(46 * time.Second)
	if v, _ := validate("/m/ok.yaml"); !v.Allowed || len(v.Errors) != 0 {
		t.Fatalf("after the quarantine: %+v", v)
	}
	for _, info := range c.Plugins() {
		if info.Quarantine != (QuarantineState{}) {
			t.Fatalf("not cleared: %+v", info)
		}
	}
	// Cleared means counting from zero: one timeout does not quarantine.
	validate("/m/loop.yaml")
	if v, _ := validate("/m/ok.yaml"); !v.Allowed {
		t.Fatalf("one timeout quarantined: %+v", v)
	}
}

func TestQuarantineDisabled(t *testing.T) {
	q := &quarantine{policy: quarantinePolicy{after: -1, backoff: time.Second, maxBackoff: time.Second}}
	now := time.Now()
	for range 10 {
		if entered, _ := q.record(now, true); entered {
			t.Fatal("quarantined with QuarantineAfter < 0")
		}
	}
	if err := q.admit(now); err != nil {
		t.Fatal(err)
	}
}
