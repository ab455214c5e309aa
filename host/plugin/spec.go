package plugin

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/staticlet/staticlet/host/plugin/oci"
)

// Defaults of a Spec's optional fields.
const (
	DefaultTimeout     = time.Second
	DefaultMemoryLimit = 16 << 20
	// MaxTimeout bounds a per-call timeout: a plugin slower than this blocks
	// the agent's reconcile loop for too long to be a sane policy.
	MaxTimeout = time.Minute
	// MinMemoryLimit is one Wasm page; real modules need more (a Go guest
	// declares about 42 pages), which LoadChain reports with the module's
	// own minimum.
	MinMemoryLimit = 64 << 10
	// MaxMemoryLimit is the 32-bit Wasm address space.
	MaxMemoryLimit = 4 << 30
)

// FailurePolicy says what a plugin error (trap, timeout, out of memory,
// malformed response, error reported by the plugin) means for the manifest.
type FailurePolicy string

// Failure policies.
const (
	// Fail rejects the manifest; it is the default, so a broken policy
	// does not silently admit everything.
	Fail FailurePolicy = "Fail"
	// Ignore skips the plugin, with a warning.
	Ignore FailurePolicy = "Ignore"
)

// Mode says whether a plugin's decisions are enforced.
type Mode string

// Modes.
const (
	// Enforce applies mutations and names and rejects on denials (default).
	Enforce Mode = "Enforce"
	// Warn turns denials, mutations and names into warnings.
	Warn Mode = "Warn"
	// Audit logs and reports decisions in the results' Audit lists only.
	Audit Mode = "Audit"
)

// Spec is one entry of the `plugins:` list in StaticletConfiguration.
type Spec struct {
	// Name identifies the plugin in results, logs and errors; unique in a
	// chain.
	Name string `json:"name"`
	// Path is the .wasm file; relative paths are relative to
	// Options.BaseDir.
	Path string `json:"path"`
	// SHA256, when set, is the hex digest the file must match.
	SHA256 string `json:"sha256,omitempty"`
	// Settings are handed to the plugin as JSON.
	Settings json.RawMessage `json:"settings,omitempty"`
	// FailurePolicy defaults to Fail.
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`
	// Mode defaults to Enforce.
	Mode Mode `json:"mode,omitempty"`
	// Match restricts which manifests the plugin sees; empty matches all.
	Match Match `json:"match,omitempty"`
	// Timeout bounds each call; defaults to DefaultTimeout.
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// MemoryLimit caps the plugin's linear memory (bytes or a quantity such
	// as "16Mi"); defaults to DefaultMemoryLimit.
	MemoryLimit *resource.Quantity `json:"memoryLimit,omitempty"`
	// ABI is the module's guest interface: staticlet (the default) or opa,
	// an OPA-compiled module (`opa build -t wasm`) evaluated at Entrypoint
	// as a validate plugin, its settings as Gatekeeper's parameters.
	ABI ABI `json:"abi,omitempty"`
	// Entrypoint is the OPA entrypoint to evaluate (`k8spspprivileged/violation`,
	// as given to `opa build -e`); required with abi opa, refused otherwise.
	Entrypoint string `json:"entrypoint,omitempty"`
}

// Match selects manifests. All given criteria must hold.
type Match struct {
	// Namespaces the pod must be in (a pod without a namespace is in
	// "default").
	Namespaces []string `json:"namespaces,omitempty"`
	// LabelSelector the pod's labels must match.
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// Files are globs (path.Match syntax); the manifest's file matches if its
	// base name or its full path matches any of them.
	Files []string `json:"files,omitempty"`
}

// EffectiveTimeout is Timeout with the default applied.
func (s Spec) EffectiveTimeout() time.Duration {
	if s.Timeout == nil {
		return DefaultTimeout
	}
	return s.Timeout.Duration
}

// EffectiveMemoryLimit is MemoryLimit in bytes with the default applied.
func (s Spec) EffectiveMemoryLimit() int64 {
	if s.MemoryLimit == nil {
		return DefaultMemoryLimit
	}
	return s.MemoryLimit.Value()
}

// EffectiveFailurePolicy is FailurePolicy with the default applied.
func (s Spec) EffectiveFailurePolicy() FailurePolicy {
	if s.FailurePolicy == "" {
		return Fail
	}
	return s.FailurePolicy
}

// EffectiveMode is Mode with the default applied.
func (s Spec) EffectiveMode() Mode {
	if s.Mode == "" {
		return Enforce
	}
	return s.Mode
}

// Validate checks one spec; fldPath prefixes field names in errors (e.g.
// "plugins[2]"). Every bad field is reported, joined.
func (s Spec) Validate(fldPath string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %w: %s", fldPath, field, ErrInvalidSpec, fmt.Sprintf(format, args...)))
	}
	if s.Name == "" {
		bad("name", "must not be empty")
	} else if msgs := validation.IsDNS1123Label(s.Name); len(msgs) > 0 {
		bad("name", "%q: %s", s.Name, strings.Join(msgs, "; "))
	}
	if s.Path == "" {
		bad("path", "must not be empty")
	} else if oci.IsReference(s.Path) {
		if _, err := oci.ParseReference(s.Path); err != nil {
			errs = append(errs, fmt.Errorf("%s.path: %w: %w", fldPath, ErrInvalidSpec, err))
		}
	}
	if s.SHA256 != "" {
		if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != 32 {
			hint := ""
			if _, err := strconv.ParseFloat(s.SHA256, 64); err == nil {
				hint = " (an unquoted all-digit value is read by YAML as a number: quote it)"
			}
			bad("sha256", "%q is not 64 hexadecimal digits%s", s.SHA256, hint)
		}
	}
	if len(s.Settings) > 0 && !json.Valid(s.Settings) {
		bad("settings", "not valid JSON")
	}
	switch s.FailurePolicy {
	case "", Fail, Ignore:
	default:
		bad("failurePolicy", "%q: must be Fail or Ignore", s.FailurePolicy)
	}
	switch s.Mode {
	case "", Enforce, Warn, Audit:
	default:
		bad("mode", "%q: must be Enforce, Warn or Audit", s.Mode)
	}
	if s.Timeout != nil {
		switch d := s.Timeout.Duration; {
		case d <= 0:
			bad("timeout", "must be positive")
		case d > MaxTimeout:
			bad("timeout", "%s is more than the maximum %s", d, MaxTimeout)
		}
	}
	if s.MemoryLimit != nil {
		switch v := s.MemoryLimit.Value(); {
		case v < MinMemoryLimit:
			bad("memoryLimit", "%s is less than one 64Ki Wasm page", s.MemoryLimit)
		case v > MaxMemoryLimit:
			bad("memoryLimit", "%s is more than the 4Gi Wasm address space", s.MemoryLimit)
		}
	}
	switch s.ABI {
	case "", ABIStaticlet:
		if s.Entrypoint != "" {
			bad("entrypoint", "only an abi: opa plugin has an entrypoint")
		}
	case ABIOPA:
		if s.Entrypoint == "" {
			bad("entrypoint", "must not be empty with abi: opa (the rule the module was built for, e.g. k8spspprivileged/violation)")
		} else if !validOPAEntrypoint(s.Entrypoint) {
			bad("entrypoint", "%q is not a rule path such as k8spspprivileged/violation", s.Entrypoint)
		}
	default:
		bad("abi", "%q: must be staticlet or opa", s.ABI)
	}
	for i, g := range s.Match.Files {
		if _, err := path.Match(g, ""); err != nil {
			bad(fmt.Sprintf("match.files[%d]", i), "%q: %v", g, err)
		}
	}
	if s.Match.LabelSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(s.Match.LabelSelector); err != nil {
			errs = append(errs, fmt.Errorf("%s.match.labelSelector: %w: %w", fldPath, ErrInvalidSpec, err))
		}
	}
	for i, ns := range s.Match.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			bad(fmt.Sprintf("match.namespaces[%d]", i), "%q: %s", ns, strings.Join(msgs, "; "))
		}
	}
	return errors.Join(errs...)
}

// ValidateSpecs checks every spec and that names are unique; fldPath is the
// list's field name, e.g. "plugins".
func ValidateSpecs(specs []Spec, fldPath string) error {
	var errs []error
	seen := map[string]int{}
	for i, s := range specs {
		p := fmt.Sprintf("%s[%d]", fldPath, i)
		if err := s.Validate(p); err != nil {
			errs = append(errs, err)
		}
		if j, dup := seen[s.Name]; dup && s.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %w: %q is also the name of %s[%d]", p, ErrInvalidSpec, s.Name, fldPath, j))
		}
		seen[s.Name] = i
	}
	return errors.Join(errs...)
}

// validOPAEntrypoint reports whether e is a slash-separated rule path
// (package segments and a rule name: letters, digits, underscores).
func validOPAEntrypoint(e string) bool {
	for _, part := range strings.Split(e, "/") {
		if part == "" {
			return false
		}
		for _, r := range part {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}
