package containerd

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerStatusView is what the status needs of one container; the worker
// fills it from the state it owns.
type containerStatusView struct {
	name, image, imageID, containerID string
	restartCount                      int32
	running                           bool
	startedAt                         time.Time
	// waiting is set while the container is not running and will be tried
	// again (first start, crash-loop back-off, image trouble).
	waiting *corev1.ContainerStateWaiting
	// terminated is set when the container exited for good.
	terminated     *corev1.ContainerStateTerminated
	lastTerminated *corev1.ContainerStateTerminated
}

// buildPodStatus computes a kubelet-shaped PodStatus. Containers without
// probes are ready as soon as they run.
func buildPodStatus(policy corev1.RestartPolicy, startTime time.Time, views []containerStatusView) corev1.PodStatus {
	st := corev1.PodStatus{QOSClass: ""}
	if !startTime.IsZero() {
		t := metav1.NewTime(startTime)
		st.StartTime = &t
	}
	allReady := len(views) > 0
	var waiting, running, stopped, succeeded int
	for _, v := range views {
		cs := corev1.ContainerStatus{
			Name: v.name, Image: v.image, ImageID: v.imageID, ContainerID: v.containerID,
			RestartCount: v.restartCount, Ready: v.running,
		}
		started := v.running
		cs.Started = &started
		if v.lastTerminated != nil {
			cs.LastTerminationState.Terminated = v.lastTerminated
		}
		switch {
		case v.running:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(v.startedAt)}
			running++
		case v.terminated != nil:
			cs.State.Terminated = v.terminated
			stopped++
			if v.terminated.ExitCode == 0 {
				succeeded++
			}
		default:
			w := v.waiting
			if w == nil {
				w = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			}
			cs.State.Waiting = w
			if v.lastTerminated != nil {
				stopped++ // a crash loop counts as stopped, as in the kubelet
			} else {
				waiting++
			}
		}
		if !v.running {
			allReady = false
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	switch {
	case waiting > 0 || len(views) == 0:
		st.Phase = corev1.PodPending
	case running > 0:
		st.Phase = corev1.PodRunning
	case stopped > 0:
		switch {
		case policy == corev1.RestartPolicyAlways:
			st.Phase = corev1.PodRunning
		case stopped == succeeded && allTerminated(views):
			st.Phase = corev1.PodSucceeded
		case policy == corev1.RestartPolicyNever && allTerminated(views):
			st.Phase = corev1.PodFailed
		default:
			st.Phase = corev1.PodRunning
		}
	default:
		st.Phase = corev1.PodPending
	}
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s}
	}
	ready := allReady
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		ready = false
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true),
		cond(corev1.PodInitialized, true),
		cond(corev1.ContainersReady, ready),
		cond(corev1.PodReady, ready),
	}
	return st
}

func allTerminated(views []containerStatusView) bool {
	for _, v := range views {
		if v.terminated == nil {
			return false
		}
	}
	return true
}
