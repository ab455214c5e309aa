package containerd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSysctlPolicy(t *testing.T) {
	if err := (SysctlPolicy{AllowedUnsafe: []string{"kernel.msg*", "net.core.somaxconn", "kernel.sem", "fs.mqueue.*", "net/ipv4/conf/eth0.100/forwarding"}}).Validate(); err != nil {
		t.Errorf("namespaced allowlist refused: %v", err)
	}
	err := SysctlPolicy{AllowedUnsafe: []string{"net.*", "kernel.*", "vm.swappiness"}}.Validate()
	if !errors.Is(err, ErrSysctlNotNamespaced) || !strings.Contains(err.Error(), `allowedUnsafeSysctls[1] "kernel.*"`) || !strings.Contains(err.Error(), `allowedUnsafeSysctls[2] "vm.swappiness"`) || strings.Contains(err.Error(), "[0]") {
		t.Errorf("Validate = %v", err)
	}
	if got := normalizeSysctl("net/ipv4/conf/eth0.100/forwarding"); got != "net.ipv4.conf.eth0/100.forwarding" {
		t.Errorf("normalizeSysctl = %q", got)
	}
	policy := SysctlPolicy{AllowedUnsafe: []string{"kernel.msg*", "net.core.somaxconn"}}
	for name, want := range map[string]bool{
		"net.ipv4.tcp_syncookies": true, "kernel.msgmax": true, "net.core.somaxconn": true,
		"net.core.somaxconn2": false, "kernel.sem": false, "vm.swappiness": false,
	} {
		if got := policy.allowed(name); got != want {
			t.Errorf("allowed(%s) = %v", name, got)
		}
	}
	p := &corev1.Pod{Spec: corev1.PodSpec{HostIPC: true, SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
		{Name: "kernel.msgmax", Value: "1"}, {Name: "net/ipv4/tcp_syncookies", Value: "1"},
	}}}}
	got, refused := podSysctls(p, policy)
	if err := refusalsError(refused); !errors.Is(err, ErrSysctlForbidden) || !strings.Contains(err.Error(), `spec.securityContext.sysctls[0] (kernel.msgmax): SysctlForbidden: "kernel.msgmax" not allowed with host ipc enabled`) {
		t.Errorf("podSysctls error = %v", err)
	}
	if got["net.ipv4.tcp_syncookies"] != "1" || len(got) != 1 {
		t.Errorf("podSysctls = %v", got)
	}
}

func TestAppArmorProfile(t *testing.T) {
	local := "my-profile"
	c := corev1.Container{Name: "app"}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + "app": "localhost/from-annotation",
	}}}
	on := hostSecurity{appArmor: true}
	name := func(privileged bool) string {
		t.Helper()
		n, err := appArmorProfileName(p, &c, privileged, on)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := name(false); got != "from-annotation" {
		t.Errorf("annotation: %q", got)
	}
	p.Spec.SecurityContext = &corev1.PodSecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}}
	if got := name(false); got != "" {
		t.Errorf("pod Unconfined over the annotation: %q", got)
	}
	c.SecurityContext = &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: &local}}
	if got := name(false); got != local {
		t.Errorf("container Localhost over the pod: %q", got)
	}
	c.SecurityContext, p.Spec.SecurityContext, p.Annotations = nil, nil, nil
	if got := name(false); got != defaultAppArmorProfile {
		t.Errorf("unset: %q, want RuntimeDefault", got)
	}
	if got := name(true); got != "" {
		t.Errorf("unset and privileged: %q, want none", got)
	}
	if n, _ := appArmorProfileName(p, &c, false, hostSecurity{}); n != "" {
		t.Errorf("no AppArmor on the host: %q", n)
	}
	c.SecurityContext = &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost}}
	if _, err := appArmorProfileName(p, &c, false, on); !errors.Is(err, errCreateContainerConfig) {
		t.Errorf("Localhost without a name: %v", err)
	}
}

func TestSELinuxLabel(t *testing.T) {
	c := corev1.Container{SecurityContext: &corev1.SecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Level: "s0:c1,c2"}}}
	p := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Type: "spc_t", Level: "s0:c9"}}}}
	if got := seLinuxLabel(p, &c); got != "system_u:system_r:spc_t:s0:c1,c2" {
		t.Errorf("label = %q", got)
	}
	if got := seLinuxLabel(&corev1.Pod{}, &corev1.Container{}); got != "" {
		t.Errorf("no options: %q", got)
	}
}

func TestSetVolumeOwnership(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/f", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	check := func(path string, gid uint32, mode os.FileMode) {
		t.Helper()
		info, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st := info.Sys().(*syscall.Stat_t); st.Gid != gid || info.Mode() != mode {
			t.Errorf("%s: gid %d mode %v, want %d %v", path, st.Gid, info.Mode(), gid, mode)
		}
	}
	if err := setVolumeOwnership(dir, 4242, false, nil); err != nil {
		t.Fatal(err)
	}
	check(filepath.Join(dir, "a"), 4242, os.ModeDir|os.ModeSetgid|0o770)
	check(filepath.Join(dir, "a", "f"), 4242, 0o660)
	check(filepath.Join(dir, "link"), 4242, os.ModeSymlink|0o777)
	// OnRootMismatch: the root matches, so a file changed since is left.
	if err := os.Chmod(filepath.Join(dir, "a", "f"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := corev1.FSGroupChangeOnRootMismatch
	if err := setVolumeOwnership(dir, 4242, false, &policy); err != nil {
		t.Fatal(err)
	}
	check(filepath.Join(dir, "a", "f"), 4242, 0o600)
	// A different group is a mismatch: the whole tree changes.
	if err := setVolumeOwnership(dir, 4243, false, &policy); err != nil {
		t.Fatal(err)
	}
	check(filepath.Join(dir, "a", "f"), 4243, 0o660)
}
