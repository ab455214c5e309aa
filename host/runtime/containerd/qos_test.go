package containerd

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestQOSClass(t *testing.T) {
	res := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	ctr := func(req, lim corev1.ResourceList) corev1.Container {
		return corev1.Container{Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	both := res("cpu", "500m", "memory", "64Mi")
	for _, tc := range []struct {
		name string
		init []corev1.Container
		apps []corev1.Container
		want corev1.PodQOSClass
	}{
		{"nothing", nil, []corev1.Container{ctr(nil, nil)}, corev1.PodQOSBestEffort},
		{"other resources only", nil, []corev1.Container{ctr(res("ephemeral-storage", "1Gi"), nil)}, corev1.PodQOSBestEffort},
		{"limits equal requests", nil, []corev1.Container{ctr(both, both)}, corev1.PodQOSGuaranteed},
		{"limits only (requests default to them)", nil, []corev1.Container{ctr(nil, both), ctr(nil, both)}, corev1.PodQOSGuaranteed},
		{"request below limit", nil, []corev1.Container{ctr(res("cpu", "250m", "memory", "64Mi"), both)}, corev1.PodQOSBurstable},
		{"memory limit only", nil, []corev1.Container{ctr(nil, res("memory", "64Mi"))}, corev1.PodQOSBurstable},
		{"requests only", nil, []corev1.Container{ctr(res("cpu", "100m"), nil)}, corev1.PodQOSBurstable},
		{"one container without", nil, []corev1.Container{ctr(both, both), ctr(nil, nil)}, corev1.PodQOSBurstable},
		{"init container without", []corev1.Container{ctr(nil, nil)}, []corev1.Container{ctr(both, both)}, corev1.PodQOSBurstable},
	} {
		p := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: tc.init, Containers: tc.apps}}
		if got := qosClass(p); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
