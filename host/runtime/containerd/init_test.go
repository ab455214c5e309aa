package containerd_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/runtime/containerd"
)

func withShared(p *corev1.Pod) *corev1.Pod {
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	mount := []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
	for i := range p.Spec.InitContainers {
		p.Spec.InitContainers[i].VolumeMounts = mount
		if p.Spec.InitContainers[i].ImagePullPolicy == "" {
			p.Spec.InitContainers[i].ImagePullPolicy = corev1.PullNever
		}
	}
	for i := range p.Spec.Containers {
		p.Spec.Containers[i].VolumeMounts = mount
	}
	return p
}

func podStatus(t *testing.T, rt *containerd.Runtime, uid types.UID, timeout time.Duration, cond func(corev1.PodStatus) bool) corev1.PodStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last corev1.PodStatus
	for time.Now().Before(deadline) {
		if st, ok := rt.PodStatus(uid); ok {
			last = st
			if cond(st) {
				return st
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pod %s: status never matched in %s; last %+v", uid, timeout, last)
	return last
}

func condition(st corev1.PodStatus, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func initStatus(st corev1.PodStatus, name string) corev1.ContainerStatus {
	for _, cs := range st.InitContainerStatuses {
		if cs.Name == name {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

// TestInitContainers runs two init containers in order before the app
// container, then restarts the agent: the init containers do not run again.
func TestInitContainers(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	p := withShared(pod("init-node1", "uid-init", corev1.RestartPolicyAlways,
		corev1.Container{Name: "app", Image: e.image, Args: []string{"sh", "-c", "cat /shared/order; " + trapTERM + "sleep 3600 & wait"}}))
	p.Spec.InitContainers = []corev1.Container{
		{Name: "first", Image: e.image, Args: []string{"sh", "-c", "sleep 0.3; echo first >> /shared/order"}},
		{Name: "second", Image: e.image, Args: []string{"sh", "-c", "test -f /shared/order && echo second >> /shared/order"}},
	}
	withShared(p)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	st, _ := rt.PodStatus(p.UID)
	if st.Phase != corev1.PodPending || condition(st, corev1.PodInitialized) != corev1.ConditionFalse {
		t.Errorf("while initializing: phase %s, Initialized %s; want Pending, False", st.Phase, condition(st, corev1.PodInitialized))
	}
	if app := st.ContainerStatuses[0]; app.State.Waiting == nil || app.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("app container while initializing: %+v, want waiting PodInitializing", app.State)
	}
	waitContainer(t, rt, p.UID, "app", 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	st, _ = rt.PodStatus(p.UID)
	if condition(st, corev1.PodInitialized) != corev1.ConditionTrue || st.Phase != corev1.PodRunning {
		t.Errorf("initialized pod: phase %s, Initialized %s", st.Phase, condition(st, corev1.PodInitialized))
	}
	for _, name := range []string{"first", "second"} {
		cs := initStatus(st, name)
		if cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" || !cs.Ready {
			t.Errorf("init container %s: %+v ready=%v, want terminated Completed and ready", name, cs.State, cs.Ready)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if logs := readLog(t, opts, p, "app", 0); logs != "first\nsecond\n" {
		t.Errorf("app saw %q, want the init containers' lines in order", logs)
	}

	// A new agent adopts the pod without re-running the init containers,
	// even when their stopped runs are gone.
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	rt2 := newRuntime(t, opts)
	if _, err := rt2.ListPods(t.Context()); err != nil {
		t.Fatal(err)
	}
	st = podStatus(t, rt2, p.UID, 10*time.Second, func(st corev1.PodStatus) bool { return st.Phase == corev1.PodRunning })
	if cs := initStatus(st, "first"); cs.State.Terminated == nil || cs.RestartCount != 0 {
		t.Errorf("adopted init container: %+v restarts %d", cs.State, cs.RestartCount)
	}
	time.Sleep(time.Second)
	st, _ = rt2.PodStatus(p.UID)
	if app := st.ContainerStatuses[0]; app.RestartCount != 0 || app.State.Running == nil {
		t.Errorf("adopted app container restarted: %+v", app)
	}
	if condition(st, corev1.PodInitialized) != corev1.ConditionTrue {
		t.Errorf("adopted pod not Initialized: %+v", st.Conditions)
	}
}

// TestInitFailure: restartPolicy Never fails the pod on a failed init
// container; OnFailure retries it with back-off until it succeeds.
func TestInitFailure(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	never := pod("initfail-node1", "uid-initfail", corev1.RestartPolicyNever,
		corev1.Container{Name: "app", Image: e.image, Args: []string{"true"}})
	never.Spec.InitContainers = []corev1.Container{{Name: "fail", Image: e.image, Args: []string{"sh", "-c", "exit 4"}}}
	withShared(never)
	if err := rt.StartPod(t.Context(), never); err != nil {
		t.Fatal(err)
	}
	st := podStatus(t, rt, never.UID, 20*time.Second, func(st corev1.PodStatus) bool { return st.Phase == corev1.PodFailed })
	if cs := initStatus(st, "fail"); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 4 {
		t.Errorf("failed init container: %+v", cs.State)
	}
	if app := st.ContainerStatuses[0]; app.State.Waiting == nil || app.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("app container of a pod whose init failed: %+v", app.State)
	}

	retry := pod("initretry-node1", "uid-initretry", corev1.RestartPolicyOnFailure,
		corev1.Container{Name: "app", Image: e.image, Args: []string{"true"}})
	retry.Spec.InitContainers = []corev1.Container{{Name: "flaky", Image: e.image,
		Args: []string{"sh", "-c", "test -f /shared/tried && exit 0; touch /shared/tried; exit 1"}}}
	withShared(retry)
	if err := rt.StartPod(t.Context(), retry); err != nil {
		t.Fatal(err)
	}
	st = podStatus(t, rt, retry.UID, 20*time.Second, func(st corev1.PodStatus) bool { return st.Phase == corev1.PodSucceeded })
	cs := initStatus(st, "flaky")
	if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("retried init container: restarts %d, last state %+v", cs.RestartCount, cs.LastTerminationState)
	}
}

// TestSidecar: a sidecar init container starts before the next init
// container and the app, keeps running, serves the app, and is stopped once
// the app is done.
func TestSidecar(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	always := corev1.ContainerRestartPolicyAlways
	p := pod("sidecar-node1", "uid-sidecar", corev1.RestartPolicyNever,
		corev1.Container{Name: "app", Image: e.image, Args: []string{"sh", "-c",
			"for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://127.0.0.1:8080/hostname && exit 0; sleep 0.2; done; exit 1"}})
	p.Spec.InitContainers = []corev1.Container{
		{Name: "server", Image: e.image, RestartPolicy: &always, Command: []string{"httpd", "-f", "-p", "8080", "-h", "/etc"}},
		{Name: "after", Image: e.image, Args: []string{"true"}},
	}
	withShared(p)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	st := podStatus(t, rt, p.UID, 20*time.Second, func(st corev1.PodStatus) bool {
		return st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	})
	if st.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s: %+v", st.Phase, st.ContainerStatuses)
	}
	// httpd ignores nothing: SIGTERM ends it quickly.
	st = podStatus(t, rt, p.UID, 10*time.Second, func(st corev1.PodStatus) bool { return initStatus(st, "server").State.Terminated != nil })
	if cs := initStatus(st, "server"); cs.RestartCount != 0 {
		t.Errorf("sidecar restarted %d times after the app finished: %+v", cs.RestartCount, cs)
	}
	time.Sleep(200 * time.Millisecond)
	if logs := readLog(t, opts, p, "app", 0); !strings.Contains(logs, "sidecar-node1") {
		t.Errorf("app did not reach the sidecar: %q", logs)
	}
}
