package mirrorpod

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func running(name, id string, ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, ContainerID: id, Ready: ready, RestartCount: restarts, Image: "busybox:1",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}}}
}

func waiting(name, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func condition(st corev1.PodStatus, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func TestMirrorStatus(t *testing.T) {
	start := metav1.NewTime(t0)
	tests := []struct {
		name      string
		runtime   *corev1.PodStatus
		lastError string
		hostNet   bool
		phase     corev1.PodPhase
		ready     corev1.ConditionStatus
		waiting   string
		podIP     string
	}{
		{name: "no runtime status yet", phase: corev1.PodPending, ready: corev1.ConditionFalse, waiting: "ContainerCreating"},
		{name: "start failed", lastError: "image not present", phase: corev1.PodPending, ready: corev1.ConditionFalse, waiting: "CreateContainerError"},
		{name: "running and ready", runtime: &corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &start, PodIP: "10.0.0.5",
			ContainerStatuses: []corev1.ContainerStatus{running("nginx-container", "containerd://1", true, 0)}},
			phase: corev1.PodRunning, ready: corev1.ConditionTrue, podIP: "10.0.0.5"},
		{name: "crash loop", runtime: &corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &start,
			ContainerStatuses: []corev1.ContainerStatus{waiting("nginx-container", "CrashLoopBackOff")}},
			phase: corev1.PodRunning, ready: corev1.ConditionFalse, waiting: "CrashLoopBackOff"},
		{name: "host network gets the host IP", hostNet: true, runtime: &corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{running("nginx-container", "containerd://1", true, 0)}},
			phase: corev1.PodRunning, ready: corev1.ConditionTrue, podIP: "192.0.2.10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := staticPod("abc")
			s.Spec.HostNetwork = tt.hostNet
			m := apiMirror("abc", func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSBestEffort })
			st := MirrorStatus(StatusInput{Static: s, Runtime: tt.runtime, LastError: tt.lastError, HostIP: "192.0.2.10", Mirror: m, Now: t0})
			if st.Phase != tt.phase || condition(st, corev1.PodReady).Status != tt.ready || condition(st, corev1.ContainersReady).Status != tt.ready {
				t.Errorf("phase %s ready %s, want %s %s", st.Phase, condition(st, corev1.PodReady).Status, tt.phase, tt.ready)
			}
			if condition(st, corev1.PodScheduled).Status != corev1.ConditionTrue || condition(st, corev1.PodInitialized).Status != corev1.ConditionTrue {
				t.Errorf("conditions = %+v", st.Conditions)
			}
			if sandbox := condition(st, corev1.PodReadyToStartContainers).Status; (sandbox == corev1.ConditionTrue) != (tt.runtime != nil) {
				t.Errorf("PodReadyToStartContainers = %s with runtime status %v", sandbox, tt.runtime != nil)
			}
			if len(st.ContainerStatuses) != 1 || st.ContainerStatuses[0].Image != "busybox:1" {
				t.Fatalf("container statuses = %+v", st.ContainerStatuses)
			}
			if w := st.ContainerStatuses[0].State.Waiting; (w == nil) != (tt.waiting == "") || (w != nil && w.Reason != tt.waiting) {
				t.Errorf("waiting = %+v, want %q", w, tt.waiting)
			}
			if st.HostIP != "192.0.2.10" || st.PodIP != tt.podIP || st.QOSClass != corev1.PodQOSBestEffort || st.StartTime == nil {
				t.Errorf("hostIP %q podIP %q qos %q start %v", st.HostIP, st.PodIP, st.QOSClass, st.StartTime)
			}
		})
	}
}

func TestMirrorStatusKeepsTransitionTimes(t *testing.T) {
	rs := &corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("nginx-container", "containerd://1", true, 0)}}
	m := apiMirror("abc", nil)
	m.Status = MirrorStatus(StatusInput{Static: staticPod("abc"), Runtime: rs, Mirror: m, Now: t0})
	later := MirrorStatus(StatusInput{Static: staticPod("abc"), Runtime: rs, Mirror: m, Now: t0.Add(time.Hour)})
	if got := condition(later, corev1.PodReady).LastTransitionTime.Time; !got.Equal(t0) {
		t.Errorf("Ready transition time = %s, want %s", got, t0)
	}
	if !later.StartTime.Time.Equal(t0) {
		t.Errorf("start time moved to %s", later.StartTime)
	}
	patch, changed, err := StatusPatch(m, later)
	if err != nil || changed {
		t.Errorf("unchanged status gave a patch %s (err %v)", patch, err)
	}
}

func TestStatusPatch(t *testing.T) {
	m := apiMirror("abc", nil)
	m.Status = MirrorStatus(StatusInput{Static: staticPod("abc"), Mirror: m, Now: t0})
	rs := &corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("nginx-container", "containerd://1", true, 2)}}
	want := MirrorStatus(StatusInput{Static: staticPod("abc"), Runtime: rs, Mirror: m, Now: t0.Add(time.Second)})
	patch, changed, err := StatusPatch(m, want)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	var decoded struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
		Status map[string]json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(patch, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Metadata.UID != "api-assigned" {
		t.Errorf("patch has no UID precondition: %s", patch)
	}
	if !strings.Contains(string(decoded.Status["phase"]), "Running") || !strings.Contains(string(patch), `"restartCount":2`) {
		t.Errorf("patch = %s", patch)
	}
}

func TestLifecycleEvents(t *testing.T) {
	st := func(cs ...corev1.ContainerStatus) *corev1.PodStatus { return &corev1.PodStatus{ContainerStatuses: cs} }
	tests := []struct {
		name      string
		prev, cur *corev1.PodStatus
		want      []string
	}{
		{"first sight of a running container", nil, st(running("c", "id1", true, 0)), []string{"Created", "Started"}},
		{"nothing changed", st(running("c", "id1", true, 0)), st(running("c", "id1", true, 0)), nil},
		{"restarted container", st(running("c", "id1", true, 0)), st(running("c", "id2", true, 1)), []string{"Created", "Started"}},
		{"crash loop", st(running("c", "id1", true, 0)), st(waiting("c", "CrashLoopBackOff")), []string{"BackOff"}},
		{"crash loop continues", st(waiting("c", "CrashLoopBackOff")), st(waiting("c", "CrashLoopBackOff")), nil},
		{"image never pulled", nil, st(waiting("c", "ErrImageNeverPull")), []string{"Failed"}},
		{"became unready", st(running("c", "id1", true, 0)), st(running("c", "id1", false, 0)), []string{"Unhealthy"}},
		{"no status", st(running("c", "id1", true, 0)), nil, nil},
		{"starts waiting for dependencies", nil, waitingFor("WaitingForDependencies", "etcd"), []string{"WaitingForDependencies"}},
		{"still waiting, for less", waitingFor("WaitingForDependencies", "etcd"), waitingFor("WaitingForDependencies", "nothing"), nil},
		{"the wait becomes a cycle", waitingFor("WaitingForDependencies", "etcd"), waitingFor("DependencyCycle", "a -> b -> a"), []string{"DependencyCycle"}},
		{"started after waiting", waitingFor("WaitingForDependencies", "etcd"), st(running("c", "id1", true, 0)), []string{"Created", "Started"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range LifecycleEvents(tt.prev, tt.cur) {
				got = append(got, e.Reason)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("events = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNodeObject(t *testing.T) {
	n := NodeObject("worker-1", NodeOptions{Labels: map[string]string{"tier": "edge"}, AgentVersion: "staticlet/0.1",
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}}, NodeHealth{}, t0)
	if n.Labels[corev1.LabelHostname] != "worker-1" || n.Labels["tier"] != "edge" || n.Labels[corev1.LabelOSStable] == "" {
		t.Errorf("labels = %v", n.Labels)
	}
	if InternalIP(n) != "192.0.2.10" || len(n.Status.Conditions) != 1 || n.Status.Conditions[0].Status != corev1.ConditionTrue {
		t.Errorf("status = %+v", n.Status)
	}
	c := ReadyCondition(t0.Add(time.Minute), NodeHealth{}, n.Status.Conditions)
	if !c.LastTransitionTime.Time.Equal(t0) || !c.LastHeartbeatTime.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("ready condition times = %s / %s", c.LastTransitionTime, c.LastHeartbeatTime)
	}
	l := LeaseObject("worker-1", "uid", t0)
	if l.Namespace != NodeLeaseNamespace || *l.Spec.HolderIdentity != "worker-1" || *l.Spec.LeaseDurationSeconds != 40 || l.OwnerReferences[0].UID != "uid" {
		t.Errorf("lease = %+v", l)
	}
}

func TestNodeLabelsPatch(t *testing.T) {
	opts := NodeOptions{Labels: map[string]string{"tier": "edge", "zone": "a"}}
	n := NodeObject("worker-1", opts, NodeHealth{}, t0)
	if n.Annotations[ManagedLabelsAnnotation] != "tier,zone" {
		t.Errorf("registered node annotation = %q", n.Annotations[ManagedLabelsAnnotation])
	}
	if p, err := NodeLabelsPatch(n, opts); err != nil || p != nil {
		t.Errorf("matching node: patch %s, %v", p, err)
	}
	// Someone else's label stays; a changed value, a new label and a dropped one are reconciled.
	n.Labels["team"] = "ops"
	p, err := NodeLabelsPatch(n, NodeOptions{Labels: map[string]string{"tier": "core", "rack": "r1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metadata":{"annotations":{"staticlet.dev/node-labels":"rack,tier"},"labels":{"rack":"r1","tier":"core","zone":null}}}`
	if string(p) != want {
		t.Errorf("patch\n got %s\nwant %s", p, want)
	}
	// A Node registered by someone else (no annotation): labels are added, none removed.
	bare := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1", Labels: map[string]string{"zone": "b"}}}
	p, _ = NodeLabelsPatch(bare, NodeOptions{})
	if !strings.Contains(string(p), `"kubernetes.io/hostname":"worker-1"`) || strings.Contains(string(p), "null") {
		t.Errorf("bare node patch %s", p)
	}
}

// TestRuntimeConditionsPassThrough: a condition of the runtime's own (no CNI config) reaches the mirror.
func TestRuntimeConditionsPassThrough(t *testing.T) {
	network := corev1.PodCondition{Type: "staticlet.dev/PodNetwork", Status: corev1.ConditionFalse, Reason: "NoCNIConfig", Message: "no CNI network config in /etc/cni/net.d"}
	rs := &corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{network},
		ContainerStatuses: []corev1.ContainerStatus{running("nginx-container", "containerd://1", true, 0)}}
	st := MirrorStatus(StatusInput{Static: staticPod("abc"), Runtime: rs, Mirror: apiMirror("abc", func(*corev1.Pod) {}), Now: t0})
	got := condition(st, "staticlet.dev/PodNetwork")
	if got.Status != corev1.ConditionFalse || got.Reason != "NoCNIConfig" || got.LastTransitionTime.IsZero() {
		t.Errorf("network condition = %+v in %+v", got, st.Conditions)
	}
	if condition(st, corev1.PodReady).Status != corev1.ConditionTrue {
		t.Errorf("the extra condition changed readiness: %+v", st.Conditions)
	}
}

// waitingFor is a pod status held back by its start-after annotation, as the agent builds it.
func waitingFor(reason, message string) *corev1.PodStatus {
	return &corev1.PodStatus{Phase: corev1.PodPending, Reason: reason, Message: message,
		ContainerStatuses: []corev1.ContainerStatus{waiting("c", reason)}}
}

// The kubelet leaves status.observedGeneration (and each condition's) empty on mirror pods: the pod it runs
// comes from a file and has no generation. The node-conformance test "mirror pod: update container image"
// checks it after the mirror's metadata.generation has grown.
func TestMirrorStatusLeavesObservedGenerationEmpty(t *testing.T) {
	start := metav1.NewTime(t0)
	runningStatus := &corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &start,
		ContainerStatuses: []corev1.ContainerStatus{running("nginx-container", "containerd://1", true, 0)}}
	tests := []struct {
		name       string
		generation int64
		runtime    *corev1.PodStatus
	}{
		{name: "new mirror, no runtime status", generation: 0},
		{name: "mirror at generation 1, running", generation: 1, runtime: runningStatus},
		{name: "mirror written many times, running", generation: 7, runtime: runningStatus},
		{name: "mirror at generation 3, start failed", generation: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := apiMirror("abc", func(p *corev1.Pod) { p.Generation = tt.generation })
			st := MirrorStatus(StatusInput{Static: staticPod("abc"), Runtime: tt.runtime, Mirror: m, Now: t0})
			if st.ObservedGeneration != 0 {
				t.Errorf("status.observedGeneration = %d, want 0 (mirror generation %d)", st.ObservedGeneration, tt.generation)
			}
			for _, c := range st.Conditions {
				if c.ObservedGeneration != 0 {
					t.Errorf("condition %s observedGeneration = %d, want 0", c.Type, c.ObservedGeneration)
				}
			}
		})
	}
}
