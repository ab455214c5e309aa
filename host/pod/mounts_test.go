package pod

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestVolumeMountStatusesAsTheKubelet(t *testing.T) {
	mode := func(m corev1.RecursiveReadOnlyMode) *corev1.RecursiveReadOnlyMode { return &m }
	bidirectional := corev1.MountPropagationBidirectional
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "data", MountPath: "/data"},
		{Name: "conf", MountPath: "/etc/conf", ReadOnly: true},
		{Name: "certs", MountPath: "/certs", ReadOnly: true, RecursiveReadOnly: mode(corev1.RecursiveReadOnlyIfPossible)},
		{Name: "keys", MountPath: "/keys", ReadOnly: true, RecursiveReadOnly: mode(corev1.RecursiveReadOnlyEnabled)},
		{Name: "shared", MountPath: "/shared", ReadOnly: true, RecursiveReadOnly: mode(corev1.RecursiveReadOnlyIfPossible), MountPropagation: &bidirectional},
	}}
	for _, tt := range []struct {
		rro  bool
		want []corev1.RecursiveReadOnlyMode // for the four read-only mounts
	}{
		{true, []corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyDisabled}},
		{false, []corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyDisabled}},
	} {
		got := VolumeMountStatuses(c, tt.rro)
		if len(got) != 5 || got[0] != (corev1.VolumeMountStatus{Name: "data", MountPath: "/data"}) {
			t.Fatalf("rro %v: %+v", tt.rro, got)
		}
		var modes []corev1.RecursiveReadOnlyMode
		for _, s := range got[1:] {
			if !s.ReadOnly || s.RecursiveReadOnly == nil {
				t.Fatalf("rro %v: read-only mount %+v without its mode", tt.rro, s)
			}
			modes = append(modes, *s.RecursiveReadOnly)
		}
		if !reflect.DeepEqual(modes, tt.want) {
			t.Errorf("runtime supports rro %v: modes %v, want %v", tt.rro, modes, tt.want)
		}
	}
	if got := VolumeMountStatuses(&corev1.Container{}, true); got != nil {
		t.Errorf("no mounts: %+v, want nil (the field is omitted)", got)
	}
}
