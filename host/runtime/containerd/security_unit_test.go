package containerd

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestEffectiveSecurity(t *testing.T) {
	yes, no := true, false
	uid, gid, other, fs := int64(1000), int64(2000), int64(3000), int64(4000)
	rd := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	unconfined := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	p := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{
		RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: &yes, SupplementalGroups: []int64{other}, FSGroup: &fs, SeccompProfile: rd}}}
	e := effectiveSecurity(p, &corev1.Container{})
	if *e.runAsUser != uid || *e.runAsGroup != gid || !e.runAsNonRoot || e.seccomp != rd || len(e.supplementalGroups) != 2 || e.supplementalGroups[1] != fs || e.noNewPrivileges {
		t.Errorf("pod level only: %+v", e)
	}
	e = effectiveSecurity(p, &corev1.Container{SecurityContext: &corev1.SecurityContext{
		RunAsUser: &other, RunAsNonRoot: &no, SeccompProfile: unconfined, AllowPrivilegeEscalation: &no}})
	if *e.runAsUser != other || *e.runAsGroup != gid || e.runAsNonRoot || e.seccomp != unconfined || !e.noNewPrivileges {
		t.Errorf("container wins: %+v", e)
	}
	e = effectiveSecurity(p, &corev1.Container{SecurityContext: &corev1.SecurityContext{Privileged: &yes, AllowPrivilegeEscalation: &no}})
	if !e.privileged || e.noNewPrivileges {
		t.Errorf("privileged never gets no_new_privs: %+v", e)
	}
}

func TestCheckNonRoot(t *testing.T) {
	root, user := int64(0), int64(1000)
	for _, tc := range []struct {
		name      string
		runAsUser *int64
		image     string
		want      string // "" means allowed
	}{
		{"runAsUser non-root over a root image", &user, "", ""},
		{"runAsUser root", &root, "1000", "runAsUser breaks non-root policy"},
		{"image without user", nil, "", "image will run as root"},
		{"image user 0", nil, "0:0", "image will run as root"},
		{"image user by name", nil, "nobody", "non-numeric user (nobody)"},
		{"image user numeric", nil, "65534:65534", ""},
	} {
		err := securityContext{runAsNonRoot: true, runAsUser: tc.runAsUser}.checkNonRoot(tc.image)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, errCreateContainerConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want CreateContainerConfigError saying %q", tc.name, err, tc.want)
		}
	}
	if err := (securityContext{}).checkNonRoot(""); err != nil {
		t.Errorf("without runAsNonRoot: %v", err)
	}
}
