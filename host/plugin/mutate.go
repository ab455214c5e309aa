package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Mutate runs every matching mutator in chain order, each on the previous
// one's output. Which mutators match is decided once, on the manifest as
// read (Request.AsRead, else Manifest): a mutation cannot pull the manifest
// into or out of a later plugin's match. A mutation of apiVersion, kind,
// metadata.name or metadata.namespace is refused as a plugin failure
// (ErrForbiddenMutation). Errors are only returned for a closed chain, a canceled
// context or a request that is not a JSON object; plugin failures are in the
// result.
func (c *Chain) Mutate(ctx context.Context, req Request) (MutateResult, error) {
	if err := c.enter(); err != nil {
		return MutateResult{}, err
	}
	defer c.mu.RUnlock()
	res := MutateResult{Manifest: req.Manifest}
	plugins, err := c.selected(OpMutate, req)
	if err != nil {
		return res, fmt.Errorf("mutate %s: %w", req.File, err)
	}
	for _, p := range plugins {
		resp, ok := c.run(ctx, p, OpMutate, req, res.Manifest, &res.Report)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("mutate %s: %w", req.File, err)
		}
		if !ok || len(resp.Manifest) == 0 || bytes.Equal(resp.Manifest, []byte("null")) {
			continue
		}
		patch, newManifest, err := checkMutation(res.Manifest, resp.Manifest)
		if err != nil {
			c.record(p, OpMutate, err, &res.Report)
			continue
		}
		if len(patch) == 0 {
			continue
		}
		switch p.spec.EffectiveMode() {
		case Enforce:
			res.Manifest = newManifest
			res.Changes = append(res.Changes, PluginChange{Plugin: p.spec.Name, Patch: patch})
			c.logger.Info("plugin mutated manifest", "plugin", p.spec.Name, "file", req.File, "patch", patch.Summary())
		case Warn:
			res.Warnings = append(res.Warnings, Warning{Plugin: p.spec.Name, Message: "would change the manifest: " + patch.Summary()})
		case Audit:
			res.Audit = append(res.Audit, Denial{Plugin: p.spec.Name, Code: "WouldMutate", Message: patch.Summary(), Mode: Audit})
			c.logger.Info("audit: plugin would mutate manifest", "plugin", p.spec.Name, "file", req.File, "patch", patch.Summary())
		}
	}
	return res, nil
}

// immutableFields are what a mutation may not change, as Kubernetes refuses
// a mutating webhook that changes them: the object's identity. A renamed or
// moved pod would escape the validators and match rules written for it and
// could take another manifest's pod name.
var immutableFields = []string{"apiVersion", "kind", "metadata.name", "metadata.namespace"}

// identity is what immutableFields name, with the namespace defaulted as
// the agent defaults it.
type identity struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func (id identity) field(name string) string {
	switch name {
	case "apiVersion":
		return id.APIVersion
	case "kind":
		return id.Kind
	case "metadata.name":
		return id.Metadata.Name
	}
	if id.Metadata.Namespace == "" {
		return metav1.NamespaceDefault
	}
	return id.Metadata.Namespace
}

// checkMutation accepts a mutated manifest only if it is still a v1 Pod
// JSON object with the same identity (ErrForbiddenMutation naming the
// field otherwise; ErrBadResponse for what is not a Pod), and returns the
// patch from old to it.
func checkMutation(old, mutated []byte) (Patch, []byte, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, mutated); err != nil {
		return nil, nil, fmt.Errorf("%w: mutated manifest: %w", ErrBadResponse, err)
	}
	var before, after identity
	if err := json.Unmarshal(compact.Bytes(), &after); err != nil {
		return nil, nil, fmt.Errorf("%w: mutated manifest is not a JSON object: %w", ErrBadResponse, err)
	}
	if err := json.Unmarshal(old, &before); err != nil {
		return nil, nil, fmt.Errorf("mutate: manifest is not a JSON object: %w", err)
	}
	var changed []string
	for _, f := range immutableFields {
		if a, b := before.field(f), after.field(f); a != b {
			changed = append(changed, fmt.Sprintf("%s: changed from %q to %q", f, SanitizeText(a, MaxTextBytes), SanitizeText(b, MaxTextBytes)))
		}
	}
	if len(changed) > 0 {
		return nil, nil, fmt.Errorf("%w: %s (a mutation may not change %s)", ErrForbiddenMutation, strings.Join(changed, "; "), strings.Join(immutableFields, ", "))
	}
	if after.APIVersion != "v1" || after.Kind != "Pod" {
		return nil, nil, fmt.Errorf("%w: mutated manifest is a %s %s, not a v1 Pod", ErrBadResponse,
			SanitizeText(after.APIVersion, MaxTextBytes), SanitizeText(after.Kind, MaxTextBytes))
	}
	patch, err := Diff(old, compact.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return patch, compact.Bytes(), nil
}
