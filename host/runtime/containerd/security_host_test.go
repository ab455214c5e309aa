package containerd_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/runtime/containerd"
)

// TestFSGroupSysctlsSeccompDefault: fsGroup owns the pod's emptyDir and
// downwardAPI volumes (group, setgid, so a non-root user in the group
// writes and its files inherit the group) but never a hostPath; the pod's
// safe and allowlisted sysctls are set in its namespaces; the
// KubeletConfiguration's seccompDefault gives RuntimeDefault to a
// container that sets no profile.
func TestFSGroupSysctlsSeccompDefault(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	opts.SeccompDefault = true
	opts.Sysctls = containerd.SysctlPolicy{AllowedUnsafe: []string{"kernel.msg*"}}
	rt := newRuntime(t, opts)
	host := t.TempDir()
	if err := os.Chmod(host, 0o777); err != nil {
		t.Fatal(err)
	}
	uid, fsGroup := int64(1000), int64(2345)
	script := `stat -c 'scratch %g %A' /scratch; echo hi > /scratch/f && stat -c 'file %g' /scratch/f; ` +
		`stat -c 'info %g' /info/name; stat -c 'host %g' /host; ` +
		`echo "ports $(cat /proc/sys/net/ipv4/ip_local_port_range)"; echo "msgmax $(cat /proc/sys/kernel/msgmax)"; ` +
		`grep '^Seccomp:' /proc/self/status | tr -s '\t' ' '`
	c := corev1.Container{Name: "c", Image: e.image, Args: []string{"sh", "-c", script},
		SecurityContext: &corev1.SecurityContext{RunAsUser: &uid},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "scratch", MountPath: "/scratch"}, {Name: "info", MountPath: "/info"}, {Name: "host", MountPath: "/host"},
		}}
	p := pod("fsgroup-node1", "uid-fsgroup", corev1.RestartPolicyNever, c)
	p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: &fsGroup, Sysctls: []corev1.Sysctl{
		{Name: "net.ipv4.ip_local_port_range", Value: "20000 30000"},
		{Name: "kernel/msgmax", Value: "4321"},
	}}
	p.Spec.Volumes = []corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host}}},
	}
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "c", 10*time.Second, terminated)
	time.Sleep(200 * time.Millisecond) // the logger writes after the exit
	log := readLog(t, opts, p, "c", 0)
	if cs.State.Terminated.ExitCode != 0 {
		t.Fatalf("exit code %d:\n%s", cs.State.Terminated.ExitCode, log)
	}
	for _, line := range []string{"scratch 2345 drwxrwsrwx\n", "file 2345\n", "info 2345\n", "host 0\n",
		"ports 20000\t30000\n", "msgmax 4321\n", "Seccomp: 2\n"} {
		if !strings.Contains(log, line) {
			t.Errorf("log lacks %q:\n%s", line, log)
		}
	}
}

// TestSysctlAndHostRefusals: what the node does not allow is refused before
// anything is created, with the field named: an unsafe sysctl not on the
// allowlist, a net sysctl on the host network, an AppArmor profile on a
// host without AppArmor, user namespaces and a shared PID namespace.
func TestSysctlAndHostRefusals(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	c := corev1.Container{Name: "c", Image: e.image, Args: []string{"true"}}
	cases := map[string]struct {
		mutate func(*corev1.Pod)
		want   string
		is     error
	}{
		"unsafe sysctl": {func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}}
		}, `spec.securityContext.sysctls[0] (net.core.somaxconn): SysctlForbidden: forbidden sysctl: "net.core.somaxconn" not allowlisted`, containerd.ErrSysctlForbidden},
		"net sysctl on host network": {func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}}}
		}, "not allowed with host net enabled", containerd.ErrSysctlForbidden},
		"hostUsers false":       {func(p *corev1.Pod) { no := false; p.Spec.HostUsers = &no }, "spec.hostUsers", containerd.ErrUnsupported},
		"shareProcessNamespace": {func(p *corev1.Pod) { yes := true; p.Spec.ShareProcessNamespace = &yes }, "spec.shareProcessNamespace", containerd.ErrUnsupported},
	}
	if _, err := os.Stat("/sys/module/apparmor/parameters/enabled"); errors.Is(err, os.ErrNotExist) {
		cases["AppArmor without AppArmor"] = struct {
			mutate func(*corev1.Pod)
			want   string
			is     error
		}{func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}}
		}, "spec.containers[0].securityContext.appArmorProfile: not supported by the containerd runtime: cannot enforce AppArmor: AppArmor is not enabled on the host", containerd.ErrUnsupported}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := pod("refused-node1", types.UID("uid-refused-"+strings.ReplaceAll(name, " ", "-")), corev1.RestartPolicyNever, c)
			tc.mutate(p)
			err := rt.StartPod(t.Context(), p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.is) {
				t.Fatalf("StartPod: %v; want %q (%v)", err, tc.want, tc.is)
			}
			if _, ok := rt.PodStatus(p.UID); ok {
				t.Errorf("a refused pod has a status")
			}
			if _, err := os.Stat(filepath.Join(e.options(t).StateDir, "pods", string(p.UID))); err == nil {
				t.Errorf("a refused pod has a folder")
			}
		})
	}
}

// TestRecursiveReadOnly: a read-only hostPath mount leaves a mount below it
// writable unless recursiveReadOnly makes it read-only too (runc's rro,
// mount_setattr).
func TestRecursiveReadOnly(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	host := t.TempDir()
	sub := filepath.Join(host, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	enabled, ifPossible := corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible
	script := `touch /v/sub/f 2>/dev/null && echo "sub rw" || echo "sub ro"; touch /v/f 2>/dev/null && echo "top rw" || echo "top ro"`
	mk := func(name string, rro *corev1.RecursiveReadOnlyMode) corev1.Container {
		return corev1.Container{Name: name, Image: e.image, Args: []string{"sh", "-c", script},
			VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/v", ReadOnly: true, RecursiveReadOnly: rro}}}
	}
	p := pod("rro-node1", "uid-rro", corev1.RestartPolicyNever, mk("plain", nil), mk("enabled", &enabled), mk("ifpossible", &ifPossible))
	p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host}}}}
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"plain": "sub rw\ntop ro\n", "enabled": "sub ro\ntop ro\n", "ifpossible": "sub ro\ntop ro\n"}
	for name := range want {
		waitContainer(t, rt, p.UID, name, 10*time.Second, terminated)
	}
	time.Sleep(200 * time.Millisecond)
	for name, w := range want {
		if got := readLog(t, opts, p, name, 0); !strings.Contains(got, w) {
			t.Errorf("%s: got\n%s\nwant %q", name, got, w)
		}
	}
}
