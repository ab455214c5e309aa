package admission

import (
	"context"
	"errors"
	"testing"

	"github.com/staticlet/staticlet/host/source"
)

// TestCancelledAdmissionIsNotCached: the agent cancels an admission a newer
// listing supersedes; what the plugins answered under the ended context is
// their context error, not a verdict, and must not stick to the file.
func TestCancelledAdmissionIsNotCached(t *testing.T) {
	policy := &fakePolicy{fp: "v1"}
	p := New(Options{NodeName: "n1", Policy: policy})
	l := source.Listing{Source: "file", Complete: true, Files: []source.File{file("/m/seed.yaml", seed)}}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	policy.fail = context.Canceled
	if r := p.AdmitListing(cancelled, l, now); r[0].Verdict != Rejected || !errors.Is(cancelled.Err(), context.Canceled) {
		t.Fatalf("under a cancelled context: %+v", r[0])
	}
	policy.fail = nil
	if r := p.AdmitListing(context.Background(), l, now); r[0].Verdict != Accepted {
		t.Fatalf("admitted again: %+v, want the cancelled result forgotten", r[0])
	}
}

// TestCancelledAdmissionCallsNoPlugin: under an ended context no plugin is
// called at all; the file is rejected saying so.
func TestCancelledAdmissionCallsNoPlugin(t *testing.T) {
	policy := &fakePolicy{fp: "v1"}
	p := New(Options{NodeName: "n1", Policy: policy})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	r := p.Admit(cancelled, file("/m/seed.yaml", seed), now)
	if r.Verdict != Rejected || len(r.Reasons) != 1 || r.Reasons[0].Message != "admission cancelled: context canceled" || len(policy.calls) != 0 {
		t.Fatalf("result %+v, plugin calls %v", r, policy.calls)
	}
}
