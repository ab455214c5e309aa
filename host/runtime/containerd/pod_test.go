package containerd_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/podlogs"
	"github.com/staticlet/staticlet/host/runtime/containerd"
)

func pod(name string, uid types.UID, policy corev1.RestartPolicy, containers ...corev1.Container) *corev1.Pod {
	grace := int64(1)
	for i := range containers {
		if containers[i].ImagePullPolicy == "" {
			containers[i].ImagePullPolicy = corev1.PullNever
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid},
		Spec:       corev1.PodSpec{RestartPolicy: policy, TerminationGracePeriodSeconds: &grace, Containers: containers},
	}
}

// waitContainer polls the runtime's status of one container.
func waitContainer(t testing.TB, rt *containerd.Runtime, uid types.UID, name string, timeout time.Duration, cond func(corev1.ContainerStatus) bool) corev1.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last corev1.ContainerStatus
	for time.Now().Before(deadline) {
		if st, ok := rt.PodStatus(uid); ok {
			for _, cs := range st.ContainerStatuses {
				if cs.Name == name {
					last = cs
					if cond(cs) {
						return cs
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("container %s of %s: status never matched in %s; last %+v", name, uid, timeout, last)
	return last
}

func terminated(cs corev1.ContainerStatus) bool { return cs.State.Terminated != nil }

func readLog(t *testing.T, opts containerd.Options, p *corev1.Pod, container string, run int32) string {
	t.Helper()
	f, err := os.Open(podlogs.ContainerLogPath(opts.PodLogDir, p.Namespace, p.Name, string(p.UID), container, run))
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	defer f.Close()
	var b strings.Builder
	if _, err := podlogs.Copy(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestPodModel runs one pod of two containers and checks what they see:
// the pod's hostname, hosts and resolv.conf files, loopback up, a network
// namespace shared between the containers, the env and command merged with
// the image's config, and CRI-format logs of both streams.
func TestPodModel(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	p := pod("model-node1", "uid-model", corev1.RestartPolicyNever,
		corev1.Container{Name: "server", Image: e.image, Command: []string{"httpd", "-f", "-p", "8080", "-h", "/etc"}},
		corev1.Container{Name: "client", Image: e.image,
			Env: []corev1.EnvVar{{Name: "GREETING", Value: "hi"}, {Name: "MSG", Value: "$(GREETING) there"},
				{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			Args: []string{"sh", "-c", `echo "env $MSG $POD $HOSTNAME"; echo "arg $(MSG)"; echo "host $(hostname)"; ip -o link show lo; head -1 /etc/hosts; ` +
				`for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://127.0.0.1:8080/hostname && break; sleep 0.2; done; echo oops >&2`},
		},
	)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "client", 20*time.Second, terminated)
	if cs.State.Terminated.ExitCode != 0 {
		t.Errorf("client exit code %d", cs.State.Terminated.ExitCode)
	}
	time.Sleep(200 * time.Millisecond) // the logger writes after the exit
	logs := readLog(t, opts, p, "client", 0)
	for _, want := range []string{
		"env hi there model-node1 model-node1\n",
		"host model-node1\n",
		"# Kubernetes-managed hosts file.\n",
		"model-node1\n", // served by the other container over the pod's loopback
		"oops\n",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("client log lacks %q:\n%s", want, logs)
		}
	}
	if !strings.Contains(logs, "<LOOPBACK,UP") {
		t.Errorf("loopback is not up in the pod:\n%s", logs)
	}
	raw, _ := os.ReadFile(podlogs.ContainerLogPath(opts.PodLogDir, p.Namespace, p.Name, string(p.UID), "client", 0))
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if _, err := podlogs.ParseRecord([]byte(line)); err != nil {
			t.Errorf("log line not in CRI format: %v", err)
		}
	}
	if !strings.Contains(string(raw), " stderr F oops\n") {
		t.Errorf("stderr not tagged:\n%s", raw)
	}
	st, _ := rt.PodStatus(p.UID)
	if st.Phase != corev1.PodRunning {
		t.Errorf("phase %s with the server still running, want Running", st.Phase)
	}
}

func TestImagePolicies(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	never := pod("never-node1", "uid-neverpull", corev1.RestartPolicyAlways,
		corev1.Container{Name: "app", Image: "staticlet.test/absent:1", ImagePullPolicy: corev1.PullNever})
	if err := rt.StartPod(t.Context(), never); err != nil {
		t.Fatalf("StartPod with a missing image must succeed and report it in status: %v", err)
	}
	cs := waitContainer(t, rt, never.UID, "app", 5*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Waiting != nil })
	if cs.State.Waiting.Reason != "ErrImageNeverPull" {
		t.Errorf("waiting reason %q, want ErrImageNeverPull (%s)", cs.State.Waiting.Reason, cs.State.Waiting.Message)
	}
	// No registry is reachable here: the pull fails, the status says so, and
	// nothing crashes; the stop is served at once.
	pull := pod("pull-node1", "uid-pull", corev1.RestartPolicyAlways,
		corev1.Container{Name: "app", Image: "registry.invalid/staticlet/none:1", ImagePullPolicy: corev1.PullIfNotPresent})
	if err := rt.StartPod(t.Context(), pull); err != nil {
		t.Fatal(err)
	}
	cs = waitContainer(t, rt, pull.UID, "app", 60*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Waiting != nil })
	if cs.State.Waiting.Reason != "ImagePullBackOff" {
		t.Errorf("waiting reason %q, want ImagePullBackOff (%s)", cs.State.Waiting.Reason, cs.State.Waiting.Message)
	}
	t.Logf("unreachable registry: %s: %s", cs.State.Waiting.Reason, cs.State.Waiting.Message)
	begin := time.Now()
	if err := rt.StopPod(t.Context(), pull.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("stopping a pod with a pull in back-off took %s", took)
	}
	tty := pod("tty-node1", "uid-tty", corev1.RestartPolicyAlways, corev1.Container{Name: "app", Image: e.image, TTY: true, Stdin: true})
	if err := rt.StartPod(t.Context(), tty); !errors.Is(err, containerd.ErrUnsupported) || !strings.Contains(err.Error(), "spec.containers[0].tty") {
		t.Errorf("StartPod(tty) = %v, want ErrUnsupported naming the field", err)
	}
	if _, ok := rt.PodStatus(tty.UID); ok {
		t.Error("a refused pod is held")
	}
}

func TestOOMKilled(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	c := corev1.Container{Name: "hog", Image: e.image, Args: []string{"sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"}}
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")}
	p := pod("oom-node1", "uid-oom", corev1.RestartPolicyNever, c)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "hog", 20*time.Second, terminated)
	if cs.State.Terminated.Reason != "OOMKilled" || cs.State.Terminated.ExitCode != 137 {
		t.Errorf("terminated %+v, want OOMKilled with exit code 137", cs.State.Terminated)
	}
}

// TestResources: limits and requests land in the container's cgroup as the
// kubelet sets them (cgroup v1 or v2), and the pod's QoS class is in its
// status.
func TestResources(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	c := corev1.Container{Name: "app", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"}}
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
	p := pod("res-node1", "uid-res", corev1.RestartPolicyAlways, c)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "app", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	if st, _ := rt.PodStatus(p.UID); st.QOSClass != corev1.PodQOSBurstable {
		t.Errorf("qosClass %q, want Burstable", st.QOSClass)
	}
	// The container's cgroup is below its pod's: <root>/kubepods/burstable/pod<uid>/<id>.
	rel := filepath.Join(e.namespace, "kubepods", "burstable", "pod"+string(p.UID), strings.TrimPrefix(cs.ContainerID, "containerd://"))
	read := func(parts ...string) string {
		b, err := os.ReadFile(filepath.Join(append([]string{"/sys/fs/cgroup"}, parts...)...))
		if err != nil {
			t.Error(err)
		}
		return strings.TrimSpace(string(b))
	}
	var got, want string
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", rel, "cpu.max")); err == nil {
		got = read(rel, "cpu.max") + " " + read(rel, "cpu.weight") + " " + read(rel, "memory.max")
		want = "50000 100000 10 67108864"
	} else {
		got = read("cpu", rel, "cpu.cfs_quota_us") + " " + read("cpu", rel, "cpu.cfs_period_us") + " " + read("cpu", rel, "cpu.shares") + " " + read("memory", rel, "memory.limit_in_bytes")
		want = "50000 100000 256 67108864"
	}
	if got != want {
		t.Errorf("cgroup: %q, want %q", got, want)
	}
}
