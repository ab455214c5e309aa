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
		Operation:  string(op),
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
	resp, err := c.callUnlessQuarantined(ctx, p, op, req, manifest)
	if c.observe != nil {
		c.observe(p.spec.Name, op, callOutcome(resp, err), time.Since(start))
	}
	if err == nil {
		rep.Warnings = append(rep.Warnings, pluginWarnings(p.spec.Name, resp.Warnings)...)
		return resp, true
	}
	c.record(p, op, err, rep)
	return resp, false
}

// callUnlessQuarantined calls the plugin, or fails at once with
// ErrQuarantined while it is quarantined, and keeps its timeout record.
func (c *Chain) callUnlessQuarantined(ctx context.Context, p *loaded, op Operation, req Request, manifest []byte) (wireResponse, error) {
	q := c.quarantines[p.spec.Name]
	if err := q.admit(c.now()); err != nil {
		return wireResponse{}, err
	}
	resp, err := p.call(withNode(ctx, req.Node), op, p.request(op, req, manifest))
	timedOut := errors.Is(err, ErrTimeout)
	if ctx.Err() != nil && !timedOut {
		return resp, err // abandoned by the caller: says nothing of the plugin
	}
	if entered, until := q.record(c.now(), timedOut); entered {
		cause := sanitizeError(err, MaxErrorBytes)
		c.logger.Error("plugin quarantined after repeated timeouts", "plugin", p.spec.Name, "until", until, "error", cause)
		if c.onQuarantine != nil {
			c.onQuarantine(p.spec.Name, until, cause)
		}
	}
	return resp, err
}

// pluginWarnings turns a response's warnings into the report's, sanitised
// and capped at MaxWarningsPerCall.
func pluginWarnings(plugin string, texts []string) []Warning {
	kept := texts[:min(len(texts), MaxWarningsPerCall)]
	out := make([]Warning, 0, len(kept)+1)
	for _, w := range kept {
		out = append(out, Warning{Plugin: plugin, Message: SanitizeText(w, MaxTextBytes)})
	}
	if more := len(texts) - len(kept); more > 0 {
		out = append(out, Warning{Plugin: plugin, Message: fmt.Sprintf("(%d more warnings)", more)})
	}
	return out
}

// record handles a failure found after a successful call (a response that
// makes no sense) like a failed call.
func (c *Chain) record(p *loaded, op Operation, err error, rep *Report) {
	err = sanitizeError(err, MaxErrorBytes)
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
	case errors.Is(err, ErrQuarantined):
		return "quarantined"
	case err != nil:
		return "error"
	case len(resp.Denials) > 0 || (resp.Allowed != nil && !*resp.Allowed):
		return "denied"
	}
	return "ok"
}
