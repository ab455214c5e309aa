package containerd

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestQOSClassPodLevel: pod-level cpu or memory resources decide the QoS
// class alone, as the 1.37 kubelet computes it.
func TestQOSClassPodLevel(t *testing.T) {
	res := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	both := res("cpu", "1", "memory", "1Gi")
	unlimited := []corev1.Container{{Name: "a"}}
	limited := []corev1.Container{{Name: "a", Resources: corev1.ResourceRequirements{Requests: both, Limits: both}}}
	for _, tc := range []struct {
		name     string
		podLevel *corev1.ResourceRequirements
		apps     []corev1.Container
		want     corev1.PodQOSClass
	}{
		{"requests equal limits", &corev1.ResourceRequirements{Requests: both, Limits: both}, unlimited, corev1.PodQOSGuaranteed},
		{"limits only (requests not defaulted)", &corev1.ResourceRequirements{Limits: both}, unlimited, corev1.PodQOSBurstable},
		{"cpu only", &corev1.ResourceRequirements{Requests: res("cpu", "1"), Limits: res("cpu", "1")}, limited, corev1.PodQOSBurstable},
		{"requests below limits", &corev1.ResourceRequirements{Requests: res("cpu", "500m", "memory", "1Gi"), Limits: both}, unlimited, corev1.PodQOSBurstable},
		{"other resources only: containers decide", &corev1.ResourceRequirements{Limits: res("ephemeral-storage", "1Gi")}, limited, corev1.PodQOSGuaranteed},
		{"empty: containers decide", &corev1.ResourceRequirements{}, unlimited, corev1.PodQOSBestEffort},
	} {
		p := &corev1.Pod{Spec: corev1.PodSpec{Resources: tc.podLevel, Containers: tc.apps}}
		if got := qosClass(p); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
