// Package conformance is the test suite every agent.Runtime must pass: the
// in-memory fake and the containerd runtime run the same cases, so the fake
// cannot drift from what the agent may rely on. It does no IO itself beyond
// what the runtime under test does.
package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/agent"
)

// Harness gives the suite a fresh runtime and runnable pods.
type Harness struct {
	// New returns an empty runtime (no pods).
	New func(t *testing.T) agent.Runtime
	// Pod returns a runnable pod with that namespace/name and UID whose
	// containers keep running until stopped. The suite may change the grace
	// period.
	Pod func(t *testing.T, namespace, name string, uid types.UID) *corev1.Pod
	// Timeout bounds each call; default 30 s.
	Timeout time.Duration
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 30 * time.Second
	}
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), h.Timeout)
		t.Cleanup(cancel)
		return c
	}
	t.Run("StartListStop", func(t *testing.T) {
		rt := h.New(t)
		p := h.Pod(t, "default", "web-node1", "uid-1")
		mustStart(t, ctx(t), rt, p)
		pods := mustList(t, ctx(t), rt)
		if len(pods) != 1 || pods[0].UID != "uid-1" || pods[0].Key != "default/web-node1" {
			t.Fatalf("ListPods after start = %+v, want one pod default/web-node1 uid-1", pods)
		}
		if pods[0].GracePeriod != agent.GracePeriod(p) {
			t.Errorf("GracePeriod = %s, want %s", pods[0].GracePeriod, agent.GracePeriod(p))
		}
		if err := rt.StopPod(ctx(t), "uid-1", time.Second); err != nil {
			t.Fatalf("StopPod: %v", err)
		}
		if pods := mustList(t, ctx(t), rt); len(pods) != 0 {
			t.Fatalf("ListPods after stop = %+v, want none", pods)
		}
	})
	t.Run("StartIsIdempotent", func(t *testing.T) {
		rt := h.New(t)
		p := h.Pod(t, "default", "idem-node1", "uid-2")
		mustStart(t, ctx(t), rt, p)
		mustStart(t, ctx(t), rt, p)
		if pods := mustList(t, ctx(t), rt); len(pods) != 1 {
			t.Fatalf("ListPods after two starts = %+v, want exactly one pod", pods)
		}
		_ = rt.StopPod(ctx(t), "uid-2", time.Second)
	})
	t.Run("StopUnknownIsNotFound", func(t *testing.T) {
		rt := h.New(t)
		err := rt.StopPod(ctx(t), "no-such-uid", time.Second)
		if !errors.Is(err, agent.ErrPodNotFound) {
			t.Fatalf("StopPod(unknown) = %v, want ErrPodNotFound", err)
		}
	})
	t.Run("TwoVersionsOfOneName", func(t *testing.T) {
		// The agent stops the old version before starting the new one; the
		// runtime must let the new one start once the old is gone.
		rt := h.New(t)
		mustStart(t, ctx(t), rt, h.Pod(t, "kube-system", "api-node1", "uid-old"))
		if err := rt.StopPod(ctx(t), "uid-old", time.Second); err != nil {
			t.Fatalf("StopPod(old): %v", err)
		}
		mustStart(t, ctx(t), rt, h.Pod(t, "kube-system", "api-node1", "uid-new"))
		pods := mustList(t, ctx(t), rt)
		if len(pods) != 1 || pods[0].UID != "uid-new" {
			t.Fatalf("ListPods = %+v, want only uid-new", pods)
		}
		_ = rt.StopPod(ctx(t), "uid-new", time.Second)
	})
	t.Run("ConcurrentPods", func(t *testing.T) {
		rt := h.New(t)
		const n = 5
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			p := h.Pod(t, "default", "many-"+string(rune('a'+i)), types.UID("uid-many-"+string(rune('a'+i))))
			go func() { errs <- rt.StartPod(ctx(t), p) }()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatalf("concurrent StartPod: %v", err)
			}
		}
		if pods := mustList(t, ctx(t), rt); len(pods) != n {
			t.Fatalf("ListPods = %d pods, want %d", len(pods), n)
		}
		for i := 0; i < n; i++ {
			uid := types.UID("uid-many-" + string(rune('a'+i)))
			go func() { errs <- rt.StopPod(ctx(t), uid, time.Second) }()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatalf("concurrent StopPod: %v", err)
			}
		}
		if pods := mustList(t, ctx(t), rt); len(pods) != 0 {
			t.Fatalf("ListPods after stops = %+v, want none", pods)
		}
	})
}

func mustStart(t *testing.T, ctx context.Context, rt agent.Runtime, p *corev1.Pod) {
	t.Helper()
	if err := rt.StartPod(ctx, p); err != nil {
		t.Fatalf("StartPod(%s/%s): %v", p.Namespace, p.Name, err)
	}
}

func mustList(t *testing.T, ctx context.Context, rt agent.Runtime) []agent.RuntimePod {
	t.Helper()
	pods, err := rt.ListPods(ctx)
	if err != nil {
		t.Fatalf("ListPods: %v", err)
	}
	return pods
}

// BasicPod is a minimal pod for harnesses: one container running image with
// args, grace period 1 s.
func BasicPod(namespace, name string, uid types.UID, image string, args ...string) *corev1.Pod {
	grace := int64(1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: uid},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			Containers:                    []corev1.Container{{Name: "main", Image: image, Args: args, ImagePullPolicy: corev1.PullNever}},
		},
	}
}
