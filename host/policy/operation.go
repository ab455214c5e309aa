package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/source"
)

// ErrNotAnOperation: RunOperation was asked for something other than
// mutate, name or validate.
var ErrNotAnOperation = errors.New("not a chain operation")

// OperationResult is one operation of a chain run on a manifest file the
// way the agent runs it.
type OperationResult struct {
	Operation plugin.Operation
	// Called says the pipeline reached the operation; it does not when it
	// rejected the file before (it cannot be decoded, has no name, or a
	// stage before failed). Admission says why.
	Called bool
	// Request is what the chain was asked, so what the plugin received:
	// its Manifest is the manifest as read for mutate, the mutated
	// manifest for name, the final pod (mutated, named, defaulted) for
	// validate.
	Request plugin.Request
	// Mutate, Name and Validate hold the result of Operation's call.
	Mutate   plugin.MutateResult
	Name     plugin.NameResult
	Validate plugin.ValidateResult
	// Admission is the agent's verdict on the file with only this
	// operation of the chain in force.
	Admission admission.Result
}

// Report is the operation's report.
func (r OperationResult) Report() plugin.Report {
	switch r.Operation {
	case plugin.OpMutate:
		return r.Mutate.Report
	case plugin.OpName:
		return r.Name.Report
	}
	return r.Validate.Report
}

// RunOperation passes one manifest file through the agent's admission
// pipeline with chain as its policy, answering only op: the other stages
// pass the manifest through unchanged, so the plugin receives exactly what
// the agent would send it as the only plugin of its kind. `staticlet plugin
// run`, `plugin test` and `plugin bench` use it, so a plugin's tests see
// what it sees on the node. An error means the chain itself failed (it was
// closed, ctx ended); plugin failures are in the result.
func RunOperation(ctx context.Context, chain *plugin.Chain, op plugin.Operation, file source.File, node plugin.Node, now time.Time) (OperationResult, error) {
	switch op {
	case plugin.OpMutate, plugin.OpName, plugin.OpValidate:
	default:
		return OperationResult{}, fmt.Errorf("run operation: %w: %q is not mutate, name or validate", ErrNotAnOperation, op)
	}
	probe := &probe{adapter: New(Static{C: chain}, node), op: op, res: OperationResult{Operation: op}}
	pipeline := admission.New(admission.Options{NodeName: node.Name, Policy: probe})
	probe.res.Admission = pipeline.Admit(ctx, file, now)
	if probe.err != nil {
		return probe.res, fmt.Errorf("run %s on %s: %w", op, file.Path, probe.err)
	}
	return probe.res, nil
}

// probe is an admission.Policy that runs one operation of a chain and
// passes the others through, recording the operation's request and result.
type probe struct {
	adapter *Adapter
	op      plugin.Operation
	res     OperationResult
	err     error
}

var _ admission.Policy = (*probe)(nil)

func (p *probe) Fingerprint() string { return p.adapter.Fingerprint() }

func (p *probe) record(in admission.PolicyInput, err error) {
	p.res.Called, p.res.Request, p.err = true, p.adapter.request(in), err
}

func (p *probe) Mutate(ctx context.Context, in admission.PolicyInput) (admission.PolicyMutation, error) {
	if p.op != plugin.OpMutate {
		return admission.PolicyMutation{Manifest: in.Manifest}, nil
	}
	out, res, err := p.adapter.mutate(ctx, in)
	p.res.Mutate = res
	p.record(in, err)
	return out, err
}

func (p *probe) Name(ctx context.Context, in admission.PolicyInput) (admission.PolicyNaming, error) {
	if p.op != plugin.OpName {
		return admission.PolicyNaming{}, nil
	}
	out, res, err := p.adapter.name(ctx, in)
	p.res.Name = res
	p.record(in, err)
	return out, err
}

func (p *probe) Validate(ctx context.Context, in admission.PolicyInput) (admission.PolicyOutcome, error) {
	if p.op != plugin.OpValidate {
		return admission.PolicyOutcome{}, nil
	}
	out, res, err := p.adapter.validate(ctx, in)
	p.res.Validate = res
	p.record(in, err)
	return out, err
}
