package admission

import "context"

// Policy is the admission plugin chain as the pipeline sees it. The wazero
// host (package plugin, through package policy) implements it; tests use
// fakes. A nil Policy means no plugins.
//
// The pipeline calls Mutate on the manifest as the source produced it
// (canonical JSON), then Name on the mutated manifest, then applies
// static-pod defaulting and built-in validation, then Validate on the final
// pod (mutated, named, defaulted): all mutations first, naming next,
// validation last, on what will really run. Every call also carries the
// manifest as read, which plugins' match rules are decided on. This is the
// one request builder: the agent, `staticlet check` and `staticlet plugin
// run|test` all go through it (see policy.RunOperation).
type Policy interface {
	// Fingerprint changes whenever any plugin or its settings change; the
	// pipeline re-evaluates every file when it does.
	Fingerprint() string
	Mutate(ctx context.Context, in PolicyInput) (PolicyMutation, error)
	Name(ctx context.Context, in PolicyInput) (PolicyNaming, error)
	Validate(ctx context.Context, in PolicyInput) (PolicyOutcome, error)
}

// PolicyInput is one manifest handed to the chain.
type PolicyInput struct {
	File   string
	Source string
	// Manifest is the pod as JSON, as the stage receives it.
	Manifest []byte
	// AsRead is the manifest as the source produced it (canonical JSON),
	// before any mutation: what match rules look at.
	AsRead []byte
}

// PolicyOutcome is what every stage reports besides its own result.
type PolicyOutcome struct {
	// Denials reject the manifest (Plugin is set on each).
	Denials []Reason
	// Warnings never reject; Audit holds decisions logged but not enforced.
	Warnings []string
	Audit    []string
}

// PolicyMutation is the mutation stage's result.
type PolicyMutation struct {
	// Manifest is the mutated pod JSON, or the input when nothing changed.
	Manifest []byte
	// Changes describe each applied mutation, e.g. "add-labels: add /metadata/labels/team".
	Changes []string
	PolicyOutcome
}

// PolicyNaming is the naming stage's result.
type PolicyNaming struct {
	// Name replaces the default <name>-<node> rule when non-empty.
	Name   string
	Plugin string
	PolicyOutcome
}
