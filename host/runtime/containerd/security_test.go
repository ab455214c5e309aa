package containerd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// securityScript prints what the container's process is allowed.
const securityScript = `echo "ids $(id -u) $(id -g) $(id -G)"; grep -E '^(CapBnd|Seccomp|NoNewPrivs):' /proc/self/status | tr -s '\t' ' '; ` +
	`touch /rootfs-test 2>/dev/null && echo "root rw" || echo "root ro"; mkdir /tmp/d 2>/dev/null && echo "mkdir ok" || echo "mkdir denied"`

// TestSecurityContext: the pod's and the container's security contexts,
// merged, reach the process: user, groups, capabilities (drop ALL, add
// one; the default set; privileged), read-only root, no_new_privs, seccomp
// RuntimeDefault and a Localhost profile.
func TestSecurityContext(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	opts.SeccompProfileRoot = t.TempDir()
	profile := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`
	if err := os.WriteFile(filepath.Join(opts.SeccompProfileRoot, "no-mkdir.json"), []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, opts)
	yes, no := true, false
	uid, gid := int64(1000), int64(2000)
	hardened := corev1.Container{Name: "hardened", Image: e.image, Args: []string{"sh", "-c", securityScript},
		SecurityContext: &corev1.SecurityContext{
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}},
			ReadOnlyRootFilesystem:   &yes,
			AllowPrivilegeEscalation: &no,
		}}
	plain := corev1.Container{Name: "plain", Image: e.image, Args: []string{"sh", "-c", securityScript},
		SecurityContext: &corev1.SecurityContext{RunAsUser: new(int64), RunAsNonRoot: &no, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}}
	privileged := corev1.Container{Name: "privileged", Image: e.image, Args: []string{"sh", "-c", securityScript},
		SecurityContext: &corev1.SecurityContext{RunAsUser: new(int64), Privileged: &yes, RunAsNonRoot: &no}}
	local := "no-mkdir.json"
	localhost := corev1.Container{Name: "localhost", Image: e.image, Args: []string{"sh", "-c", securityScript},
		SecurityContext: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &local}}}
	p := pod("sec-node1", "uid-sec", corev1.RestartPolicyNever, hardened, plain, privileged, localhost)
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid, SupplementalGroups: []int64{3000}, RunAsNonRoot: &yes,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	logs := map[string]string{}
	for _, name := range []string{"hardened", "plain", "privileged", "localhost"} {
		cs := waitContainer(t, rt, p.UID, name, 10*time.Second, terminated)
		if cs.State.Terminated.ExitCode != 0 {
			t.Errorf("%s: exit code %d", name, cs.State.Terminated.ExitCode)
		}
	}
	time.Sleep(200 * time.Millisecond) // the logger writes after the exit
	for _, name := range []string{"hardened", "plain", "privileged", "localhost"} {
		logs[name] = readLog(t, opts, p, name, 0)
	}
	want := map[string][]string{
		"hardened":   {"ids 1000 2000 2000 3000\n", "CapBnd: 0000000000000400\n", "Seccomp: 2\n", "NoNewPrivs: 1\n", "root ro\n"},
		"plain":      {"ids 0 2000 2000 3000\n", "CapBnd: 00000000a80425fb\n", "Seccomp: 0\n", "NoNewPrivs: 0\n", "root rw\n", "mkdir ok\n"},
		"localhost":  {"ids 1000 2000 2000 3000\n", "Seccomp: 2\n", "mkdir denied\n"},
		"privileged": {"ids 0 2000 2000 3000\n", "Seccomp: 0\n", "root rw\n"},
	}
	for name, lines := range want {
		for _, line := range lines {
			if !strings.Contains(logs[name], line) {
				t.Errorf("%s lacks %q:\n%s", name, line, logs[name])
			}
		}
	}
	if strings.Contains(logs["privileged"], "CapBnd: 00000000a80425fb") {
		t.Errorf("privileged has the default capabilities:\n%s", logs["privileged"])
	}
}

// TestRunAsNonRootRefused: a runAsNonRoot container whose image runs as
// root, or whose runAsUser is 0, is not started; the waiting reason says
// why. So is one whose Localhost seccomp profile is missing.
func TestRunAsNonRootRefused(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	opts.SeccompProfileRoot = t.TempDir()
	rt := newRuntime(t, opts)
	yes := true
	root := int64(0)
	missing := "missing.json"
	p := pod("nonroot-node1", "uid-nonroot", corev1.RestartPolicyAlways,
		corev1.Container{Name: "image-root", Image: e.image, Args: []string{"true"}},
		corev1.Container{Name: "uid-zero", Image: e.image, Args: []string{"true"}, SecurityContext: &corev1.SecurityContext{RunAsUser: &root}},
		corev1.Container{Name: "no-profile", Image: e.image, Args: []string{"true"}, SecurityContext: &corev1.SecurityContext{RunAsNonRoot: new(bool),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &missing}}})
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: &yes}
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	for name, msg := range map[string]string{"image-root": "image will run as root", "uid-zero": "runAsUser breaks non-root policy", "no-profile": "missing.json"} {
		cs := waitContainer(t, rt, p.UID, name, 5*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Waiting != nil && cs.State.Waiting.Message != "" })
		if cs.State.Waiting.Reason != "CreateContainerConfigError" || !strings.Contains(cs.State.Waiting.Message, msg) {
			t.Errorf("%s: waiting %+v, want CreateContainerConfigError saying %q", name, cs.State.Waiting, msg)
		}
	}
}

// TestHostNamespaces: hostPID and hostIPC put the containers in the host's
// PID and IPC namespaces; without them the pod has its own.
func TestHostNamespaces(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	// A child process's, not this process's: the runtime leaves threads in
	// pods' namespaces after creating them, and the main thread /proc/self
	// shows may be one of them.
	var host []string
	for _, ns := range []string{"pid", "ipc"} {
		out, err := exec.Command("readlink", "/proc/self/ns/"+ns).Output()
		if err != nil {
			t.Fatal(err)
		}
		host = append(host, strings.TrimSpace(string(out)))
	}
	script := []string{"sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc"}
	shared := pod("hostns-node1", "uid-hostns", corev1.RestartPolicyNever, corev1.Container{Name: "app", Image: e.image, Args: script})
	shared.Spec.HostPID, shared.Spec.HostIPC = true, true
	own := pod("ownns-node1", "uid-ownns", corev1.RestartPolicyNever, corev1.Container{Name: "app", Image: e.image, Args: script})
	for _, p := range []*corev1.Pod{shared, own} {
		if err := rt.StartPod(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		waitContainer(t, rt, p.UID, "app", 10*time.Second, terminated)
	}
	time.Sleep(200 * time.Millisecond) // the logger writes after the exit
	want := strings.Join(host, "\n") + "\n"
	if got := readLog(t, opts, shared, "app", 0); got != want {
		t.Errorf("hostPID/hostIPC pod sees %q, want the host's %q", got, want)
	}
	if got := readLog(t, opts, own, "app", 0); strings.Contains(got, host[0]) || strings.Contains(got, host[1]) {
		t.Errorf("a pod without hostPID/hostIPC shares the host's namespaces: %q", got)
	}
}
