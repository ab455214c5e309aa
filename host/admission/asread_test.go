package admission

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/source"
)

// recordingPolicy adds a label in Mutate and records every stage's input.
type recordingPolicy struct {
	inputs map[string]PolicyInput
}

func (r *recordingPolicy) Fingerprint() string { return "rec" }

func (r *recordingPolicy) Mutate(ctx context.Context, in PolicyInput) (PolicyMutation, error) {
	r.inputs["mutate"] = in
	mutated := strings.Replace(string(in.Manifest), `"labels":{"app":"web"}`, `"labels":{"app":"web","tier":"exempt"}`, 1)
	return PolicyMutation{Manifest: []byte(mutated), Changes: []string{"rec: add /metadata/labels/tier"}}, nil
}

func (r *recordingPolicy) Name(ctx context.Context, in PolicyInput) (PolicyNaming, error) {
	r.inputs["name"] = in
	return PolicyNaming{}, nil
}

func (r *recordingPolicy) Validate(ctx context.Context, in PolicyInput) (PolicyOutcome, error) {
	r.inputs["validate"] = in
	return PolicyOutcome{}, nil
}

// TestEveryStageCarriesTheManifestAsRead: plugins' match rules are decided
// on the manifest as read, so each stage gets it besides its own input.
func TestEveryStageCarriesTheManifestAsRead(t *testing.T) {
	rec := &recordingPolicy{inputs: map[string]PolicyInput{}}
	p := New(Options{NodeName: "n1", Policy: rec})
	content := "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec:\n  containers: [{name: c, image: nginx}]\n"
	r := p.Admit(context.Background(), source.File{Source: source.NameFile, Path: "/m/web.yaml", Content: []byte(content)}, time.Unix(0, 0))
	if r.Verdict != Accepted {
		t.Fatalf("%+v", r)
	}
	asRead := rec.inputs["mutate"].Manifest
	if !strings.Contains(string(asRead), `"labels":{"app":"web"}`) {
		t.Fatalf("mutate input: %s", asRead)
	}
	for _, stage := range []string{"mutate", "name", "validate"} {
		if got := string(rec.inputs[stage].AsRead); got != string(asRead) {
			t.Errorf("%s: AsRead = %s, want the manifest as read %s", stage, got, asRead)
		}
	}
	if !strings.Contains(string(rec.inputs["name"].Manifest), `"tier":"exempt"`) || !strings.Contains(string(rec.inputs["validate"].Manifest), `"name":"web-n1"`) {
		t.Errorf("name gets the mutated manifest, validate the final pod: %s / %s", rec.inputs["name"].Manifest, rec.inputs["validate"].Manifest)
	}
}
