package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/runtime/fake"
	"github.com/staticlet/staticlet/internal/testenv"
)

// imagePolicy denies one image; the denied image can change at run time,
// like a plugin whose settings were edited.
type imagePolicy struct {
	validateOnly
	mu     sync.Mutex
	denied string
}

func (p *imagePolicy) set(image string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.denied = image
}

func (p *imagePolicy) Fingerprint() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "deny:" + p.denied
}

// validateOnly gives a test policy the mutate and name stages that change
// nothing.
type validateOnly struct{}

func (validateOnly) Mutate(ctx context.Context, in admission.PolicyInput) (admission.PolicyMutation, error) {
	return admission.PolicyMutation{Manifest: in.Manifest}, nil
}

func (validateOnly) Name(ctx context.Context, in admission.PolicyInput) (admission.PolicyNaming, error) {
	return admission.PolicyNaming{}, nil
}

func (p *imagePolicy) Validate(ctx context.Context, in admission.PolicyInput) (admission.PolicyOutcome, error) {
	var pod corev1.Pod
	if err := json.Unmarshal(in.Manifest, &pod); err != nil {
		return admission.PolicyOutcome{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out admission.PolicyOutcome
	for _, c := range pod.Spec.Containers {
		if c.Image == p.denied {
			out.Denials = append(out.Denials, admission.Reason{Plugin: "allowed-registries", Field: "spec.containers[0].image", Message: "image " + c.Image + " is not allowed"})
		}
	}
	return out, nil
}

func TestPolicyChangeFlagsButKeepsRunningPod(t *testing.T) {
	policy := &imagePolicy{}
	changed := make(chan struct{}, 1)
	rt := fake.New()
	h := startConfigured(t, rt, t.TempDir(), func(cfg *agent.Config) {
		cfg.Pipeline = admission.New(admission.Options{NodeName: "node1", Policy: policy})
		cfg.PolicyChanged = changed
	})
	// policyChanged signals the change and waits for the loop to take it:
	// its re-admission is then under way, and quiesce waits for it.
	policyChanged := func() {
		changed <- struct{}{}
		testenv.Eventually(t, 5*time.Second, func() error {
			if len(changed) > 0 {
				return errors.New("the agent has not taken the policy change")
			}
			return nil
		})
	}

	h.write("web.yaml", pod("web", "busybox:1"))
	h.waitRunning("default/web-node1")

	// The policy now forbids the running image: the pod keeps running,
	// flagged.
	policy.set("busybox:1")
	policyChanged()
	h.quiesce()
	st := h.fileStatus("web.yaml")
	if st.Verdict != admission.Rejected || !st.Stale || !strings.Contains(st.Reasons[0].String(), "plugin allowed-registries") {
		t.Fatalf("status after policy change = %+v", st)
	}
	if h.calls("stop") != 0 {
		t.Fatal("a policy change stopped a running pod")
	}

	// An edit to a forbidden image is gated: the old version keeps running.
	h.write("web.yaml", pod("web", "busybox:1")+"  # touched\n")
	policy.set("busybox:2")
	policyChanged()
	h.write("web.yaml", pod("web", "busybox:2"))
	h.quiesce()
	if h.calls("stop") != 0 || h.calls("start") != 1 {
		t.Fatalf("calls = %+v, want the running pod untouched", rt.Calls())
	}
	// An allowed edit goes through.
	h.write("web.yaml", pod("web", "busybox:3"))
	h.quiesce()
	if h.calls("start") != 2 || h.calls("stop") != 1 {
		t.Fatalf("calls = %+v, want one replacement", rt.Calls())
	}
}
