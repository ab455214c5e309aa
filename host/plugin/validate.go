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
