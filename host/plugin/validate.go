package plugin

import (
	"context"
	"fmt"
)

// Validate runs every matching validator on the final manifest; all of them
// run, so every reason is reported at once.
func (c *Chain) Validate(ctx context.Context, req Request) (ValidateResult, error) {
	if err := c.enter(); err != nil {
		return ValidateResult{}, err
	}
	defer c.mu.RUnlock()
	var res ValidateResult
	plugins, err := c.selected(OpValidate, req)
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
		for _, den := range pluginDenials(p.spec.Name, mode, resp.Denials) {
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

// pluginDenials turns a response's denials into the report's, sanitised and
// capped at MaxDenialsPerCall; a last denial with code TooManyDenials says
// how many more there were.
func pluginDenials(plugin string, mode Mode, denials []wireDenial) []Denial {
	kept := denials[:min(len(denials), MaxDenialsPerCall)]
	out := make([]Denial, 0, len(kept)+1)
	for _, d := range kept {
		out = append(out, Denial{Plugin: plugin, Mode: mode,
			Code: SanitizeText(d.Code, MaxTextBytes), Message: SanitizeText(d.Message, MaxTextBytes), Field: SanitizeText(d.Field, MaxTextBytes)})
	}
	if more := len(denials) - len(kept); more > 0 {
		out = append(out, Denial{Plugin: plugin, Mode: mode, Code: "TooManyDenials", Message: fmt.Sprintf("(%d more denials)", more)})
	}
	return out
}
