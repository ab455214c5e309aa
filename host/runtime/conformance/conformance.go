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

	// Optional capabilities; a nil one skips the cases that need it.

	// Reopen returns a new runtime over the same backing store as rt, as a
	// restarted agent process sees it, after releasing rt without stopping
	// its pods.
	Reopen func(t *testing.T, rt agent.Runtime) agent.Runtime
	// Reboot returns a new runtime over rt's records as a node restart
	// leaves them: every task of rt's pods gone, records and containers
	// kept; rt is released without stopping anything first.
	Reboot func(t *testing.T, rt agent.Runtime) agent.Runtime
	// ExitingPod returns a pod whose only container exits with exitCode
	// shortly after it starts, with that restart policy.
	ExitingPod func(t *testing.T, namespace, name string, uid types.UID, exitCode int, policy corev1.RestartPolicy) *corev1.Pod
	// SignalPod returns a pod whose only container exits at once on SIGTERM
	// (trapTERM) or ignores it, so only SIGKILL ends it.
	SignalPod func(t *testing.T, namespace, name string, uid types.UID, trapTERM bool) *corev1.Pod
	// CrashLoopBase is the runtime's crash-loop back-off base, so the suite
	// knows how long restarts may take; default 10 s.
	CrashLoopBase time.Duration
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
	t.Run("PodStatus", func(t *testing.T) {
		rt := h.New(t)
		p := h.Pod(t, "default", "status-node1", "uid-status")
		if _, ok := rt.PodStatus("uid-status"); ok {
			t.Fatal("PodStatus before start: ok, want not held")
		}
		mustStart(t, ctx(t), rt, p)
		st, ok := rt.PodStatus("uid-status")
		if !ok {
			t.Fatal("PodStatus after start: not held")
		}
		if len(st.ContainerStatuses) != len(p.Spec.Containers) {
			t.Fatalf("PodStatus has %d container statuses, want %d", len(st.ContainerStatuses), len(p.Spec.Containers))
		}
		for i, cs := range st.ContainerStatuses {
			if cs.Name != p.Spec.Containers[i].Name || cs.RestartCount != 0 {
				t.Errorf("container status %d = %s restarts %d, want %s with 0", i, cs.Name, cs.RestartCount, p.Spec.Containers[i].Name)
			}
		}
		if err := rt.StopPod(ctx(t), "uid-status", time.Second); err != nil {
			t.Fatalf("StopPod: %v", err)
		}
		if _, ok := rt.PodStatus("uid-status"); ok {
			t.Fatal("PodStatus after stop: ok, want not held")
		}
	})
	t.Run("StatusChanged", func(t *testing.T) {
		rt := h.New(t)
		n, ok := rt.(agent.StatusNotifier)
		if !ok {
			t.Skip("the runtime does not signal status changes; the agent polls it while a pod waits")
		}
		for len(n.StatusChanged()) > 0 {
			<-n.StatusChanged()
		}
		p := h.Pod(t, "default", "signal-node1", "uid-signal")
		mustStart(t, ctx(t), rt, p)
		waitStatus(t, rt, "uid-signal", h.Timeout, agent.PodReady)
		// The signal for Running and Ready is buffered: the agent reads it
		// whenever it gets to it.
		select {
		case <-n.StatusChanged():
		case <-time.After(time.Second):
			t.Fatal("no status signal after the pod turned Running and Ready")
		}
		if err := rt.StopPod(ctx(t), "uid-signal", time.Second); err != nil {
			t.Fatalf("StopPod: %v", err)
		}
	})
	t.Run("Adoption", func(t *testing.T) {
		if h.Reopen == nil {
			t.Skip("harness cannot reopen its runtime")
		}
		rt := h.New(t)
		p := h.Pod(t, "default", "adopt-node1", "uid-adopt")
		mustStart(t, ctx(t), rt, p)
		before, _ := rt.PodStatus("uid-adopt")
		rt2 := h.Reopen(t, rt)
		pods := mustList(t, ctx(t), rt2)
		if len(pods) != 1 || pods[0].UID != "uid-adopt" || pods[0].Key != "default/adopt-node1" || pods[0].GracePeriod != agent.GracePeriod(p) {
			t.Fatalf("ListPods after reopen = %+v, want the running pod", pods)
		}
		mustStart(t, ctx(t), rt2, p) // the agent re-asks; nothing may restart
		pods = mustList(t, ctx(t), rt2)
		if len(pods) != 1 {
			t.Fatalf("ListPods after a start of the adopted pod = %+v, want exactly one", pods)
		}
		after := waitStatus(t, rt2, "uid-adopt", 10*time.Second, func(st corev1.PodStatus) bool {
			return len(st.ContainerStatuses) == 0 || st.ContainerStatuses[0].State.Running != nil
		})
		for i, cs := range after.ContainerStatuses {
			if cs.RestartCount != 0 || cs.State.Running == nil {
				t.Errorf("adopted container %s: restarts %d running %v, want 0 and running", cs.Name, cs.RestartCount, cs.State.Running != nil)
			}
			if len(before.ContainerStatuses) > i && before.ContainerStatuses[i].ContainerID != cs.ContainerID {
				t.Errorf("adopted container %s has ID %q, was %q: it was replaced", cs.Name, cs.ContainerID, before.ContainerStatuses[i].ContainerID)
			}
		}
		if err := rt2.StopPod(ctx(t), "uid-adopt", time.Second); err != nil {
			t.Fatalf("StopPod on the reopened runtime: %v", err)
		}
		if pods := mustList(t, ctx(t), rt2); len(pods) != 0 {
			t.Fatalf("ListPods after stop = %+v, want none", pods)
		}
	})
	t.Run("Reboot", func(t *testing.T) {
		if h.Reboot == nil {
			t.Skip("harness cannot simulate a node restart")
		}
		rt := h.New(t)
		wanted := h.Pod(t, "default", "wanted-node1", "uid-wanted")
		unwanted := h.Pod(t, "default", "unwanted-node1", "uid-unwanted")
		mustStart(t, ctx(t), rt, wanted)
		mustStart(t, ctx(t), rt, unwanted)
		rt2 := h.Reboot(t, rt)
		// Known from records alone: listed, dormant, nothing running.
		pods := mustList(t, ctx(t), rt2)
		if len(pods) != 2 || !pods[0].Dormant || !pods[1].Dormant {
			t.Fatalf("ListPods after the reboot = %+v, want both pods, dormant", pods)
		}
		for _, uid := range []types.UID{"uid-wanted", "uid-unwanted"} {
			if st, ok := rt2.PodStatus(uid); !ok || st.Phase == corev1.PodRunning || anyRunning(st) {
				t.Errorf("dormant pod %s: held %v, phase %s, containers %+v; want held and nothing running", uid, ok, st.Phase, st.ContainerStatuses)
			}
		}
		// Asked for, the dormant pod starts; the other stays dormant.
		mustStart(t, ctx(t), rt2, wanted)
		waitStatus(t, rt2, "uid-wanted", h.Timeout, anyRunning)
		pods = mustList(t, ctx(t), rt2)
		if len(pods) != 2 || pods[0].UID != "uid-unwanted" || !pods[0].Dormant || pods[1].UID != "uid-wanted" || pods[1].Dormant {
			t.Fatalf("ListPods after starting one = %+v, want uid-unwanted dormant and uid-wanted not", pods)
		}
		if st, _ := rt2.PodStatus("uid-unwanted"); anyRunning(st) {
			t.Errorf("the pod nobody asked for runs: %+v", st.ContainerStatuses)
		}
		// A dormant pod is stopped and cleaned up like any.
		for _, uid := range []types.UID{"uid-unwanted", "uid-wanted"} {
			if err := rt2.StopPod(ctx(t), uid, time.Second); err != nil {
				t.Fatalf("StopPod(%s): %v", uid, err)
			}
		}
		if pods := mustList(t, ctx(t), rt2); len(pods) != 0 {
			t.Fatalf("ListPods after stops = %+v, want none", pods)
		}
	})
	t.Run("RestartPolicy", func(t *testing.T) {
		if h.ExitingPod == nil {
			t.Skip("harness has no exiting pods")
		}
		base := h.CrashLoopBase
		if base == 0 {
			base = 10 * time.Second
		}
		t.Run("NeverFailed", func(t *testing.T) {
			rt := h.New(t)
			mustStart(t, ctx(t), rt, h.ExitingPod(t, "default", "never-node1", "uid-never", 3, corev1.RestartPolicyNever))
			st := waitStatus(t, rt, "uid-never", 20*time.Second, func(st corev1.PodStatus) bool { return st.Phase == corev1.PodFailed })
			c := st.ContainerStatuses[0]
			if c.State.Terminated == nil || c.State.Terminated.ExitCode != 3 || c.State.Terminated.Reason != "Error" || c.RestartCount != 0 {
				t.Errorf("container status %+v, want terminated with exit code 3, reason Error, no restart", c)
			}
			_ = rt.StopPod(ctx(t), "uid-never", time.Second)
		})
		t.Run("OnFailureSucceeded", func(t *testing.T) {
			rt := h.New(t)
			mustStart(t, ctx(t), rt, h.ExitingPod(t, "default", "onfail-node1", "uid-onfail", 0, corev1.RestartPolicyOnFailure))
			st := waitStatus(t, rt, "uid-onfail", 20*time.Second, func(st corev1.PodStatus) bool { return st.Phase == corev1.PodSucceeded })
			c := st.ContainerStatuses[0]
			if c.State.Terminated == nil || c.State.Terminated.Reason != "Completed" || c.RestartCount != 0 {
				t.Errorf("container status %+v, want terminated Completed with no restart", c)
			}
			_ = rt.StopPod(ctx(t), "uid-onfail", time.Second)
		})
		t.Run("AlwaysCrashLoop", func(t *testing.T) {
			rt := h.New(t)
			mustStart(t, ctx(t), rt, h.ExitingPod(t, "default", "loop-node1", "uid-loop", 2, corev1.RestartPolicyAlways))
			// Restart 1 is at once, restart 2 after base: in between the
			// container waits in CrashLoopBackOff with the last exit code.
			st := waitStatus(t, rt, "uid-loop", 20*time.Second+base, func(st corev1.PodStatus) bool {
				c := st.ContainerStatuses[0]
				return c.RestartCount >= 1 && c.State.Waiting != nil && c.State.Waiting.Reason == "CrashLoopBackOff"
			})
			c := st.ContainerStatuses[0]
			if c.LastTerminationState.Terminated == nil || c.LastTerminationState.Terminated.ExitCode != 2 {
				t.Errorf("crash-looping container's last termination %+v, want exit code 2", c.LastTerminationState)
			}
			waitStatus(t, rt, "uid-loop", 20*time.Second+4*base, func(st corev1.PodStatus) bool { return st.ContainerStatuses[0].RestartCount >= 2 })
			_ = rt.StopPod(ctx(t), "uid-loop", time.Second)
		})
	})
	t.Run("GracePeriod", func(t *testing.T) {
		if h.SignalPod == nil {
			t.Skip("harness has no signal pods")
		}
		rt := h.New(t)
		mustStart(t, ctx(t), rt, h.SignalPod(t, "default", "trap-node1", "uid-trap", true))
		mustStart(t, ctx(t), rt, h.SignalPod(t, "default", "stubborn-node1", "uid-stubborn", false))
		const grace = 2 * time.Second
		begin := time.Now()
		if err := rt.StopPod(ctx(t), "uid-trap", grace); err != nil {
			t.Fatalf("StopPod(trapping): %v", err)
		}
		if took := time.Since(begin); took >= grace {
			t.Errorf("a container that exits on SIGTERM took %s to stop, want well under the %s grace period", took, grace)
		}
		begin = time.Now()
		if err := rt.StopPod(ctx(t), "uid-stubborn", grace); err != nil {
			t.Fatalf("StopPod(stubborn): %v", err)
		}
		if took := time.Since(begin); took < grace || took > grace+10*time.Second {
			t.Errorf("a container that ignores SIGTERM took %s to stop, want the %s grace period then SIGKILL", took, grace)
		}
		if pods := mustList(t, ctx(t), rt); len(pods) != 0 {
			t.Fatalf("ListPods after stops = %+v, want none", pods)
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

// waitStatus polls PodStatus (which answers from memory) until cond holds.
func waitStatus(t *testing.T, rt agent.Runtime, uid types.UID, timeout time.Duration, cond func(corev1.PodStatus) bool) corev1.PodStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st corev1.PodStatus
	for {
		var ok bool
		st, ok = rt.PodStatus(uid)
		if ok && len(st.ContainerStatuses) > 0 && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s status never matched within %s; last: phase %s containers %+v", uid, timeout, st.Phase, st.ContainerStatuses)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func anyRunning(st corev1.PodStatus) bool {
	for _, cs := range st.ContainerStatuses {
		if cs.State.Running != nil {
			return true
		}
	}
	return false
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
