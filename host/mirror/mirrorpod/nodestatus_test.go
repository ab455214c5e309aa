package mirrorpod

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestReadyFollowsRuntimeHealth: Ready is False with the kubelet's reason and message while the runtime is
// down, True again when it answers; the transition time moves only when the status does.
func TestReadyFollowsRuntimeHealth(t *testing.T) {
	up := ReadyCondition(t0, NodeHealth{}, nil)
	if up.Status != corev1.ConditionTrue || up.Reason != "KubeletReady" {
		t.Fatalf("up = %+v", up)
	}
	down := ReadyCondition(t0.Add(time.Minute), NodeHealth{RuntimeDown: true}, []corev1.NodeCondition{up})
	if down.Status != corev1.ConditionFalse || down.Reason != "KubeletNotReady" || down.Message != "container runtime is down" {
		t.Errorf("down = %+v", down)
	}
	if !down.LastTransitionTime.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("down transition = %s, want the time it went down", down.LastTransitionTime)
	}
	still := ReadyCondition(t0.Add(2*time.Minute), NodeHealth{RuntimeDown: true}, []corev1.NodeCondition{down})
	if !still.LastTransitionTime.Time.Equal(t0.Add(time.Minute)) || !still.LastHeartbeatTime.Time.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("still down: transition %s heartbeat %s", still.LastTransitionTime, still.LastHeartbeatTime)
	}
	back := ReadyCondition(t0.Add(3*time.Minute), NodeHealth{}, []corev1.NodeCondition{still})
	if back.Status != corev1.ConditionTrue || !back.LastTransitionTime.Time.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("back = %+v", back)
	}
}

// TestNodeObjectFacts: nodeInfo carries the host's facts, staticlet's version and the runtime's; the kubelet
// port and the taints are registered; a status patch keeps the last known runtime version while the runtime
// does not answer.
func TestNodeObjectFacts(t *testing.T) {
	taint := corev1.Taint{Key: "node.staticlet.dev/static-pods-only", Effect: corev1.TaintEffectNoSchedule}
	opts := NodeOptions{AgentVersion: "staticlet/0.1", KubeletPort: 10250, Taints: []corev1.Taint{taint},
		SystemInfo: corev1.NodeSystemInfo{KernelVersion: "6.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)", BootID: "b", MachineID: "m",
			SystemUUID: "u", KubeletVersion: "ignored"}}
	n := NodeObject("worker-1", opts, NodeHealth{RuntimeVersion: "containerd://1.7.24"}, t0)
	info := n.Status.NodeInfo
	if info.KernelVersion != "6.1.0" || info.OSImage != "Debian GNU/Linux 12 (bookworm)" || info.BootID != "b" || info.MachineID != "m" ||
		info.SystemUUID != "u" || info.KubeletVersion != "staticlet/0.1" || info.ContainerRuntimeVersion != "containerd://1.7.24" || info.OperatingSystem == "" {
		t.Errorf("nodeInfo = %+v", info)
	}
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 || len(n.Spec.Taints) != 1 || n.Spec.Taints[0] != taint {
		t.Errorf("port %d taints %v", n.Status.DaemonEndpoints.KubeletEndpoint.Port, n.Spec.Taints)
	}
	patch, err := NodeStatusPatch(n, opts, NodeHealth{RuntimeDown: true}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status corev1.NodeStatus `json:"status"`
	}
	if err := json.Unmarshal(patch, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.NodeInfo != (corev1.NodeSystemInfo{}) || got.Status.DaemonEndpoints.KubeletEndpoint.Port != 0 {
		t.Errorf("patch changes nodeInfo or endpoints while only Ready changed: %s", patch)
	}
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Status != corev1.ConditionFalse {
		t.Errorf("patch = %s", patch)
	}
}

func TestDecideForeign(t *testing.T) {
	now := metav1.NewTime(t0)
	pod := func(mirror bool, node string, phase corev1.PodPhase, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: node},
			Status: corev1.PodStatus{Phase: phase}}
		if mirror {
			p.Annotations = map[string]string{"kubernetes.io/config.mirror": "h"}
		}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	for _, tt := range []struct {
		name string
		pod  *corev1.Pod
		want ForeignAction
	}{
		{"none", nil, LeaveForeign},
		{"mirror pod", pod(true, "worker-1", corev1.PodPending, false), LeaveForeign},
		{"other node", pod(false, "worker-2", corev1.PodPending, false), LeaveForeign},
		{"pending", pod(false, "worker-1", corev1.PodPending, false), RejectForeign},
		{"no phase yet", pod(false, "worker-1", "", false), RejectForeign},
		{"pending, being deleted", pod(false, "worker-1", corev1.PodPending, true), RejectForeign},
		{"rejected", pod(false, "worker-1", corev1.PodFailed, false), LeaveForeign},
		{"rejected, being deleted", pod(false, "worker-1", corev1.PodFailed, true), DeleteForeign},
		{"succeeded", pod(false, "worker-1", corev1.PodSucceeded, false), LeaveForeign},
	} {
		if got := DecideForeign(tt.pod, "worker-1"); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	patch, err := RejectionPatch("worker-1")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":{"message":"Pod was rejected: node worker-1 runs only static pods (staticlet); pods from the API server are not run here","phase":"Failed","reason":"StaticPodsOnly"}}`
	if string(patch) != want {
		t.Errorf("patch\n got %s\nwant %s", patch, want)
	}
}
