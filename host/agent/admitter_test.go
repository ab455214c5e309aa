package agent

import (
	"context"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/source"
)

// gatePolicy's Validate reports the file it begins and waits for a release
// or its context's end.
type gatePolicy struct {
	began   chan string
	release chan struct{}
}

func (p *gatePolicy) Fingerprint() string { return "gate" }

func (p *gatePolicy) Mutate(ctx context.Context, in admission.PolicyInput) (admission.PolicyMutation, error) {
	return admission.PolicyMutation{Manifest: in.Manifest}, nil
}

func (p *gatePolicy) Name(ctx context.Context, in admission.PolicyInput) (admission.PolicyNaming, error) {
	return admission.PolicyNaming{}, nil
}

func (p *gatePolicy) Validate(ctx context.Context, in admission.PolicyInput) (admission.PolicyOutcome, error) {
	select {
	case p.began <- in.File:
	case <-ctx.Done():
		return admission.PolicyOutcome{}, ctx.Err()
	}
	select {
	case <-p.release:
		return admission.PolicyOutcome{}, nil
	case <-ctx.Done():
		return admission.PolicyOutcome{}, ctx.Err()
	}
}

func admitRequest(src string, gen uint64, file string) Admit {
	content := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + src + "\nspec:\n  containers:\n  - name: c\n    image: i\n"
	return Admit{Source: src, Generation: gen, Now: time.Unix(0, 0), Listing: source.Listing{Source: src, Complete: true,
		Files: []source.File{{Source: src, Path: file, Content: []byte(content), Digest: file}}}}
}

// TestAdmitterNewestWinsAndTakesTurns: a newer request for the source being
// admitted cancels that admission, whose results are never sent, and waits
// its turn behind a request of another source that came before it.
func TestAdmitterNewestWinsAndTakesTurns(t *testing.T) {
	policy := &gatePolicy{began: make(chan string), release: make(chan struct{})}
	ad := newAdmitter(admission.New(admission.Options{NodeName: "n1", Policy: policy}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Admitted)
	go ad.run(ctx, out)

	ad.submit(admitRequest("a", 1, "/a1"))
	if f := <-policy.began; f != "/a1" {
		t.Fatalf("began %s, want /a1", f)
	}
	ad.submit(admitRequest("b", 1, "/b1"))
	ad.submit(admitRequest("a", 2, "/a2")) // cancels /a1
	for _, want := range []string{"/b1", "/a2"} {
		if f := <-policy.began; f != want {
			t.Fatalf("began %s, want %s", f, want)
		}
		policy.release <- struct{}{}
		res := <-out
		if res.Results[0].File != want || res.Results[0].Verdict != admission.Accepted {
			t.Fatalf("results %+v, want %s accepted", res.Results, want)
		}
	}
	select {
	case res := <-out:
		t.Fatalf("unexpected results: %+v", res)
	default:
	}
}
