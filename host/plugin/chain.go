package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultMaxResponseBytes caps a plugin's response.
const DefaultMaxResponseBytes = 4 << 20

// Options tune LoadChain. The zero value works.
type Options struct {
	// CacheDir keeps compiled native code across restarts; created with
	// mode 0700. Empty means an in-memory cache shared by the process.
	CacheDir string
	// BaseDir resolves relative plugin paths (the config file's folder).
	BaseDir string
	// Logger receives plugin log messages (named after the plugin) and
	// the chain's decisions. Nil discards.
	Logger hclog.Logger
	// MaxInstancesPerPlugin bounds concurrent calls into one plugin; 0
	// means 2 (the agent's reconcile loop is the main caller).
	MaxInstancesPerPlugin int
	// MaxResponseBytes caps a response; 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int
	// LogPerSecond, LogBurst and LogMessageBytes cap plugin logging; 0
	// means the defaults.
	LogPerSecond, LogBurst, LogMessageBytes int
	// DisableInterruptInstrumentation makes timeouts use wazero's
	// WithCloseOnContextDone instead of the injected interrupt check
	// (slower; for comparison, see docs/RATIONALE.md).
	DisableInterruptInstrumentation bool
	// Interpreter uses wazero's interpreter instead of the compiler: fast
	// to load, slow to run (`staticlet plugin run` of a one-off call).
	Interpreter bool
	// ObserveCall, when set, is told of every plugin call: its operation,
	// outcome ("ok", "denied", "error", "timeout") and duration (metrics).
	ObserveCall func(plugin string, op Operation, outcome string, took time.Duration)

	// For benchmarks: a private compilation cache (to measure a restart)
	// and calls without any timeout enforcement (the floor).
	cacheOverride wazero.CompilationCache
	noTimeouts    bool
}

func (o *Options) logger() hclog.Logger {
	if o.Logger == nil {
		return hclog.NewNullLogger()
	}
	return o.Logger
}

func (o *Options) maxResponseBytes() int {
	if o.MaxResponseBytes > 0 {
		return o.MaxResponseBytes
	}
	return DefaultMaxResponseBytes
}

func (o *Options) logPerSecond() int {
	if o.LogPerSecond > 0 {
		return o.LogPerSecond
	}
	return DefaultLogPerSecond
}

func (o *Options) logBurst() int {
	if o.LogBurst > 0 {
		return o.LogBurst
	}
	return DefaultLogBurst
}

func (o *Options) logMessageBytes() int {
	if o.LogMessageBytes > 0 {
		return o.LogMessageBytes
	}
	return DefaultLogMessageBytes
}

// Compilation caches are shared per folder within the process, so a reload
// does not recompile unchanged modules even without a folder.
var (
	cachesMu sync.Mutex
	caches   = map[string]wazero.CompilationCache{}
)

func compilationCache(dir string) (wazero.CompilationCache, error) {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	if c, ok := caches[dir]; ok {
		return c, nil
	}
	var c wazero.CompilationCache
	if dir == "" {
		c = wazero.NewCompilationCache()
	} else {
		// The folder holds native code the agent will run: keep it
		// private to the agent's user.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("plugin compilation cache: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("plugin compilation cache: %w", err)
		}
		var err error
		if c, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			return nil, fmt.Errorf("plugin compilation cache %s: %w", dir, err)
		}
	}
	caches[dir] = c
	return c, nil
}

// Node is the node facts plugins see.
type Node struct {
	Name   string
	Labels map[string]string
}

// Request is one manifest to run through the chain.
type Request struct {
	// File is the manifest's path (for match.files and for plugins).
	File string
	// Source is "file" or "http".
	Source string
	// Manifest is the pod as JSON.
	Manifest []byte
	Node     Node
}

// Denial is one reason a plugin gave to reject a manifest. Mode says
// whether it is enforced (in ValidateResult.Denials) or audited.
type Denial struct {
	Plugin  string `json:"plugin"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Mode    Mode   `json:"mode"`
}

func (d Denial) String() string {
	s := fmt.Sprintf("%s: %s: %s", d.Plugin, d.Code, d.Message)
	if d.Field != "" {
		s += " (" + d.Field + ")"
	}
	return s
}

// Warning is a message that does not reject.
type Warning struct {
	Plugin  string `json:"plugin"`
	Message string `json:"message"`
}

// PluginError is a failed call: the error names the operation and says why
// (errors.Is with ErrTimeout, ErrTrap, ...).
type PluginError struct {
	Plugin        string        `json:"plugin"`
	Operation     Operation     `json:"operation"`
	FailurePolicy FailurePolicy `json:"failurePolicy"`
	Err           error         `json:"-"`
}

func (e PluginError) Error() string {
	return fmt.Sprintf("plugin %s: %s: %v", e.Plugin, e.Operation, e.Err)
}

func (e PluginError) Unwrap() error { return e.Err }

// MarshalJSON includes the error message.
func (e PluginError) MarshalJSON() ([]byte, error) {
	type plain PluginError
	return json.Marshal(struct {
		plain
		Error string `json:"error"`
	}{plain(e), e.Err.Error()})
}

// Report is what every operation returns besides its own result.
type Report struct {
	// Denials reject the manifest: enforced denials of validators and
	// errors of Fail-policy plugins in Enforce mode.
	Denials []Denial `json:"denials,omitempty"`
	// Warnings never reject: plugins' warnings, Warn-mode decisions,
	// Ignore-policy errors.
	Warnings []Warning `json:"warnings,omitempty"`
	// Audit holds Audit-mode decisions and errors, as denials with
	// Mode Audit (mutations and names as code "WouldMutate"/"WouldName").
	Audit []Denial `json:"audit,omitempty"`
	// Errors are all failed calls, whatever their policy.
	Errors []PluginError `json:"errors,omitempty"`
}

// Allowed reports whether nothing rejected the manifest.
func (r *Report) Allowed() bool { return len(r.Denials) == 0 }

// MutateResult is the outcome of the mutation stage.
type MutateResult struct {
	// Manifest is the final manifest (the input when nothing changed).
	Manifest []byte `json:"manifest"`
	// Changes lists the applied mutations, in order.
	Changes []PluginChange `json:"changes,omitempty"`
	Report
}

// PluginChange is one plugin's applied mutation as an RFC 6902 JSON patch.
type PluginChange struct {
	Plugin string `json:"plugin"`
	Patch  Patch  `json:"patch"`
}

// NameResult is the outcome of the naming stage.
type NameResult struct {
	// Name is the pod name, or "" for the default `<name>-<node>` rule.
	Name string `json:"name,omitempty"`
	// Plugin chose Name.
	Plugin string `json:"plugin,omitempty"`
	Report
}

// ValidateResult is the outcome of the validation stage.
type ValidateResult struct {
	Allowed bool `json:"allowed"`
	Report
}

// Chain is an immutable loaded chain, safe for concurrent use.
type Chain struct {
	plugins     []*loaded
	fingerprint string
	logger      hclog.Logger
	observe     func(plugin string, op Operation, outcome string, took time.Duration)

	mu     sync.RWMutex // calls hold it shared; Close exclusively
	closed bool
}

// LoadChain compiles, instantiates and checks every plugin. It fails, naming
// the plugin, on a bad spec, a missing file, a sha256 mismatch, an invalid
// module, a wrong ABI version, missing exports or settings the plugin
// rejects; nothing is left running then.
func LoadChain(ctx context.Context, specs []Spec, opts Options) (*Chain, error) {
	if err := ValidateSpecs(specs, "plugins"); err != nil {
		return nil, err
	}
	cache := opts.cacheOverride
	if cache == nil {
		var err error
		if cache, err = compilationCache(opts.CacheDir); err != nil {
			return nil, err
		}
	}
	c := &Chain{logger: opts.logger(), observe: opts.ObserveCall}
	fp := sha256.New()
	for i, spec := range specs {
		info, err := readModule(spec, opts.BaseDir)
		if err == nil {
			var p *loaded
			if p, err = loadPlugin(ctx, spec, i, info, &opts, cache); err == nil {
				c.plugins = append(c.plugins, p)
			}
		}
		if err != nil {
			_ = c.Close(ctx)
			return nil, fmt.Errorf("plugins[%d] (%s): %w", i, spec.Name, err)
		}
		specJSON, _ := json.Marshal(spec)
		fmt.Fprintf(fp, "%s\n%s\n", info.digest, specJSON)
	}
	c.fingerprint = hex.EncodeToString(fp.Sum(nil))
	return c, nil
}

// Fingerprint changes whenever any plugin's module bytes or spec (settings,
// mode, match, ...) change.
func (c *Chain) Fingerprint() string { return c.fingerprint }

// Len is the number of plugins.
func (c *Chain) Len() int { return len(c.plugins) }

// PluginInfo describes a loaded plugin.
type PluginInfo struct {
	Name       string
	Digest     string
	Operations []Operation
	Metadata   *Metadata
	// Interruptible says timeouts use the injected interrupt check.
	Interruptible bool
}

// Plugins describes the loaded plugins, in chain order.
func (c *Chain) Plugins() []PluginInfo {
	var out []PluginInfo
	for _, p := range c.plugins {
		info := PluginInfo{Name: p.spec.Name, Digest: p.digest, Metadata: p.metadata, Interruptible: p.interruptible}
		for _, op := range chainOperations {
			if p.ops[op] {
				info.Operations = append(info.Operations, op)
			}
		}
		out = append(out, info)
	}
	return out
}

// Close releases every plugin's runtime; it waits for calls in flight.
func (c *Chain) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, p := range c.plugins {
		if err := p.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close plugin %s: %w", p.spec.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Chain) enter() error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrChainClosed
	}
	return nil
}

// podFacts is what match rules look at.
type podFacts struct {
	Metadata struct {
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
}

func readPodFacts(manifest []byte) (podFacts, error) {
	var f podFacts
	if err := json.Unmarshal(manifest, &f); err != nil {
		return f, fmt.Errorf("manifest is not a JSON object: %w", err)
	}
	if f.Metadata.Namespace == "" {
		f.Metadata.Namespace = metav1.NamespaceDefault
	}
	return f, nil
}

func (p *loaded) matches(facts podFacts, file string) bool {
	m := p.spec.Match
	if len(m.Namespaces) > 0 && !contains(m.Namespaces, facts.Metadata.Namespace) {
		return false
	}
	if m.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(m.LabelSelector)
		if err != nil || !sel.Matches(labels.Set(facts.Metadata.Labels)) {
			return false
		}
	}
	if len(m.Files) > 0 {
		ok := false
		for _, g := range m.Files {
			if a, _ := path.Match(g, path.Base(file)); a {
				ok = true
			} else if b, _ := path.Match(g, file); b {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (p *loaded) request(op Operation, req Request, manifest []byte) wireRequest {
	return wireRequest{
		ABIVersion: ABIVersion,
		Operation:  op,
		File:       req.File,
		Source:     req.Source,
		Node:       wireNode{Name: req.Node.Name, Labels: req.Node.Labels},
		Settings:   p.settings,
		Manifest:   manifest,
	}
}

// run calls one plugin, recording a failure into rep according to its mode
// and failure policy. ok is false when the call failed.
func (c *Chain) run(ctx context.Context, p *loaded, op Operation, req Request, manifest []byte, rep *Report) (wireResponse, bool) {
	start := time.Now()
	resp, err := p.call(withNode(ctx, req.Node), op, p.request(op, req, manifest))
	if c.observe != nil {
		c.observe(p.spec.Name, op, callOutcome(resp, err), time.Since(start))
	}
	if err == nil {
		for _, w := range resp.Warnings {
			rep.Warnings = append(rep.Warnings, Warning{Plugin: p.spec.Name, Message: w})
		}
		return resp, true
	}
	c.record(p, op, err, rep)
	return resp, false
}

func (c *Chain) selected(op Operation, manifest []byte, file string) ([]*loaded, error) {
	facts, err := readPodFacts(manifest)
	if err != nil {
		return nil, err
	}
	var out []*loaded
	for _, p := range c.plugins {
		if p.ops[op] && p.matches(facts, file) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Mutate runs every matching mutator in chain order, each on the previous
// one's output. Errors are only returned for a closed chain, a canceled
// context or a request that is not a JSON object; plugin failures are in the
// result.
func (c *Chain) Mutate(ctx context.Context, req Request) (MutateResult, error) {
	if err := c.enter(); err != nil {
		return MutateResult{}, err
	}
	defer c.mu.RUnlock()
	res := MutateResult{Manifest: req.Manifest}
	facts, err := readPodFacts(req.Manifest)
	if err != nil {
		return res, fmt.Errorf("mutate %s: %w", req.File, err)
	}
	for _, p := range c.plugins {
		if !p.ops[OpMutate] || !p.matches(facts, req.File) {
			continue
		}
		resp, ok := c.run(ctx, p, OpMutate, req, res.Manifest, &res.Report)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("mutate %s: %w", req.File, err)
		}
		if !ok || len(resp.Manifest) == 0 || bytes.Equal(resp.Manifest, []byte("null")) {
			continue
		}
		patch, newManifest, err := checkMutation(res.Manifest, resp.Manifest)
		if err != nil {
			c.record(p, OpMutate, fmt.Errorf("%w: %w", ErrBadResponse, err), &res.Report)
			continue
		}
		if len(patch) == 0 {
			continue
		}
		switch p.spec.EffectiveMode() {
		case Enforce:
			res.Manifest = newManifest
			res.Changes = append(res.Changes, PluginChange{Plugin: p.spec.Name, Patch: patch})
			c.logger.Info("plugin mutated manifest", "plugin", p.spec.Name, "file", req.File, "patch", patch.String())
			if facts, err = readPodFacts(newManifest); err != nil {
				return res, fmt.Errorf("mutate %s: %w", req.File, err)
			}
		case Warn:
			res.Warnings = append(res.Warnings, Warning{Plugin: p.spec.Name, Message: "would change the manifest: " + patch.String()})
		case Audit:
			res.Audit = append(res.Audit, Denial{Plugin: p.spec.Name, Code: "WouldMutate", Message: patch.String(), Mode: Audit})
			c.logger.Info("audit: plugin would mutate manifest", "plugin", p.spec.Name, "file", req.File, "patch", patch.String())
		}
	}
	return res, nil
}

// record handles a failure found after a successful call (a response that
// makes no sense) like a failed call.
func (c *Chain) record(p *loaded, op Operation, err error, rep *Report) {
	perr := PluginError{Plugin: p.spec.Name, Operation: op, FailurePolicy: p.spec.EffectiveFailurePolicy(), Err: err}
	rep.Errors = append(rep.Errors, perr)
	c.logger.Warn("plugin failed", "plugin", p.spec.Name, "operation", op, "error", err)
	msg := fmt.Sprintf("%s failed: %v", op, err)
	switch mode := p.spec.EffectiveMode(); {
	case mode == Audit:
		rep.Audit = append(rep.Audit, Denial{Plugin: p.spec.Name, Code: "PluginFailed", Message: msg, Mode: Audit})
	case mode == Warn || perr.FailurePolicy == Ignore:
		rep.Warnings = append(rep.Warnings, Warning{Plugin: p.spec.Name, Message: msg + " (ignored)"})
	default:
		rep.Denials = append(rep.Denials, Denial{Plugin: p.spec.Name, Code: "PluginFailed", Message: msg, Mode: Enforce})
	}
}

// checkMutation accepts a mutated manifest only if it is still a v1 Pod
// JSON object, and returns the patch from old to it.
func checkMutation(old, mutated []byte) (Patch, []byte, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, mutated); err != nil {
		return nil, nil, fmt.Errorf("mutated manifest: %w", err)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(compact.Bytes(), &head); err != nil {
		return nil, nil, fmt.Errorf("mutated manifest is not a JSON object: %w", err)
	}
	if head.APIVersion != "v1" || head.Kind != "Pod" {
		return nil, nil, fmt.Errorf("mutated manifest is a %s %s, not a v1 Pod", head.APIVersion, head.Kind)
	}
	patch, err := Diff(old, compact.Bytes())
	if err != nil {
		return nil, nil, err
	}
	return patch, compact.Bytes(), nil
}

// Name asks the matching naming plugins, in chain order, for the pod name;
// the first enforced non-empty answer wins. A name that is not a DNS
// subdomain is a malformed response.
func (c *Chain) Name(ctx context.Context, req Request) (NameResult, error) {
	if err := c.enter(); err != nil {
		return NameResult{}, err
	}
	defer c.mu.RUnlock()
	var res NameResult
	plugins, err := c.selected(OpName, req.Manifest, req.File)
	if err != nil {
		return res, fmt.Errorf("name %s: %w", req.File, err)
	}
	for _, p := range plugins {
		resp, ok := c.run(ctx, p, OpName, req, req.Manifest, &res.Report)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("name %s: %w", req.File, err)
		}
		if !ok {
			continue
		}
		if resp.Name == nil {
			c.record(p, OpName, fmt.Errorf("%w: no \"name\" field", ErrBadResponse), &res.Report)
			continue
		}
		name := *resp.Name
		if name == "" {
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			c.record(p, OpName, fmt.Errorf("%w: name %q is not a DNS subdomain: %s", ErrBadResponse, name, strings.Join(msgs, "; ")), &res.Report)
			continue
		}
		switch p.spec.EffectiveMode() {
		case Enforce:
			res.Name, res.Plugin = name, p.spec.Name
			return res, nil
		case Warn:
			res.Warnings = append(res.Warnings, Warning{Plugin: p.spec.Name, Message: fmt.Sprintf("would name the pod %q", name)})
		case Audit:
			res.Audit = append(res.Audit, Denial{Plugin: p.spec.Name, Code: "WouldName", Message: name, Mode: Audit})
		}
	}
	return res, nil
}

// Validate runs every matching validator on the final manifest; all of them
// run, so every reason is reported at once.
func (c *Chain) Validate(ctx context.Context, req Request) (ValidateResult, error) {
	if err := c.enter(); err != nil {
		return ValidateResult{}, err
	}
	defer c.mu.RUnlock()
	var res ValidateResult
	plugins, err := c.selected(OpValidate, req.Manifest, req.File)
	if err != nil {
		return res, fmt.Errorf("validate %s: %w", req.File, err)
	}
	for _, p := range plugins {
		resp, ok := c.run(ctx, p, OpValidate, req, req.Manifest, &res.Report)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("validate %s: %w", req.File, err)
		}
		if !ok {
			continue
		}
		if resp.Allowed == nil {
			c.record(p, OpValidate, fmt.Errorf("%w: no \"allowed\" field", ErrBadResponse), &res.Report)
			continue
		}
		if *resp.Allowed {
			if len(resp.Denials) > 0 {
				c.record(p, OpValidate, fmt.Errorf("%w: allowed with %d denials", ErrBadResponse, len(resp.Denials)), &res.Report)
			}
			continue
		}
		if len(resp.Denials) == 0 {
			resp.Denials = []wireDenial{{Code: "Denied", Message: "denied without a reason"}}
		}
		mode := p.spec.EffectiveMode()
		for _, d := range resp.Denials {
			den := Denial{Plugin: p.spec.Name, Code: d.Code, Message: d.Message, Field: d.Field, Mode: mode}
			switch mode {
			case Enforce:
				res.Denials = append(res.Denials, den)
			case Warn:
				res.Warnings = append(res.Warnings, Warning{Plugin: p.spec.Name, Message: "would deny: " + den.String()})
			case Audit:
				res.Audit = append(res.Audit, den)
				c.logger.Info("audit: plugin would deny manifest", "plugin", p.spec.Name, "file", req.File, "denial", den.String())
			}
		}
	}
	res.Allowed = res.Report.Allowed()
	return res, nil
}

// callOutcome classifies a call for metrics.
func callOutcome(resp wireResponse, err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case err != nil:
		return "error"
	case len(resp.Denials) > 0 || (resp.Allowed != nil && !*resp.Allowed):
		return "denied"
	}
	return "ok"
}
