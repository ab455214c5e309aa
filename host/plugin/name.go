package plugin

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Name asks the matching naming plugins, in chain order, for the pod name;
// the first enforced non-empty answer wins. A name that is not a DNS
// subdomain is a malformed response.
func (c *Chain) Name(ctx context.Context, req Request) (NameResult, error) {
	if err := c.enter(); err != nil {
		return NameResult{}, err
	}
	defer c.mu.RUnlock()
	var res NameResult
	plugins, err := c.selected(OpName, req)
	if err != nil {
		return res, fmt.Errorf("name %s: %w", req.File, err)
	}
	for _, p := range plugins {
		resp, ok := c.run(ctx, p, OpName, req, req.Manifest, &res.Report)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("name %s: %w", req.File, err)
		}
		if !ok {
			continue
		}
		if resp.Name == nil {
			c.record(p, OpName, fmt.Errorf("%w: no \"name\" field", ErrBadResponse), &res.Report)
			continue
		}
		name := *resp.Name
		if name == "" {
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			c.record(p, OpName, fmt.Errorf("%w: name %q is not a DNS subdomain: %s", ErrBadResponse, SanitizeText(name, MaxTextBytes), strings.Join(msgs, "; ")), &res.Report)
			continue
		}
		switch p.spec.EffectiveMode() {
		case Enforce:
			res.Name, res.Plugin = name, p.spec.Name
			return res, nil
		case Warn:
			res.Warnings = append(res.Warnings, Warning{Plugin: p.spec.Name, Message: fmt.Sprintf("would name the pod %q", name)})
		case Audit:
			res.Audit = append(res.Audit, Denial{Plugin: p.spec.Name, Code: "WouldName", Message: name, Mode: Audit})
		}
	}
	return res, nil
}
