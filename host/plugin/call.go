package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"
)

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
