package pod

import corev1 "k8s.io/api/core/v1"

// VolumeMountStatuses is a container's status.volumeMounts as the kubelet reports them: each of its
// volumeMounts by name, path and readOnly, and for a read-only mount whether it is recursively read-only
// (Enabled or Disabled; IfPossible resolved by runtimeSupportsRRO, what the host's kernel and runc can
// do). A request that cannot be honoured reports Disabled, as the kubelet does after logging it.
func VolumeMountStatuses(c *corev1.Container, runtimeSupportsRRO bool) []corev1.VolumeMountStatus {
	if len(c.VolumeMounts) == 0 {
		return nil
	}
	out := make([]corev1.VolumeMountStatus, 0, len(c.VolumeMounts))
	for _, m := range c.VolumeMounts {
		st := corev1.VolumeMountStatus{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly}
		if m.ReadOnly {
			mode := corev1.RecursiveReadOnlyDisabled
			if recursiveReadOnly(m, runtimeSupportsRRO) {
				mode = corev1.RecursiveReadOnlyEnabled
			}
			st.RecursiveReadOnly = &mode
		}
		out = append(out, st)
	}
	return out
}

func recursiveReadOnly(m corev1.VolumeMount, runtimeSupportsRRO bool) bool {
	if m.RecursiveReadOnly == nil || !m.ReadOnly || m.MountPropagation != nil && *m.MountPropagation != corev1.MountPropagationNone {
		return false
	}
	switch *m.RecursiveReadOnly {
	case corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible:
		return runtimeSupportsRRO
	}
	return false
}
