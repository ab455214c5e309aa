package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Mutate runs every matching mutator in chain order, each on the previous
// one's output. Errors are only returned for a closed chain, a canceled
// context or a request that is not a JSON object; plugin failures are in the
// result.
func (c *Chain) Mutate(ctx context.Context, req Request) (MutateResult, error) {
	if err := c.enter(); err != nil {
		return MutateResult{}, err
	}
	defer c.mu.RUnlock()
	res := MutateResult{Manifest: req.Manifest}
	facts, err := readPodFacts(req.Manifest)
	if err != nil {
		return res, fmt.Errorf("mutate %s: %w", req.File, err)
	}
	for _, p := range c.plugins {
		if !p.ops[OpMutate] || !p.matches(facts, req.File) {
			continue
		}
		resp, ok := c.run(ctx, p, OpMutate, req, res.Manifest, &res.Report)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("mutate %s: %w", req.File, err)
		}
		if !ok || len(resp.Manifest) == 0 || bytes.Equal(resp.Manifest, []byte("null")) {
			continue
		}
		patch, newManifest, err := checkMutation(res.Manifest, resp.Manifest)
		if err != nil {
			c.record(p, OpMutate, fmt.Errorf("%w: %w", ErrBadResponse, err), &res.Report)
			continue
		}
		if len(patch) == 0 {
			continue
		}
		switch p.spec.EffectiveMode() {
		case Enforce:
			res.Manifest = newManifest
			res.Changes = append(res.Changes, PluginChange{Plugin: p.spec.Name, Patch: patch})
			c.logger.Info("plugin mutated manifest", "plugin", p.spec.Name, "file", req.File, "patch", patch.String())
			if facts, err = readPodFacts(newManifest); err != nil {
				return res, fmt.Errorf("mutate %s: %w", req.File, err)
			}
		case Warn:
			res.Warnings = append(res.Warnings, Warning{Plugin: p.spec.Name, Message: "would change the manifest: " + patch.String()})
		case Audit:
			res.Audit = append(res.Audit, Denial{Plugin: p.spec.Name, Code: "WouldMutate", Message: patch.String(), Mode: Audit})
			c.logger.Info("audit: plugin would mutate manifest", "plugin", p.spec.Name, "file", req.File, "patch", patch.String())
		}
	}
	return res, nil
}

// checkMutation accepts a mutated manifest only if it is still a v1 Pod
// JSON object, and returns the patch from old to it.
func checkMutation(old, mutated []byte) (Patch, []byte, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, mutated); err != nil {
		return nil, nil, fmt.Errorf("mutated manifest: %w", err)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(compact.Bytes(), &head); err != nil {
		return nil, nil, fmt.Errorf("mutated manifest is not a JSON object: %w", err)
	}
	if head.APIVersion != "v1" || head.Kind != "Pod" {
		return nil, nil, fmt.Errorf("mutated manifest is a %s %s, not a v1 Pod", head.APIVersion, head.Kind)
	}
	patch, err := Diff(old, compact.Bytes())
	if err != nil {
		return nil, nil, err
	}
	return patch, compact.Bytes(), nil
}
