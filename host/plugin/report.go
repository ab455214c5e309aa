package plugin

import (
	"encoding/json"
	"fmt"
)

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
	// Manifest is the pod as JSON, as the operation receives it.
	Manifest []byte
	// AsRead is the manifest as the source produced it, before any plugin
	// mutated it: match rules are decided on it, so a mutation cannot
	// change which plugins run after it. Empty means Manifest.
	AsRead []byte
	Node   Node
}

// matchManifest is what match rules look at.
func (r Request) matchManifest() []byte {
	if len(r.AsRead) > 0 {
		return r.AsRead
	}
	return r.Manifest
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
