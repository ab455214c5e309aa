package containerd

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerStatusView is what the status needs of one container; the worker
// fills it from the state it owns.
type containerStatusView struct {
	name, image, imageID, containerID string
	kind                              containerKind
	restartCount                      int32
	running                           bool
	// started and ready are the probes' verdicts (true for a running
	// container without startup or readiness probes).
	started, ready bool
	// startedOnce: a sidecar that once counted as started.
	startedOnce bool
	// completed: an init container that exited 0.
	completed bool
	startedAt time.Time
	// waiting is set while the container is not running and will be tried
	// again (first start, crash-loop back-off, image trouble).
	waiting *corev1.ContainerStateWaiting
	// terminated is set when the container exited for good.
	terminated     *corev1.ContainerStateTerminated
	lastTerminated *corev1.ContainerStateTerminated
	// volumeMounts are the container's, as the kubelet reports them.
	volumeMounts []corev1.VolumeMountStatus
}

// buildPodStatus computes a kubelet-shaped PodStatus. Init containers (and
// sidecars) come first in views, in the pod's order.
func buildPodStatus(policy corev1.RestartPolicy, startTime time.Time, views []containerStatusView) corev1.PodStatus {
	st := corev1.PodStatus{QOSClass: ""}
	if !startTime.IsZero() {
		t := metav1.NewTime(startTime)
		st.StartTime = &t
	}
	initialized, initFailed := true, false
	var apps []containerStatusView
	for _, v := range views {
		switch v.kind {
		case appContainer:
			apps = append(apps, v)
			continue
		case initContainer:
			if !v.completed {
				if initialized && v.terminated != nil {
					initFailed = true
				}
				initialized = false
			}
		case sidecarContainer:
			if !v.startedOnce && v.terminated == nil && initialized {
				initialized = false
			}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, containerStatus(v, initialized))
	}
	allReady := len(apps) > 0 && initialized
	for _, v := range views {
		if v.kind == sidecarContainer && !v.ready && v.terminated == nil {
			allReady = false
		}
	}
	var waiting, running, stopped, succeeded int
	for _, v := range apps {
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(v, initialized))
		switch {
		case v.running:
			running++
		case v.terminated != nil:
			stopped++
			if v.terminated.ExitCode == 0 {
				succeeded++
			}
		case v.lastTerminated != nil:
			stopped++ // a crash loop counts as stopped, as in the kubelet
		default:
			waiting++
		}
		if !v.ready {
			allReady = false
		}
	}
	switch {
	case initFailed && policy == corev1.RestartPolicyNever:
		st.Phase = corev1.PodFailed
	case !initialized:
		st.Phase = corev1.PodPending
	case waiting > 0 || len(apps) == 0:
		st.Phase = corev1.PodPending
	case running > 0:
		st.Phase = corev1.PodRunning
	case stopped > 0:
		switch {
		case policy == corev1.RestartPolicyAlways:
			st.Phase = corev1.PodRunning
		case stopped == succeeded && allTerminated(apps):
			st.Phase = corev1.PodSucceeded
		case policy == corev1.RestartPolicyNever && allTerminated(apps):
			st.Phase = corev1.PodFailed
		default:
			st.Phase = corev1.PodRunning
		}
	default:
		st.Phase = corev1.PodPending
	}
	cond := func(t corev1.PodConditionType, ok bool, reasonIfNot string) corev1.PodCondition {
		if ok {
			return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
		}
		return corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reasonIfNot}
	}
	ready := allReady
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		ready = false
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true, ""),
		cond(corev1.PodInitialized, initialized, "ContainersNotInitialized"),
		cond(corev1.ContainersReady, ready, "ContainersNotReady"),
		cond(corev1.PodReady, ready, "ContainersNotReady"),
	}
	return st
}

// containerStatus is one container's status; initialized tells whether a
// container not yet started waits for the pod's init containers.
func containerStatus(v containerStatusView, initialized bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{
		Name: v.name, Image: v.image, ImageID: v.imageID, ContainerID: v.containerID,
		RestartCount: v.restartCount, Ready: (v.running && v.ready) || v.completed,
		VolumeMounts: v.volumeMounts,
	}
	started := v.running && v.started
	cs.Started = &started
	if v.lastTerminated != nil {
		cs.LastTerminationState.Terminated = v.lastTerminated
	}
	switch {
	case v.running:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(v.startedAt)}
	case v.terminated != nil:
		cs.State.Terminated = v.terminated
	default:
		w := v.waiting
		if w == nil {
			reason := "ContainerCreating"
			if !initialized && v.lastTerminated == nil {
				reason = "PodInitializing"
			}
			w = &corev1.ContainerStateWaiting{Reason: reason}
		}
		cs.State.Waiting = w
	}
	return cs
}

func allTerminated(views []containerStatusView) bool {
	for _, v := range views {
		if v.terminated == nil {
			return false
		}
	}
	return true
}

// qosClass is the pod's QoS class as the kubelet computes it from cpu and
// memory over all its containers (init containers too): BestEffort without
// any request or limit; Guaranteed when every container limits both and
// every request equals its limit (a request left out defaults to the
// limit); Burstable otherwise. Pod-level resources decide alone when set.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	if qos, ok := podLevelQOS(pod); ok {
		return qos
	}
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	add := func(list corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		sum := list[name]
		sum.Add(q)
		list[name] = sum
	}
	guaranteed := true
	containers := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range containers {
		found := 0
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if hasLim && !lim.IsZero() {
				found++
				add(limits, name, lim)
				if !hasReq {
					req, hasReq = lim, true
				}
			}
			if hasReq && !req.IsZero() {
				add(requests, name, req)
			}
		}
		if found < 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed && len(requests) == len(limits) {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				return corev1.PodQOSBurstable
			}
		}
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
