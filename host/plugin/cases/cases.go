// Package cases runs a plugin against folders of test cases, the format of
// `staticlet plugin test`: each case folder holds manifest.yaml (or
// manifest.json), case.yaml (operation, node, file, optional inline settings
// and the expectation) and optionally settings.yaml. It loads the plugin
// through the real host (package plugin) and sends it the request the agent
// would, built by the agent's admission pipeline (policy.RunOperation), so a
// case exercises the built .wasm exactly as the node does. A case whose
// settings the plugin rejects is a case like any other: it can expect the
// rejection. IO: it reads the case folders and the plugin file.
package cases

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/policy"
	"github.com/staticlet/staticlet/host/source"
)

// ErrInvalidCase marks a case folder that cannot be read.
var ErrInvalidCase = errors.New("invalid test case")

// Case is one test case.
type Case struct {
	// Name is the folder's name.
	Name string
	Dir  string
	File CaseFile
	// Manifest is the pod as JSON.
	Manifest []byte
	// Settings is nil when the case uses the default settings.
	Settings json.RawMessage
}

// CaseFile is the content of case.yaml.
type CaseFile struct {
	// Operation is validate (default), mutate or name.
	Operation plugin.Operation `json:"operation,omitempty"`
	Node      NodeFacts        `json:"node,omitempty"`
	// File is the manifest path the plugin sees; default
	// /etc/kubernetes/manifests/<case>.yaml.
	File     string          `json:"file,omitempty"`
	Settings json.RawMessage `json:"settings,omitempty"`
	Expect   Expect          `json:"expect"`
}

// NodeFacts are the node in a case; name defaults to "worker-1".
type NodeFacts struct {
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Expect is what the case requires; only the fields given are checked.
type Expect struct {
	// Allowed is the validate verdict.
	Allowed *bool `json:"allowed,omitempty"`
	// Denials must all be present (by code, and field when given); with
	// Allowed false and no Denials any denial passes.
	Denials []ExpectedDenial `json:"denials,omitempty"`
	// Warnings are substrings that some warning must contain.
	Warnings []string `json:"warnings,omitempty"`
	// Patch is the exact RFC 6902 patch a mutation must produce ([] for
	// none).
	Patch json.RawMessage `json:"patch,omitempty"`
	// Manifest is the exact mutated manifest.
	Manifest json.RawMessage `json:"manifest,omitempty"`
	// Name is the name a naming plugin must return ("" for the default).
	Name *string `json:"name,omitempty"`
	// Error is a substring of the plugin error the case expects: a failed
	// call, or the plugin refusing to load with the case's settings.
	Error string `json:"error,omitempty"`
	// SettingsRejected says the plugin must refuse the case's settings
	// (its validate_settings answers valid: false); Error can narrow the
	// message down.
	SettingsRejected bool `json:"settingsRejected,omitempty"`
}

// ExpectedDenial matches a denial.
type ExpectedDenial struct {
	Code            string `json:"code"`
	Field           string `json:"field,omitempty"`
	MessageContains string `json:"messageContains,omitempty"`
}

// Load reads dir as one case (if it holds case.yaml) or every sub-folder
// holding one, in name order.
func Load(dir string) ([]Case, error) {
	if _, err := os.Stat(filepath.Join(dir, "case.yaml")); err == nil {
		c, err := loadCase(dir)
		if err != nil {
			return nil, err
		}
		return []Case{c}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	var out []Case
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, "case.yaml")); err != nil {
			continue
		}
		c, err := loadCase(sub)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w: no case.yaml in it or its sub-folders", dir, ErrInvalidCase)
	}
	return out, nil
}

func loadCase(dir string) (Case, error) {
	c := Case{Name: filepath.Base(dir), Dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if err != nil {
		return c, fmt.Errorf("read case: %w", err)
	}
	if err := yaml.UnmarshalStrict(data, &c.File); err != nil {
		return c, fmt.Errorf("%s: %w: %w", filepath.Join(dir, "case.yaml"), ErrInvalidCase, err)
	}
	switch c.File.Operation {
	case "":
		c.File.Operation = plugin.OpValidate
	case plugin.OpValidate, plugin.OpMutate, plugin.OpName:
	default:
		return c, fmt.Errorf("%s: operation: %w: %q is not validate, mutate or name", filepath.Join(dir, "case.yaml"), ErrInvalidCase, c.File.Operation)
	}
	if c.File.Node.Name == "" {
		c.File.Node.Name = "worker-1"
	}
	if c.File.File == "" {
		c.File.File = "/etc/kubernetes/manifests/" + c.Name + ".yaml"
	}
	for _, name := range []string{"manifest.yaml", "manifest.yml", "manifest.json"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if c.Manifest, err = yaml.YAMLToJSON(raw); err != nil {
			return c, fmt.Errorf("%s: %w: %w", filepath.Join(dir, name), ErrInvalidCase, err)
		}
		break
	}
	if c.Manifest == nil {
		return c, fmt.Errorf("%s: %w: no manifest.yaml", dir, ErrInvalidCase)
	}
	c.Settings = c.File.Settings
	if raw, err := os.ReadFile(filepath.Join(dir, "settings.yaml")); err == nil {
		if c.Settings, err = yaml.YAMLToJSON(raw); err != nil {
			return c, fmt.Errorf("%s: %w: %w", filepath.Join(dir, "settings.yaml"), ErrInvalidCase, err)
		}
	}
	return c, nil
}

// Outcome is one case's result.
type Outcome struct {
	Case Case
	Pass bool
	// Diff explains a failure: expected and actual, line by line.
	Diff string
	// Actual is what the plugin did, as YAML.
	Actual string
}

// Runner loads the plugin once per distinct settings.
type Runner struct {
	Path string
	// DefaultSettings apply to cases without their own.
	DefaultSettings json.RawMessage
	// Spec, when set, is the plugin's spec for every case (timeout,
	// memoryLimit, ...); its name, path and settings are the Runner's.
	Spec    plugin.Spec
	Options plugin.Options
	chains  map[string]*plugin.Chain
	// loadErrs are the load failures, by settings, so each is tried once.
	loadErrs map[string]error
}

// Close releases the loaded plugins.
func (r *Runner) Close(ctx context.Context) {
	for _, c := range r.chains {
		_ = c.Close(ctx)
	}
}

func (r *Runner) chain(ctx context.Context, settings json.RawMessage) (*plugin.Chain, error) {
	if r.chains == nil {
		r.chains, r.loadErrs = map[string]*plugin.Chain{}, map[string]error{}
	}
	key := string(settings)
	if c, ok := r.chains[key]; ok {
		return c, nil
	}
	if err, ok := r.loadErrs[key]; ok {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(r.Path), filepath.Ext(r.Path))
	if len(name) > 63 || name == "" {
		name = "plugin"
	}
	spec := r.Spec
	spec.Name, spec.Path, spec.Settings = sanitize(name), r.Path, settings
	c, err := plugin.LoadChain(ctx, []plugin.Spec{spec}, r.Options)
	if err != nil {
		r.loadErrs[key] = err
		return nil, err
	}
	r.chains[key] = c
	return c, nil
}

func sanitize(name string) string {
	var b strings.Builder
	for _, ch := range strings.ToLower(name) {
		if (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' {
			b.WriteRune(ch)
		} else {
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// actual is what a case's plugin run produced, in the shape of Expect.
type actual struct {
	Allowed  *bool           `json:"allowed,omitempty"`
	Denials  []plugin.Denial `json:"denials,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Patch    plugin.Patch    `json:"patch,omitempty"`
	Manifest json.RawMessage `json:"manifest,omitempty"`
	Name     *string         `json:"name,omitempty"`
	Errors   []string        `json:"errors,omitempty"`
	// LoadError is why the plugin refused to load with the case's
	// settings; nothing ran then.
	LoadError        string `json:"loadError,omitempty"`
	SettingsRejected bool   `json:"settingsRejected,omitempty"`
	// Rejected holds the agent's reasons when it rejected the manifest
	// before the plugin's operation was reached.
	Rejected []string `json:"rejectedBeforeThePlugin,omitempty"`
}

// Run runs one case: the plugin loaded with the case's settings, the
// manifest passed through the agent's admission pipeline with the plugin
// answering the case's operation. A plugin that refuses to load is the
// case's outcome, not an error; an error means the case could not run at
// all (the chain failed or ctx ended).
func (r *Runner) Run(ctx context.Context, c Case) (Outcome, error) {
	settings := c.Settings
	if settings == nil {
		settings = r.DefaultSettings
	}
	var got actual
	chain, err := r.chain(ctx, settings)
	if err != nil {
		got.LoadError = err.Error()
		got.SettingsRejected = errors.Is(err, plugin.ErrSettingsRejected)
		return compare(c, got), nil
	}
	file := source.File{Source: source.NameFile, Path: c.File.File, Content: c.Manifest}
	node := plugin.Node{Name: c.File.Node.Name, Labels: c.File.Node.Labels}
	res, err := policy.RunOperation(ctx, chain, c.File.Operation, file, node, time.Now())
	if err != nil {
		return Outcome{Case: c}, err
	}
	if !res.Called {
		for _, reason := range res.Admission.Reasons {
			got.Rejected = append(got.Rejected, reason.String())
		}
		return compare(c, got), nil
	}
	switch c.File.Operation {
	case plugin.OpValidate:
		got.Allowed = &res.Validate.Allowed
	case plugin.OpMutate:
		got.Patch = plugin.Patch{}
		for _, ch := range res.Mutate.Changes {
			got.Patch = append(got.Patch, ch.Patch...)
		}
		got.Manifest = res.Mutate.Manifest
	case plugin.OpName:
		got.Name = &res.Name.Name
	}
	rep := res.Report()
	for _, e := range rep.Errors {
		got.Errors = append(got.Errors, e.Err.Error())
	}
	for _, d := range rep.Denials {
		if d.Code != "PluginFailed" {
			got.Denials = append(got.Denials, d)
		}
	}
	for _, w := range rep.Warnings {
		got.Warnings = append(got.Warnings, w.Message)
	}
	return compare(c, got), nil
}

func compare(c Case, got actual) Outcome {
	exp := c.File.Expect
	out := Outcome{Case: c, Actual: toYAML(got)}
	var problems []string
	switch {
	case got.LoadError != "":
		// Nothing ran: only the expectations about loading apply.
		if !exp.SettingsRejected && exp.Error == "" {
			problems = append(problems, "the plugin refused to load: "+got.LoadError)
		}
		if exp.SettingsRejected && !got.SettingsRejected {
			problems = append(problems, "expected the settings to be rejected; the plugin failed to load for another reason: "+got.LoadError)
		}
		if exp.Error != "" && !strings.Contains(got.LoadError, exp.Error) {
			problems = append(problems, fmt.Sprintf("expected a load error containing %q, got %q", exp.Error, got.LoadError))
		}
		return finish(out, problems)
	case exp.SettingsRejected:
		problems = append(problems, "expected the plugin to reject the settings; it accepted them")
	case len(got.Rejected) > 0:
		problems = append(problems, "the agent rejects the manifest before the plugin's "+string(c.File.Operation)+" is called: "+strings.Join(got.Rejected, "; "))
		return finish(out, problems)
	}
	if exp.Error == "" && len(got.Errors) > 0 {
		problems = append(problems, "unexpected plugin error: "+strings.Join(got.Errors, "; "))
	}
	if exp.Error != "" && !slices.ContainsFunc(got.Errors, func(e string) bool { return strings.Contains(e, exp.Error) }) {
		problems = append(problems, fmt.Sprintf("expected a plugin error containing %q, got %v", exp.Error, got.Errors))
	}
	if exp.Allowed != nil && got.Allowed != nil && *exp.Allowed != *got.Allowed {
		problems = append(problems, fmt.Sprintf("allowed: expected %v, got %v", *exp.Allowed, *got.Allowed))
	}
	for _, want := range exp.Denials {
		if !slices.ContainsFunc(got.Denials, func(d plugin.Denial) bool {
			return d.Code == want.Code && (want.Field == "" || d.Field == want.Field) &&
				(want.MessageContains == "" || strings.Contains(d.Message, want.MessageContains))
		}) {
			problems = append(problems, fmt.Sprintf("missing denial %s", toYAMLLine(want)))
		}
	}
	if exp.Allowed != nil && *exp.Allowed && len(exp.Denials) == 0 && len(got.Denials) > 0 {
		// covered by allowed, but say which denials came
		problems = append(problems, fmt.Sprintf("unexpected denials: %s", toYAMLLine(got.Denials)))
	}
	for _, w := range exp.Warnings {
		if !slices.ContainsFunc(got.Warnings, func(g string) bool { return strings.Contains(g, w) }) {
			problems = append(problems, fmt.Sprintf("missing warning containing %q", w))
		}
	}
	if exp.Patch != nil {
		if d := jsonDiff(exp.Patch, mustJSON(got.Patch)); d != "" {
			problems = append(problems, "patch differs:\n"+d)
		}
	}
	if exp.Manifest != nil {
		if d := jsonDiff(exp.Manifest, got.Manifest); d != "" {
			problems = append(problems, "manifest differs:\n"+d)
		}
	}
	if exp.Name != nil && got.Name != nil && *exp.Name != *got.Name {
		problems = append(problems, fmt.Sprintf("name: expected %q, got %q", *exp.Name, *got.Name))
	}
	return finish(out, problems)
}

func finish(out Outcome, problems []string) Outcome {
	out.Pass = len(problems) == 0
	if !out.Pass {
		out.Diff = strings.Join(problems, "\n")
	}
	return out
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		return []byte(fmt.Sprintf("%q", err.Error()))
	}
	return data
}

func toYAML(v any) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(data)
}

func toYAMLLine(v any) string {
	return strings.TrimSpace(string(mustJSON(v)))
}

// jsonDiff compares two JSON documents semantically and returns a line
// diff of their YAML forms, or "" when equal.
func jsonDiff(want, got []byte) string {
	var a, b any
	if json.Unmarshal(want, &a) != nil || json.Unmarshal(got, &b) != nil {
		if bytes.Equal(want, got) {
			return ""
		}
		return fmt.Sprintf("- %s\n+ %s", want, got)
	}
	ya, yb := toYAML(a), toYAML(b)
	if ya == yb {
		return ""
	}
	return LineDiff(ya, yb)
}

// LineDiff is a minimal unified-style diff: "-" lines only in want, "+"
// lines only in got, "  " common lines.
func LineDiff(want, got string) string {
	a := strings.Split(strings.TrimRight(want, "\n"), "\n")
	b := strings.Split(strings.TrimRight(got, "\n"), "\n")
	// longest common subsequence table
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out.WriteString("  " + a[i] + "\n")
			i++
			j++
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + a[i] + "\n")
			i++
		default:
			out.WriteString("+ " + b[j] + "\n")
			j++
		}
	}
	return out.String()
}
