package containerd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	corev1 "k8s.io/api/core/v1"
)

// removeRun deletes one container run (task and container) from containerd behind the runtime's back, as
// the kubelet's conformance tests do with crictl rm while the node agent is stopped.
func removeRun(t *testing.T, address, namespace, apiContainerID string) {
	t.Helper()
	c, err := client.New(address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(t.Context(), namespace)
	ctr, err := c.LoadContainer(ctx, strings.TrimPrefix(apiContainerID, "containerd://"))
	if err != nil {
		t.Fatalf("load %s: %v", apiContainerID, err)
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil {
			t.Fatalf("delete task of %s: %v", apiContainerID, err)
		}
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
		t.Fatalf("delete %s: %v", apiContainerID, err)
	}
}

// TestRunsRemovedWhileAgentDown ports the kubelet's node-conformance tests "should be ready after init
// container is removed and kubelet restarts" and "... sidecar container is removed ..."
// (test/e2e_node/static_pod_test.go, v1.37.2): with the agent stopped, the completed init container's
// run and the running sidecar's run are removed from containerd. The restarted agent reports the init
// container as the kubelet does (Completed, exit 0, its status could not be read), starts the sidecar
// again under a container ID of its own and a restart count taken from its log files, and leaves the app
// container alone.
func TestRunsRemovedWhileAgentDown(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	always := corev1.ContainerRestartPolicyAlways
	p := withShared(pod("removed-node1", "uid-removed", corev1.RestartPolicyAlways,
		corev1.Container{Name: "app", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"}}))
	p.Spec.InitContainers = []corev1.Container{
		{Name: "init", Image: e.image, Args: []string{"true"}},
		{Name: "side", Image: e.image, RestartPolicy: &always, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"}},
	}
	withShared(p)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	app := waitContainer(t, rt, p.UID, "app", 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	st, _ := rt.PodStatus(p.UID)
	initRun, side := initStatus(st, "init"), initStatus(st, "side")
	if initRun.State.Terminated == nil || initRun.State.Terminated.ContainerID == "" || side.State.Running == nil || side.ContainerID == "" {
		t.Fatalf("before the removal: init %+v, side %+v", initRun.State, side.State)
	}

	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	removeRun(t, e.address, e.namespace, initRun.State.Terminated.ContainerID)
	removeRun(t, e.address, e.namespace, side.ContainerID)

	rt2 := newRuntime(t, opts)
	if _, err := rt2.ListPods(t.Context()); err != nil {
		t.Fatal(err)
	}
	st = podStatus(t, rt2, p.UID, 20*time.Second, func(st corev1.PodStatus) bool {
		return initStatus(st, "side").State.Running != nil
	})
	newSide := initStatus(st, "side")
	if newSide.ContainerID == side.ContainerID || newSide.ContainerID == "" {
		t.Errorf("restarted sidecar's container ID = %q, want a new one (was %q)", newSide.ContainerID, side.ContainerID)
	}
	if newSide.RestartCount != 1 {
		t.Errorf("restarted sidecar's restartCount = %d, want 1 (its run 0 left a log file)", newSide.RestartCount)
	}
	gotInit := initStatus(st, "init")
	if term := gotInit.State.Terminated; term == nil || term.Reason != "Completed" || term.ExitCode != 0 ||
		!strings.Contains(term.Message, "Unable to get init container status") {
		t.Errorf("init container whose run is gone: %+v, want terminated Completed with the kubelet's message", gotInit.State)
	}
	if gotInit.ContainerID != "" || gotInit.RestartCount != 0 {
		t.Errorf("init container whose run is gone: containerID %q restarts %d, want none", gotInit.ContainerID, gotInit.RestartCount)
	}
	if condition(st, corev1.PodInitialized) != corev1.ConditionTrue {
		t.Errorf("pod not Initialized after the removal: %+v", st.Conditions)
	}
	gotApp := waitContainer(t, rt2, p.UID, "app", time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	if gotApp.ContainerID != app.ContainerID || gotApp.RestartCount != 0 {
		t.Errorf("app container: %s restarts %d, want the adopted %s with 0", gotApp.ContainerID, gotApp.RestartCount, app.ContainerID)
	}
}

// TestProbeVerdictsSurviveAgentRestart ports the check of the kubelet's node-conformance test "MirrorPod when
// kubelet restarts should not change container status" (test/e2e_node/mirror_pod_test.go) to the runtime:
// a container with startup and readiness probes (exec, initial delay 1 s, period 1 s) is started and ready;
// across an agent restart every status the new runtime reports says Running, started, ready and restart
// count 0, and the run is the same.
func TestProbeVerdictsSurviveAgentRestart(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	probe := func() *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
			InitialDelaySeconds: 1, PeriodSeconds: 1}
	}
	c := corev1.Container{Name: "container", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"},
		StartupProbe: probe(), ReadinessProbe: probe()}
	p := pod("verdicts-node1", "uid-verdicts", corev1.RestartPolicyAlways, c)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	before := waitContainer(t, rt, p.UID, "container", 20*time.Second, func(cs corev1.ContainerStatus) bool {
		return cs.State.Running != nil && cs.Started != nil && *cs.Started && cs.Ready
	})
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	rt2 := newRuntime(t, opts)
	if _, err := rt2.ListPods(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Watch for longer than the probes' initial delay and period, so a verdict that was reset and then
	// passed again would be seen.
	seen := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		// ListPods returns once the pods it lists are adopted: their status is there at once.
		st, ok := rt2.PodStatus(p.UID)
		if !ok {
			t.Fatalf("no status of the adopted pod (%d statuses seen)", seen)
		}
		seen++
		if len(st.ContainerStatuses) != 1 {
			t.Fatalf("status %d: container statuses %+v", seen, st.ContainerStatuses)
		}
		cs := st.ContainerStatuses[0]
		if st.Phase != corev1.PodRunning || cs.State.Running == nil || cs.Started == nil || !*cs.Started || !cs.Ready ||
			cs.RestartCount != 0 || cs.ContainerID != before.ContainerID || cs.ImageID != before.ImageID ||
			!cs.State.Running.StartedAt.Equal(&before.State.Running.StartedAt) {
			t.Fatalf("status %d after the restart: phase %s, %s (image %q) running %+v started %v ready %v restarts %d; want the same run (image %q, started at %s) Running, started and ready",
				seen, st.Phase, cs.ContainerID, cs.ImageID, cs.State.Running, cs.Started, cs.Ready, cs.RestartCount, before.ImageID, before.State.Running.StartedAt)
		}
	}
	if seen == 0 {
		t.Fatal("the adopted pod never had a status")
	}
}
