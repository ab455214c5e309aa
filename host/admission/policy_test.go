package admission

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// fakePolicy is a scripted plugin chain.
type fakePolicy struct {
	fp        string
	addLabel  string // mutate: add this label key with value "yes"
	name      string // name: return this name
	denyImage string // validate: deny pods using this image
	fail      error  // every stage fails with this error
	toNotPod  bool   // mutate into something that is not a pod
	calls     []string
	seenNames []string
}

func (f *fakePolicy) Fingerprint() string { return f.fp }

func (f *fakePolicy) Mutate(ctx context.Context, in PolicyInput) (PolicyMutation, error) {
	f.calls = append(f.calls, "mutate")
	out := PolicyMutation{Manifest: in.Manifest}
	if f.fail != nil {
		return out, f.fail
	}
	if f.toNotPod {
		out.Manifest = []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}`)
		out.Changes = []string{"evil: replace /kind"}
		return out, nil
	}
	if f.addLabel == "" {
		return out, nil
	}
	var p corev1.Pod
	if err := json.Unmarshal(in.Manifest, &p); err != nil {
		return out, err
	}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[f.addLabel] = "yes"
	out.Manifest, _ = json.Marshal(&p)
	out.Changes = []string{"add-labels: add /metadata/labels/" + f.addLabel}
	return out, nil
}

func (f *fakePolicy) Name(ctx context.Context, in PolicyInput) (PolicyNaming, error) {
	f.calls = append(f.calls, "name")
	var p corev1.Pod
	json.Unmarshal(in.Manifest, &p)
	f.seenNames = append(f.seenNames, p.Name+":"+strings.Join(keys(p.Labels), ","))
	return PolicyNaming{Name: f.name, Plugin: "name-template"}, nil
}

func (f *fakePolicy) Validate(ctx context.Context, in PolicyInput) (PolicyOutcome, error) {
	f.calls = append(f.calls, "validate")
	var p corev1.Pod
	if err := json.Unmarshal(in.Manifest, &p); err != nil {
		return PolicyOutcome{}, err
	}
	var out PolicyOutcome
	if p.Spec.NodeName == "" || p.UID == "" {
		out.Denials = append(out.Denials, Reason{Plugin: "probe", Message: "validate must see the final, defaulted pod"})
	}
	for i, c := range p.Spec.Containers {
		if c.Image == f.denyImage {
			out.Denials = append(out.Denials, Reason{Plugin: "allowed-registries", Field: "spec.containers[" + string(rune('0'+i)) + "].image", Message: "image " + c.Image + " is not allowed"})
		}
	}
	out.Warnings = []string{"require-limits: no limits set"}
	return out, nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPolicyOrderAndEffects(t *testing.T) {
	policy := &fakePolicy{fp: "v1", addLabel: "team", name: "custom-name"}
	p := New(Options{NodeName: "n1", Policy: policy})
	plain := New(Options{NodeName: "n1"}).Admit(context.Background(), file("/m/seed.yaml", seed), now)
	r := p.Admit(context.Background(), file("/m/seed.yaml", seed), now)
	if r.Verdict != Accepted {
		t.Fatalf("%+v", r.Reasons)
	}
	if got := strings.Join(policy.calls, ","); got != "mutate,name,validate" {
		t.Errorf("stage order = %s", got)
	}
	if !strings.Contains(policy.seenNames[0], "team") {
		t.Errorf("naming did not see the mutated manifest: %v", policy.seenNames)
	}
	if r.Pod.Name != "custom-name" || r.Pod.Labels["team"] != "yes" {
		t.Errorf("pod name %q labels %v", r.Pod.Name, r.Pod.Labels)
	}
	if r.Pod.UID == plain.Pod.UID {
		t.Error("a mutation must change the UID")
	}
	if len(r.Mutations) != 1 || len(r.Warnings) != 1 {
		t.Errorf("mutations %v warnings %v", r.Mutations, r.Warnings)
	}
}

func TestPolicyDenialNamesPlugin(t *testing.T) {
	p := New(Options{NodeName: "n1", Policy: &fakePolicy{fp: "v1", denyImage: "nginx"}})
	r := p.Admit(context.Background(), file("/m/seed.yaml", seed), now)
	if r.Verdict != Rejected || len(r.Reasons) != 1 || r.Reasons[0].Plugin != "allowed-registries" || r.Reasons[0].Field != "spec.containers[0].image" {
		t.Fatalf("%+v", r)
	}
	if !strings.Contains(r.Reasons[0].String(), "plugin allowed-registries: spec.containers[0].image: image nginx is not allowed") {
		t.Errorf("reason text %q", r.Reasons[0].String())
	}
}

func TestPolicyChainErrorAndBadMutation(t *testing.T) {
	p := New(Options{NodeName: "n1", Policy: &fakePolicy{fp: "v1", fail: errors.New("chain closed")}})
	if r := p.Admit(context.Background(), file("/m/seed.yaml", seed), now); r.Verdict != Rejected || !strings.Contains(r.Reasons[0].String(), "chain closed") {
		t.Fatalf("chain error: %+v", r)
	}
	p = New(Options{NodeName: "n1", Policy: &fakePolicy{fp: "v1", toNotPod: true}})
	if r := p.Admit(context.Background(), file("/m/seed.yaml", seed), now); r.Verdict != Rejected || !strings.Contains(r.Reasons[0].String(), "Service") {
		t.Fatalf("mutation into a Service: %+v", r)
	}
}

func TestPolicyChangeReevaluates(t *testing.T) {
	policy := &fakePolicy{fp: "v1"}
	p := New(Options{NodeName: "n1", Policy: policy})
	l := listing(file("/m/seed.yaml", seed))
	if r := p.AdmitListing(context.Background(), l, now); r[0].Verdict != Accepted {
		t.Fatal(r[0].Reasons)
	}
	// The chain behind the policy changed (a plugin or its settings): its
	// fingerprint says so, and the cached file is evaluated again.
	policy.fp, policy.denyImage = "v2", "nginx"
	if r := p.AdmitListing(context.Background(), l, now); r[0].Verdict != Rejected {
		t.Fatal("a new policy did not re-evaluate the cached file")
	}
	calls := len(policy.calls)
	p.AdmitListing(context.Background(), l, now)
	if len(policy.calls) != calls {
		t.Error("an unchanged fingerprint must keep the cache")
	}
}
