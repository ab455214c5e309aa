package front

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestStartedOrFailed(t *testing.T) {
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	created := corev1.ContainerStatus{Name: "c", ContainerID: "containerd://1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	for _, tc := range []struct {
		name string
		st   corev1.PodStatus
		want bool
	}{
		{"the kubelet's first mirror: no containers", corev1.PodStatus{Phase: corev1.PodPending}, false},
		{"being created", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("ContainerCreating")}}, false},
		{"init containers still running", corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{created},
			ContainerStatuses: []corev1.ContainerStatus{waiting("PodInitializing")}}, false},
		{"running", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{created}}, true},
		{"an image it may not pull: failed to run", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("ErrImageNeverPull")}}, true},
		{"failed pod", corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{waiting("")}}, true},
	} {
		if got := startedOrFailed(tc.st); got != tc.want {
			t.Errorf("%s: startedOrFailed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
