package containerd

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestCapabilitiesSupports: admission's answer and StartPod's backstop come
// from one list of refusals, each naming the field.
func TestCapabilitiesSupports(t *testing.T) {
	yes, no := true, false
	enabled := corev1.RecursiveReadOnlyEnabled
	p := &corev1.Pod{Spec: corev1.PodSpec{
		ShareProcessNamespace: &yes, HostUsers: &no, HostNetwork: true,
		SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}}},
		Containers: []corev1.Container{{Name: "c", TTY: true, Stdin: true,
			VolumeMounts:    []corev1.VolumeMount{{Name: "v", MountPath: "/v", RecursiveReadOnly: &enabled}},
			SecurityContext: &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}}}},
		Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}},
	}}
	bare := Capabilities{}
	got := map[string]string{}
	for _, fe := range bare.Supports(p) {
		got[fe.Field] = fe.ErrorBody()
	}
	want := map[string]string{
		"spec.shareProcessNamespace":                           "Forbidden: not supported by the containerd runtime: no pause process",
		"spec.hostUsers":                                       "Forbidden: not supported by the containerd runtime: user namespaces",
		"spec.containers[0].tty":                               "Forbidden: not supported by the containerd runtime: static pods have no attach",
		"spec.containers[0].stdin":                             "Forbidden: not supported by the containerd runtime: static pods have no attach",
		"spec.containers[0].securityContext.appArmorProfile":   "Forbidden: not supported by the containerd runtime: cannot enforce AppArmor",
		"spec.containers[0].volumeMounts[0].recursiveReadOnly": "Forbidden: not supported by the containerd runtime: the kernel",
		"spec.volumes[0]":                                      "Forbidden: v: not supported by the containerd runtime: only hostPath",
		"spec.securityContext.sysctls[0]":                      `Forbidden: net.ipv4.tcp_syncookies: SysctlForbidden: "net.ipv4.tcp_syncookies" not allowed with host net enabled`,
	}
	for f, w := range want {
		if !strings.HasPrefix(got[f], w) {
			t.Errorf("%s: %q, want it to start with %q", f, got[f], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("refusals %v, want %d", got, len(want))
	}
	err := bare.check(p)
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, ErrSysctlForbidden) ||
		!strings.Contains(err.Error(), "spec.volumes[0] (v): not supported by the containerd runtime") ||
		!strings.Contains(err.Error(), "spec.containers[0].tty: not supported by the containerd runtime") {
		t.Errorf("check = %v", err)
	}

	able := Capabilities{security: hostSecurity{appArmor: true, recursiveReadOnly: true}}
	p.Spec = corev1.PodSpec{Containers: []corev1.Container{p.Spec.Containers[0]}}
	p.Spec.Containers[0].TTY, p.Spec.Containers[0].Stdin = false, false
	if errs := able.Supports(p); len(errs) != 0 {
		t.Errorf("a host with AppArmor and rro refuses: %v", errs)
	}
	if err := able.check(p); err != nil {
		t.Errorf("check = %v", err)
	}
}
