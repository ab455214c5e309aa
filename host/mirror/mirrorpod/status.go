package mirrorpod

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/staticlet/staticlet/host/pod"
)

// StatusInput is what a mirror pod's status is made from.
type StatusInput struct {
	Static *corev1.Pod
	// Runtime is the runtime's status, nil while the runtime holds none.
	Runtime *corev1.PodStatus
	// AgentPhase and LastError describe a pod the runtime does not report on (yet).
	AgentPhase string
	LastError  string
	// HostIP is the node's address.
	HostIP string
	// Mirror is the mirror pod as the API server holds it: its status supplies transition times, the start
	// time and the fields the API server owns (qosClass).
	Mirror *corev1.Pod
	Now    time.Time
}

// MirrorStatus is the status to show on the mirror pod, in the kubelet's shape: phase, the PodScheduled,
// Initialized, ContainersReady and Ready conditions, one status per container, pod and host IPs, start time.
func MirrorStatus(in StatusInput) corev1.PodStatus {
	var prev corev1.PodStatus
	if in.Mirror != nil {
		prev = in.Mirror.Status
	}
	var rs corev1.PodStatus
	if in.Runtime != nil {
		rs = *in.Runtime.DeepCopy()
	}
	st := corev1.PodStatus{
		Phase:     rs.Phase,
		Message:   rs.Message,
		Reason:    rs.Reason,
		PodIP:     rs.PodIP,
		PodIPs:    rs.PodIPs,
		StartTime: rs.StartTime,
		// The API server sets qosClass on the mirror at creation and it never changes; a pod without a
		// mirror (the kubelet API's /pods) shows the runtime's, computed as the kubelet computes it.
		QOSClass:   prev.QOSClass,
		Resize:     rs.Resize,
		HostIP:     in.HostIP,
		Conditions: nil,
	}
	if in.Runtime == nil {
		st.Phase = corev1.PodPending
		if in.LastError != "" {
			st.Message = in.LastError
		}
	}
	if st.Phase == "" {
		st.Phase = corev1.PodPending
	}
	if st.QOSClass == "" {
		st.QOSClass = rs.QOSClass
	}
	// ObservedGeneration stays empty, as the kubelet leaves it on mirror pods: the kubelet sets it from the
	// generation of the pod it runs, and a static pod read from a file has none (the mirror's own
	// metadata.generation is the API server's count of mirror writes, not of anything the node observed).
	if in.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: in.HostIP}}
	}
	if in.Static.Spec.HostNetwork && st.PodIP == "" && in.HostIP != "" {
		st.PodIP = in.HostIP
	}
	if st.PodIP != "" && len(st.PodIPs) == 0 {
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	if st.StartTime == nil {
		st.StartTime = prev.StartTime
	}
	if st.StartTime == nil {
		t := metav1.NewTime(in.Now)
		st.StartTime = &t
	}
	waiting := "ContainerCreating"
	if in.Runtime == nil && in.LastError != "" {
		waiting = "CreateContainerError"
	}
	st.InitContainerStatuses = containerStatuses(in.Static.Spec.InitContainers, rs.InitContainerStatuses, "PodInitializing", in.LastError)
	st.ContainerStatuses = containerStatuses(in.Static.Spec.Containers, rs.ContainerStatuses, waiting, in.LastError)
	st.Conditions = conditions(st, rs.Conditions, prev.Conditions, in.Now, in.Runtime != nil)
	return st
}

func containerStatuses(specs []corev1.Container, got []corev1.ContainerStatus, waitingReason, message string) []corev1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	byName := map[string]corev1.ContainerStatus{}
	for _, cs := range got {
		byName[cs.Name] = cs
	}
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for _, c := range specs {
		if cs, ok := byName[c.Name]; ok {
			if cs.Image == "" {
				cs.Image = c.Image
			}
			out = append(out, cs)
			continue
		}
		// Before the runtime reports on the container, its mounts are shown as the kubelet shows them by
		// default; an IfPossible recursive read-only mount reads Disabled until the runtime resolves it.
		out = append(out, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, VolumeMounts: pod.VolumeMountStatuses(&c, false),
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waitingReason, Message: message}},
		})
	}
	return out
}

// conditions computes the four pod conditions the kubelet reports, taking the runtime's when it reports them
// and keeping the previous transition time of a condition whose status did not change.
func conditions(st corev1.PodStatus, fromRuntime, prev []corev1.PodCondition, now time.Time, sandboxReady bool) []corev1.PodCondition {
	reported := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range fromRuntime {
		reported[c.Type] = c
	}
	allReady := len(st.ContainerStatuses) > 0
	var notReady []string
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			allReady = false
			notReady = append(notReady, cs.Name)
		}
	}
	initialized := true
	var notInitialized []string
	for _, cs := range st.InitContainerStatuses {
		done := cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		restartable := cs.Started != nil && *cs.Started && cs.Ready // sidecar init containers
		if !done && !restartable {
			initialized = false
			notInitialized = append(notInitialized, cs.Name)
		}
	}
	if st.Phase == corev1.PodSucceeded {
		allReady = false
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, message string) corev1.PodCondition {
		if c, found := reported[t]; found {
			return c
		}
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: message}
		if ok {
			c = corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
		}
		return c
	}
	out := []corev1.PodCondition{
		// The kubelet's: the pod's sandbox (namespaces, network) is set up, so containers can be created.
		cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		cond(corev1.PodInitialized, initialized, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: %v", notInitialized)),
		cond(corev1.PodReady, allReady, "ContainersNotReady", fmt.Sprintf("containers with unready status: %v", notReady)),
		cond(corev1.ContainersReady, allReady, "ContainersNotReady", fmt.Sprintf("containers with unready status: %v", notReady)),
		cond(corev1.PodScheduled, true, "", ""),
	}
	// Conditions of the runtime's own (staticlet.dev/PodNetwork) pass through after the standard ones.
	for _, c := range fromRuntime {
		if !slices.ContainsFunc(out, func(o corev1.PodCondition) bool { return o.Type == c.Type }) {
			out = append(out, c)
		}
	}
	before := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range prev {
		before[c.Type] = c
	}
	for i := range out {
		if p, ok := before[out[i].Type]; ok && p.Status == out[i].Status && !p.LastTransitionTime.IsZero() {
			out[i].LastTransitionTime = p.LastTransitionTime
		} else if out[i].LastTransitionTime.IsZero() {
			out[i].LastTransitionTime = metav1.NewTime(now)
		}
	}
	return out
}

// StatusPatch is the strategic merge patch that turns the mirror's status into want, with the mirror's UID
// as a precondition (as the kubelet's status manager sends it); changed is false when nothing differs once
// serialised (the API server keeps times to the second).
func StatusPatch(mirror *corev1.Pod, want corev1.PodStatus) (patch []byte, changed bool, err error) {
	oldJSON, err := jsonOf(corev1.Pod{Status: mirror.Status})
	if err != nil {
		return nil, false, fmt.Errorf("status patch: %s: %w", Key(mirror), err)
	}
	diff, err := twoWayPatch(oldJSON, corev1.Pod{Status: want}, corev1.Pod{})
	if err != nil {
		return nil, false, fmt.Errorf("status patch: %s: %w", Key(mirror), err)
	}
	if string(diff) == "{}" {
		return nil, false, nil
	}
	patch, err = twoWayPatch(oldJSON, corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: mirror.UID}, Status: want}, corev1.Pod{})
	if err != nil {
		return nil, false, fmt.Errorf("status patch: %s: %w", Key(mirror), err)
	}
	return patch, true, nil
}

// Event is one Kubernetes Event to record.
type Event struct {
	Type    string // corev1.EventTypeNormal or corev1.EventTypeWarning
	Reason  string
	Message string
}

// LifecycleEvents are the kubelet-style Events a change of runtime status implies: Created and Started for
// a new running container, BackOff for a crash loop, Failed for an image that cannot be had, Unhealthy for a
// running container that stopped being ready. prev is nil the first time the pod is seen.
func LifecycleEvents(prev, cur *corev1.PodStatus) []Event {
	if cur == nil {
		return nil
	}
	before := map[string]corev1.ContainerStatus{}
	if prev != nil {
		for _, cs := range append(append([]corev1.ContainerStatus(nil), prev.InitContainerStatuses...), prev.ContainerStatuses...) {
			before[cs.Name] = cs
		}
	}
	var out []Event
	// A pod held back by its start-after annotation (see host/plan): one event when it starts waiting,
	// or when the wait turns into a cycle, not one per container or per change of what it waits for.
	if prevReason := ""; cur.Reason == "WaitingForDependencies" || cur.Reason == "DependencyCycle" {
		if prev != nil {
			prevReason = prev.Reason
		}
		if prevReason != cur.Reason {
			typ := corev1.EventTypeNormal
			if cur.Reason == "DependencyCycle" {
				typ = corev1.EventTypeWarning
			}
			out = append(out, Event{typ, cur.Reason, cur.Message})
		}
		return out
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), cur.InitContainerStatuses...), cur.ContainerStatuses...) {
		p, seen := before[cs.Name]
		switch {
		case cs.State.Running != nil && (!seen || p.State.Running == nil || p.ContainerID != cs.ContainerID):
			if !seen || p.ContainerID != cs.ContainerID {
				out = append(out, Event{corev1.EventTypeNormal, "Created", fmt.Sprintf("Created container: %s", cs.Name)})
			}
			out = append(out, Event{corev1.EventTypeNormal, "Started", fmt.Sprintf("Started container %s", cs.Name)})
		case cs.State.Waiting != nil && (!seen || p.State.Waiting == nil || p.State.Waiting.Reason != cs.State.Waiting.Reason):
			switch cs.State.Waiting.Reason {
			case "CrashLoopBackOff":
				out = append(out, Event{corev1.EventTypeWarning, "BackOff", fmt.Sprintf("Back-off restarting failed container %s", cs.Name)})
			case "ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerError", "RunContainerError":
				out = append(out, Event{corev1.EventTypeWarning, "Failed", fmt.Sprintf("Error: %s: %s", cs.State.Waiting.Reason, cs.State.Waiting.Message)})
			}
		}
		if seen && cs.State.Running != nil && p.State.Running != nil && p.ContainerID == cs.ContainerID && p.Ready && !cs.Ready {
			out = append(out, Event{corev1.EventTypeWarning, "Unhealthy", fmt.Sprintf("Container %s is running but no longer ready", cs.Name)})
		}
	}
	return out
}

// KillingEvents are the Events for a static pod that is being removed.
func KillingEvents(static *corev1.Pod) []Event {
	out := make([]Event, 0, len(static.Spec.Containers))
	for _, c := range static.Spec.Containers {
		out = append(out, Event{corev1.EventTypeNormal, "Killing", fmt.Sprintf("Stopping container %s", c.Name)})
	}
	return out
}

func jsonOf(v interface{}) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return data, nil
}

// twoWayPatch is the strategic merge patch from old (JSON) to want, for an object shaped like schema.
func twoWayPatch(old []byte, want, schema interface{}) ([]byte, error) {
	newJSON, err := jsonOf(want)
	if err != nil {
		return nil, err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(old, newJSON, schema)
	if err != nil {
		return nil, fmt.Errorf("strategic merge patch: %w", err)
	}
	return patch, nil
}
