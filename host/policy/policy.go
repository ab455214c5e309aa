// Package policy connects the wazero plugin host (package plugin) to the
// admission pipeline: it implements admission.Policy on top of the chain in
// force, translating the chain's reports into admission reasons, and
// RunOperation, which runs one plugin operation through the agent's own
// admission pipeline for `staticlet plugin run|test|bench`, so a plugin gets
// the same request there as on the node. It does no IO of its own; the
// plugin calls it makes run sandboxed in wazero.
package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/plugin"
)

// ChainSource hands out the chain in force; *plugin.Manager is one, and
// Static wraps a fixed chain.
type ChainSource interface {
	Chain() *plugin.Chain
}

// Static is a ChainSource that never changes (for `staticlet check`).
type Static struct{ C *plugin.Chain }

// Chain implements ChainSource.
func (s Static) Chain() *plugin.Chain { return s.C }

// Adapter implements admission.Policy.
type Adapter struct {
	source ChainSource
	node   plugin.Node
}

var _ admission.Policy = (*Adapter)(nil)

// New returns the policy for a node, always using the source's current
// chain.
func New(source ChainSource, node plugin.Node) *Adapter {
	return &Adapter{source: source, node: node}
}

// Fingerprint implements admission.Policy.
func (a *Adapter) Fingerprint() string { return a.source.Chain().Fingerprint() }

// retry calls op on the current chain, once more if a reload closed the
// chain under the call: the reload's new chain answers instead.
func retry[T any](a *Adapter, op func(*plugin.Chain) (T, error)) (T, error) {
	res, err := op(a.source.Chain())
	if errors.Is(err, plugin.ErrChainClosed) {
		res, err = op(a.source.Chain())
	}
	return res, err
}

func (a *Adapter) request(in admission.PolicyInput) plugin.Request {
	return plugin.Request{File: in.File, Source: in.Source, Manifest: in.Manifest, AsRead: in.AsRead, Node: a.node}
}

// Mutate implements admission.Policy.
func (a *Adapter) Mutate(ctx context.Context, in admission.PolicyInput) (admission.PolicyMutation, error) {
	out, _, err := a.mutate(ctx, in)
	return out, err
}

func (a *Adapter) mutate(ctx context.Context, in admission.PolicyInput) (admission.PolicyMutation, plugin.MutateResult, error) {
	res, err := retry(a, func(c *plugin.Chain) (plugin.MutateResult, error) { return c.Mutate(ctx, a.request(in)) })
	if err != nil {
		return admission.PolicyMutation{Manifest: in.Manifest}, res, fmt.Errorf("mutate: %w", err)
	}
	out := admission.PolicyMutation{Manifest: res.Manifest, PolicyOutcome: outcome(res.Report)}
	for _, ch := range res.Changes {
		out.Changes = append(out.Changes, ch.Plugin+": "+ch.Patch.Summary())
	}
	return out, res, nil
}

// Name implements admission.Policy.
func (a *Adapter) Name(ctx context.Context, in admission.PolicyInput) (admission.PolicyNaming, error) {
	out, _, err := a.name(ctx, in)
	return out, err
}

func (a *Adapter) name(ctx context.Context, in admission.PolicyInput) (admission.PolicyNaming, plugin.NameResult, error) {
	res, err := retry(a, func(c *plugin.Chain) (plugin.NameResult, error) { return c.Name(ctx, a.request(in)) })
	if err != nil {
		return admission.PolicyNaming{}, res, fmt.Errorf("name: %w", err)
	}
	return admission.PolicyNaming{Name: res.Name, Plugin: res.Plugin, PolicyOutcome: outcome(res.Report)}, res, nil
}

// Validate implements admission.Policy.
func (a *Adapter) Validate(ctx context.Context, in admission.PolicyInput) (admission.PolicyOutcome, error) {
	out, _, err := a.validate(ctx, in)
	return out, err
}

func (a *Adapter) validate(ctx context.Context, in admission.PolicyInput) (admission.PolicyOutcome, plugin.ValidateResult, error) {
	res, err := retry(a, func(c *plugin.Chain) (plugin.ValidateResult, error) { return c.Validate(ctx, a.request(in)) })
	if err != nil {
		return admission.PolicyOutcome{}, res, fmt.Errorf("validate: %w", err)
	}
	return outcome(res.Report), res, nil
}

func outcome(r plugin.Report) admission.PolicyOutcome {
	var out admission.PolicyOutcome
	for _, d := range r.Denials {
		msg := d.Message
		if d.Code != "" {
			msg = d.Code + ": " + msg
		}
		out.Denials = append(out.Denials, admission.Reason{Plugin: d.Plugin, Field: d.Field, Message: msg})
	}
	for _, w := range r.Warnings {
		out.Warnings = append(out.Warnings, "plugin "+w.Plugin+": "+w.Message)
	}
	for _, d := range r.Audit {
		out.Audit = append(out.Audit, d.String())
	}
	return out
}
