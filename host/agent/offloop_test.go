package agent_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/runtime/fake"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/internal/testenv"
)

// hangingPolicy is a plugin chain whose Validate, while hang is set, runs
// until its context ends, as a runaway plugin does until its deadline.
type hangingPolicy struct {
	validateOnly
	hang    atomic.Bool
	version atomic.Int64
	// cancelled counts the hanging calls that ended by their context.
	cancelled atomic.Int64
	// entered receives a signal each time a hanging Validate begins.
	entered chan struct{}
}

func (p *hangingPolicy) Fingerprint() string { return fmt.Sprint(p.version.Load()) }

func (p *hangingPolicy) Validate(ctx context.Context, in admission.PolicyInput) (admission.PolicyOutcome, error) {
	if !p.hang.Load() {
		return admission.PolicyOutcome{}, nil
	}
	select {
	case p.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	p.cancelled.Add(1)
	return admission.PolicyOutcome{}, fmt.Errorf("validate: %w", ctx.Err())
}

// swap installs a new version of the policy, hanging or not.
func (p *hangingPolicy) swap(hang bool) {
	p.hang.Store(hang)
	p.version.Add(1)
}

// gatedRuntime holds every StartPod until the test opens the gate.
type gatedRuntime struct {
	*fake.Runtime
	gate chan struct{}
}

func (g gatedRuntime) StartPod(ctx context.Context, pod *corev1.Pod) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Runtime.StartPod(ctx, pod)
}

func listingOf(files map[string]string) source.Listing {
	l := source.Listing{Source: source.NameFile, Root: "/m", Complete: true}
	for name, content := range files {
		sum := sha256.Sum256([]byte(content))
		l.Files = append(l.Files, source.File{Source: source.NameFile, Path: "/m/" + name, Content: []byte(content), Digest: hex.EncodeToString(sum[:])})
	}
	return l
}

// quickStatus asks for the agent's status and fails the test unless it
// comes within 100 ms.
func quickStatus(t *testing.T, a *agent.Agent) agent.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	st, err := a.Status(ctx)
	if err != nil {
		t.Fatalf("status did not answer within 100 ms: %v", err)
	}
	return st
}

func podPhase(st agent.Status, key string) string {
	for _, p := range st.Pods {
		if p.Key == key {
			return p.Phase
		}
	}
	return "absent"
}

// TestLoopNeverWaitsOnAPlugin: with a plugin that hangs until cancelled in
// force, the agent answers status at once, applies a start's completion,
// recovers when a good policy replaces the hanging one, and returns from Run
// promptly when cancelled in the middle of a plugin call.
func TestLoopNeverWaitsOnAPlugin(t *testing.T) {
	policy := &hangingPolicy{entered: make(chan struct{}, 1)}
	rt := gatedRuntime{Runtime: fake.New(), gate: make(chan struct{})}
	files := source.NewMailbox()
	changed := make(chan struct{}, 1)
	a := agent.New(agent.Config{
		Runtime:       rt,
		Pipeline:      admission.New(admission.Options{NodeName: "node1", Policy: policy}),
		Builder:       desired.NewBuilder(time.Second),
		Sources:       map[string]*source.Mailbox{source.NameFile: files},
		PolicyChanged: changed,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()

	// A good policy admits a; its start is held at the runtime.
	files.Put(listingOf(map[string]string{"a.yaml": pod("a", "busybox:1")}))
	testenv.Eventually(t, 5*time.Second, func() error {
		if phase := podPhase(quickStatus(t, a), "default/a-node1"); phase != "Starting" {
			return fmt.Errorf("a is %s, want Starting", phase)
		}
		return nil
	})

	// A runaway plugin replaces it, and a new file arrives while it hangs.
	policy.swap(true)
	changed <- struct{}{}
	files.Put(listingOf(map[string]string{"a.yaml": pod("a", "busybox:1"), "b.yaml": pod("b", "busybox:1")}))
	<-policy.entered

	// A newer listing supersedes the admission in progress: its plugin call
	// is cancelled and the newer listing's admission begins.
	three := map[string]string{"a.yaml": pod("a", "busybox:1"), "b.yaml": pod("b", "busybox:1"), "c.yaml": pod("c", "busybox:1")}
	files.Put(listingOf(three))
	testenv.Eventually(t, 5*time.Second, func() error {
		if policy.cancelled.Load() == 0 {
			return errors.New("the superseded plugin call was not cancelled")
		}
		return nil
	})
	<-policy.entered
	st := quickStatus(t, a)
	if len(st.Sources) != 1 || st.Sources[0].Admitting == nil || st.Sources[0].Admitting.Files != 3 {
		t.Fatalf("sources = %+v, want the file source admitting the newest listing's 3 files", st.Sources)
	}

	// The held start completes while the plugin hangs: the loop applies it.
	close(rt.gate)
	testenv.Eventually(t, 5*time.Second, func() error {
		if phase := podPhase(quickStatus(t, a), "default/a-node1"); phase != "Active" {
			return fmt.Errorf("a is %s, want Active", phase)
		}
		return nil
	})
	if phase := podPhase(quickStatus(t, a), "default/b-node1"); phase != "absent" {
		t.Fatalf("b is %s before its admission ended", phase)
	}
	if len(quickStatus(t, a).Files) != 1 {
		t.Fatal("files were reported before their admission ended")
	}

	// A good policy replaces the runaway one: the hanging call is cancelled,
	// every file is admitted again, and b and c start.
	policy.swap(false)
	changed <- struct{}{}
	testenv.Eventually(t, 5*time.Second, func() error {
		st := quickStatus(t, a)
		for _, key := range []string{"default/b-node1", "default/c-node1"} {
			if phase := podPhase(st, key); phase != "Active" {
				return fmt.Errorf("%s is %s, want Active; files %+v", key, phase, st.Files)
			}
		}
		if st.Sources[0].Admitting != nil {
			return errors.New("still admitting")
		}
		return nil
	})
	for _, f := range quickStatus(t, a).Files {
		if f.Verdict != admission.Accepted || len(f.Reasons) > 0 {
			t.Fatalf("file %s: %s %v, want accepted without a trace of the cancelled call", f.File, f.Verdict, f.Reasons)
		}
	}

	// Cancelled in the middle of a plugin call, Run returns at once.
	for len(policy.entered) > 0 {
		<-policy.entered // signals of the calls cancelled above
	}
	policy.swap(true)
	changed <- struct{}{}
	<-policy.entered
	start := time.Now()
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2 s of its cancel while a plugin hung")
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Run took %s to return after its cancel", took)
	}
	if got := strings.Join(rt.Running(), ","); !strings.Contains(got, "default/a-node1") || !strings.Contains(got, "default/c-node1") {
		t.Fatalf("running = %s, want a, b and c left running", got)
	}
}
