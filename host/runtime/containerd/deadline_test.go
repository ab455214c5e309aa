package containerd_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestActiveDeadline: once activeDeadlineSeconds has passed since the pod
// started, its containers are stopped (the stop signal, then SIGKILL after
// the grace period), nothing restarts them although the policy is Always,
// the pod is Failed with DeadlineExceeded, and a new agent adopting the pod
// keeps it so, with the same start time.
func TestActiveDeadline(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	deadline, grace := int64(2), int64(1)
	// The shell ignores SIGTERM: only the SIGKILL after the grace period ends it.
	c := corev1.Container{Name: "c", Image: e.image, Args: []string{"sh", "-c", "trap '' TERM; while :; do sleep 1; done"}}
	p := pod("deadline-node1", "uid-deadline", corev1.RestartPolicyAlways, c)
	p.Spec.ActiveDeadlineSeconds, p.Spec.TerminationGracePeriodSeconds = &deadline, &grace
	began := time.Now()
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	waitContainer(t, rt, p.UID, "c", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	st := podStatus(t, rt, p.UID, 15*time.Second, func(st corev1.PodStatus) bool { return st.Phase == corev1.PodFailed })
	if took := time.Since(began); took < 3*time.Second {
		t.Errorf("failed after %s: before the deadline plus the grace period", took)
	}
	if st.Reason != "DeadlineExceeded" || st.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("status reason %q message %q", st.Reason, st.Message)
	}
	if condition(st, corev1.PodReady) != corev1.ConditionFalse {
		t.Errorf("a failed pod is Ready: %+v", st.Conditions)
	}
	cs := st.ContainerStatuses[0]
	if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 137 {
		t.Fatalf("container state %+v, want killed (137)", cs.State)
	}
	startTime := st.StartTime
	time.Sleep(2 * time.Second)
	if st, _ = rt.PodStatus(p.UID); st.ContainerStatuses[0].RestartCount != 0 || st.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("restarted after the deadline: %+v", st.ContainerStatuses[0])
	}

	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	rt2 := newRuntime(t, opts)
	if _, err := rt2.ListPods(t.Context()); err != nil {
		t.Fatal(err)
	}
	st = podStatus(t, rt2, p.UID, 10*time.Second, func(st corev1.PodStatus) bool { return st.Phase == corev1.PodFailed })
	if st.Reason != "DeadlineExceeded" || st.ContainerStatuses[0].State.Running != nil {
		t.Errorf("adopted pod: reason %q container %+v", st.Reason, st.ContainerStatuses[0].State)
	}
	if startTime == nil || st.StartTime == nil || !st.StartTime.Equal(startTime) {
		t.Errorf("adopted start time %v, want %v", st.StartTime, startTime)
	}
	time.Sleep(1500 * time.Millisecond)
	if st, _ = rt2.PodStatus(p.UID); st.ContainerStatuses[0].State.Running != nil {
		t.Errorf("adopted pod restarted after its deadline: %+v", st.ContainerStatuses[0])
	}
}
