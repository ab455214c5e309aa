package seede2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/mirror"
	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

// node is one staticlet process's worth of host side: the containerd runtime, the file watcher, the agent
// and the mirror manager, on folders that outlive it, so a second one can take over as a restarted agent.
type node struct {
	rt     *containerd.Runtime
	mgr    *mirror.Manager
	cancel context.CancelFunc
	done   chan struct{}
}

// nodeEnv is what stays across agent restarts: containerd, the API server, the manifest folder, the state
// and log folders.
type nodeEnv struct {
	cluster *kubeapi.Cluster
	rtOpts  containerd.Options
	dir     string
	image   string
	// nodeStatusInterval is the manager's NodeStatusInterval (0: the default).
	nodeStatusInterval time.Duration
}

func newNodeEnv(t *testing.T) nodeEnv {
	t.Helper()
	address := testenv.Containerd(t)
	cluster := kubeapi.Start(t)
	ns := fmt.Sprintf("stl-restart-%d-%s", os.Getpid(), t.Name())
	image := testenv.ImportBusybox(t, address, ns)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Warn, Output: os.Stderr})
	// Runs after the agents' cleanup: the API server is shared by the package's tests, so the mirrors the
	// last agent left go too.
	t.Cleanup(func() { deleteNodePods(t, cluster) })
	return nodeEnv{cluster: cluster, dir: t.TempDir(), image: image, rtOpts: containerd.Options{Address: address, Namespace: ns,
		StateDir: t.TempDir(), PodLogDir: t.TempDir(), NodeName: cluster.NodeName, LoggerBinary: self, Logger: log.Named("runtime")}}
}

func deleteNodePods(t *testing.T, cluster *kubeapi.Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := cluster.Admin(t)
	pods, err := admin.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", cluster.NodeName).String()})
	if err != nil {
		t.Logf("cleanup: list pods: %v", err)
		return
	}
	zero := int64(0)
	for _, p := range pods.Items {
		_ = admin.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}
}

// start runs an agent; stop ends it, leaving its pods running for the next one to adopt.
func (e nodeEnv) start(t *testing.T) *node {
	t.Helper()
	rt, err := containerd.New(e.rtOpts)
	if err != nil {
		t.Fatal(err)
	}
	log := e.rtOpts.Logger
	nodeOpts, err := mirror.HostNodeOptions(e.cluster.NodeName, mirror.NodeOptions{AgentVersion: "staticlet-test",
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	mgr := mirror.New(mirror.Config{Client: e.cluster.Node(t), NodeName: e.cluster.NodeName, RegisterNode: true, Node: nodeOpts,
		RuntimeHealth: rt.Ping, RuntimeVersion: rt.RuntimeVersion,
		NodeStatusInterval: e.nodeStatusInterval, Logger: log.Named("mirror")})
	files := source.NewMailbox()
	a := agent.New(agent.Config{
		Runtime: rt, Pipeline: admission.New(admission.Options{NodeName: e.cluster.NodeName}),
		Builder: desired.NewBuilder(100 * time.Millisecond), Sources: map[string]*source.Mailbox{source.NameFile: files},
		Logger: log.Named("agent"), OnState: mirror.Hook(mgr),
	})
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{rt: rt, mgr: mgr, cancel: cancel, done: make(chan struct{}, 3)}
	go func() {
		_ = (&file.Watcher{Root: e.dir, Resync: time.Hour, Debounce: 10 * time.Millisecond}).Run(ctx, files)
		n.done <- struct{}{}
	}()
	go func() { _ = a.Run(ctx); n.done <- struct{}{} }()
	go func() { _ = mgr.Run(ctx); n.done <- struct{}{} }()
	return n
}

func (n *node) stop(t *testing.T) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	for range 3 {
		<-n.done
	}
	if f := n.mgr.Stats().Forbidden; f != 0 {
		t.Errorf("the API server refused %d of staticlet's requests as the node identity", f)
	}
	if err := n.rt.Close(); err != nil {
		t.Errorf("close runtime: %v", err)
	}
}

// stopPods ends the agent and stops every pod it holds.
func (n *node) stopPods(t *testing.T) {
	n.cancel()
	for range 3 {
		<-n.done
	}
	n.cancel = func() {}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods, _ := n.rt.ListPods(ctx)
	for _, p := range pods {
		_ = n.rt.StopPod(ctx, p.UID, 0)
	}
	n.rt.Close()
	n.cancel = nil
}

func (e nodeEnv) write(t *testing.T, name, content string) {
	t.Helper()
	tmp := filepath.Join(e.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.dir, name)); err != nil {
		t.Fatal(err)
	}
}

// probedManifest is the pod of the kubelet's "when kubelet restarts should not change container status"
// test: one container with exec startup and readiness probes (initial delay 1 s, period 1 s).
func probedManifest(name, image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: container
    image: %s
    imagePullPolicy: Never
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    startupProbe:
      exec: {command: ["true"]}
      initialDelaySeconds: 1
      periodSeconds: 1
    readinessProbe:
      exec: {command: ["true"]}
      initialDelaySeconds: 1
      periodSeconds: 1
`, name, image)
}

// TestAgentRestartKeepsMirrorStatus ports the kubelet's node-conformance test "MirrorPod when kubelet restarts
// should not change container status" (test/e2e_node/mirror_pod_test.go, v1.37.2): with the real containerd
// runtime and the real kube-apiserver, every MODIFIED event of the mirror pod across an agent restart says
// Running, and each container restartCount 0, started and ready.
func TestAgentRestartKeepsMirrorStatus(t *testing.T) {
	e := newNodeEnv(t)
	n := e.start(t)
	t.Cleanup(func() { n.stopPods(t) })
	admin := e.cluster.Admin(t)
	name := "static-pod-" + e.cluster.NodeName
	e.write(t, "static.yaml", probedManifest("static-pod", e.image))
	m := waitPod(t, admin, name, 90*time.Second, "Running 1/1", runningReady)
	for _, cs := range m.Status.ContainerStatuses {
		if cs.RestartCount != 0 || cs.Started == nil || !*cs.Started || !cs.Ready {
			t.Fatalf("before the restart: %+v", cs)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := admin.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: m.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var events []*corev1.Pod
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Modified {
				events = append(events, p)
			} else if ev.Type == watch.Deleted {
				events = append(events, nil)
			}
		}
	}()

	n.stop(t)
	n = e.start(t)
	// As the upstream test: let the restarted agent run a few seconds, longer than the probes' delays.
	time.Sleep(5 * time.Second)
	w.Stop()
	<-collected
	for i, p := range events {
		if p == nil {
			t.Fatalf("event %d: the mirror pod was deleted", i)
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("event %d: phase %s, want Running", i, p.Status.Phase)
		}
		if len(p.Status.ContainerStatuses) < len(p.Spec.Containers) {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount != 0 || cs.Started == nil || !*cs.Started || !cs.Ready {
				t.Errorf("event %d: container %s restarts %d started %v ready %v; want 0, true, true", i, cs.Name, cs.RestartCount, cs.Started, cs.Ready)
			}
		}
	}
	t.Logf("%d MODIFIED events across the restart", len(events))

	after := waitPod(t, admin, name, 10*time.Second, "Running 1/1", runningReady)
	if after.UID != m.UID || after.Status.ContainerStatuses[0].ContainerID != m.Status.ContainerStatuses[0].ContainerID {
		t.Errorf("after the restart: mirror %s, container %s; want the same mirror %s and run %s", after.UID,
			after.Status.ContainerStatuses[0].ContainerID, m.UID, m.Status.ContainerStatuses[0].ContainerID)
	}
}

// gracefulManifest is a pod whose container ignores SIGTERM, so a stop takes its whole grace period, as in
// the kubelet's mirror_pod_grace_period_test.go (20 s there, 4 s here); version tells versions apart.
func gracefulManifest(name, image, version string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 4
  containers:
  - name: container
    image: %s
    imagePullPolicy: Never
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
    env: [{name: VERSION, value: %q}]
`, name, image, version)
}

// TestMirrorFollowsTerminatingPod ports the kubelet's node-conformance tests "mirror pod termination should
// satisfy grace period when static pod is deleted" and "... when static pod is updated"
// (test/e2e_node/mirror_pod_grace_period_test.go, v1.37.2) with the real containerd runtime: while the old
// pod's container is in its grace period the mirror keeps its UID and shows Running; an edit then gets a new
// mirror, Running the new version; a removal deletes the mirror once the container is gone.
func TestMirrorFollowsTerminatingPod(t *testing.T) {
	e := newNodeEnv(t)
	n := e.start(t)
	t.Cleanup(func() { n.stopPods(t) })
	admin := e.cluster.Admin(t)
	name := "graceful-pod-" + e.cluster.NodeName
	e.write(t, "graceful.yaml", gracefulManifest("graceful-pod", e.image, "1"))
	m := waitPod(t, admin, name, 90*time.Second, "Running 1/1", runningReady)

	holds := func(uid string, d time.Duration) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			p := waitPod(t, admin, name, time.Second, "present", func(p *corev1.Pod) bool { return true })
			if p == nil {
				t.Fatalf("during the grace period the mirror is gone, want uid %s Running", uid)
			}
			if string(p.UID) != uid || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				t.Fatalf("during the grace period the mirror is uid %s %s (deleting: %v), want uid %s Running", p.UID, p.Status.Phase, p.DeletionTimestamp != nil, uid)
			}
		}
	}
	e.write(t, "graceful.yaml", gracefulManifest("graceful-pod", e.image, "2"))
	holds(string(m.UID), 3*time.Second)
	m2 := waitPod(t, admin, name, 30*time.Second, "the new version Running", func(p *corev1.Pod) bool {
		return runningReady(p) && p.UID != m.UID && p.Spec.Containers[0].Env[0].Value == "2"
	})
	if m2.Status.ContainerStatuses[0].ContainerID == m.Status.ContainerStatuses[0].ContainerID {
		t.Errorf("the new version's mirror shows the old run %s", m.Status.ContainerStatuses[0].ContainerID)
	}
	// As "MirrorPod (Pod Generation) mirror pod: update container image" checks after the update.
	if m2.Generation != 1 || m2.Status.ObservedGeneration != 0 {
		t.Errorf("updated mirror: generation %d, status.observedGeneration %d; want 1 and 0", m2.Generation, m2.Status.ObservedGeneration)
	}

	if err := os.Remove(filepath.Join(e.dir, "graceful.yaml")); err != nil {
		t.Fatal(err)
	}
	holds(string(m2.UID), 3*time.Second)
	waitPod(t, admin, name, 30*time.Second, "removed once its container is gone", func(p *corev1.Pod) bool { return p == nil })
}

// removeRun deletes one container run from containerd behind the agent's back (crictl rm in the upstream
// tests).
func (e nodeEnv) removeRun(t *testing.T, apiContainerID string) {
	t.Helper()
	c, err := client.New(e.rtOpts.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), e.rtOpts.Namespace)
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

// TestRemovedRunsAfterAgentRestart ports the kubelet's node-conformance tests "StaticPod when the static pod
// has init container should be ready after init container is removed and kubelet restarts" and "... has
// sidecar container should be ready after sidecar container is removed and kubelet restarts"
// (test/e2e_node/static_pod_test.go, v1.37.2), through the mirror pod, one pod each.
func TestRemovedRunsAfterAgentRestart(t *testing.T) {
	e := newNodeEnv(t)
	n := e.start(t)
	t.Cleanup(func() { n.stopPods(t) })
	admin := e.cluster.Admin(t)
	e.write(t, "init.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: static-init}
spec:
  terminationGracePeriodSeconds: 1
  initContainers: [{name: init, image: %[1]s, imagePullPolicy: Never, command: [ls]}]
  containers: [{name: main, image: %[1]s, imagePullPolicy: Never, command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}]
`, e.image))
	e.write(t, "sidecar.yaml", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: static-sidecar}
spec:
  terminationGracePeriodSeconds: 1
  initContainers: [{name: init, image: %[1]s, imagePullPolicy: Never, restartPolicy: Always, command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}]
  containers: [{name: main, image: %[1]s, imagePullPolicy: Never, command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}]
`, e.image))
	initName, sidecarName := "static-init-"+e.cluster.NodeName, "static-sidecar-"+e.cluster.NodeName
	initPod := waitPod(t, admin, initName, 90*time.Second, "init container Completed", func(p *corev1.Pod) bool {
		if p == nil || len(p.Status.InitContainerStatuses) != 1 {
			return false
		}
		term := p.Status.InitContainerStatuses[0].State.Terminated
		return term != nil && term.Reason == "Completed" && term.ExitCode == 0 && term.ContainerID != ""
	})
	sidecarPod := waitPod(t, admin, sidecarName, 90*time.Second, "sidecar running", func(p *corev1.Pod) bool {
		return p != nil && len(p.Status.InitContainerStatuses) == 1 && p.Status.InitContainerStatuses[0].State.Running != nil
	})
	sidecarID := sidecarPod.Status.InitContainerStatuses[0].ContainerID

	n.stop(t)
	e.removeRun(t, initPod.Status.InitContainerStatuses[0].State.Terminated.ContainerID)
	e.removeRun(t, sidecarID)
	n = e.start(t)

	waitPod(t, admin, initName, 60*time.Second, "init container reported as the kubelet reports a lost one", func(p *corev1.Pod) bool {
		if p == nil || len(p.Status.InitContainerStatuses) != 1 {
			return false
		}
		term := p.Status.InitContainerStatuses[0].State.Terminated
		return term != nil && term.Reason == "Completed" && term.ExitCode == 0 &&
			strings.Contains(term.Message, "Unable to get init container status")
	})
	waitPod(t, admin, sidecarName, 60*time.Second, "sidecar restarted under a new container ID", func(p *corev1.Pod) bool {
		if p == nil || len(p.Status.InitContainerStatuses) != 1 {
			return false
		}
		cs := p.Status.InitContainerStatuses[0]
		return cs.State.Running != nil && cs.ContainerID != "" && cs.ContainerID != sidecarID
	})
}

// TestEditWhileAgentDown: a manifest edited while the agent is down. The restarted agent adopts the old
// version, which runs, and stops it; its mirror stays (same UID, Running) through the grace period and is
// replaced by the new version's once the old container is gone, never made into the new version's mirror
// before the agent knows what runs.
func TestEditWhileAgentDown(t *testing.T) {
	e := newNodeEnv(t)
	n := e.start(t)
	t.Cleanup(func() { n.stopPods(t) })
	admin := e.cluster.Admin(t)
	name := "edited-pod-" + e.cluster.NodeName
	e.write(t, "edited.yaml", gracefulManifest("edited-pod", e.image, "1"))
	m := waitPod(t, admin, name, 90*time.Second, "Running 1/1", runningReady)

	n.stop(t)
	e.write(t, "edited.yaml", gracefulManifest("edited-pod", e.image, "2"))
	n = e.start(t)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		p := waitPod(t, admin, name, time.Second, "present", func(p *corev1.Pod) bool { return true })
		if p == nil || p.UID != m.UID || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			t.Fatalf("while the old version stops, the mirror is %v; want uid %s Running", describePod(p), m.UID)
		}
	}
	waitPod(t, admin, name, 30*time.Second, "the new version Running", func(p *corev1.Pod) bool {
		return runningReady(p) && p.UID != m.UID && p.Spec.Containers[0].Env[0].Value == "2"
	})
}

func describePod(p *corev1.Pod) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprintf("uid %s %s (deleting: %v)", p.UID, p.Status.Phase, p.DeletionTimestamp != nil)
}

// TestMirrorStaysWhileContainerdIsDownDuringTermination ports the kubelet's node-conformance test
// "MirrorPodWithGracePeriod when create a mirror pod and the container runtime is temporarily down during pod
// termination the mirror pod should terminate successfully" (mirror_pod_grace_period_test.go), without its
// kubelet_* metric checks: the file is removed, containerd stops 2 s into the grace period; the mirror stays
// Running while containerd is down, and is removed once containerd is back and the stop completes.
func TestMirrorStaysWhileContainerdIsDownDuringTermination(t *testing.T) {
	if os.Getenv(testenv.EnvAddress) != "" {
		t.Skip("restarts only the private containerd")
	}
	e := newNodeEnv(t)
	n := e.start(t)
	t.Cleanup(func() { n.stopPods(t) })
	admin := e.cluster.Admin(t)
	name := "runtime-down-pod-" + e.cluster.NodeName
	e.write(t, "runtime-down.yaml", gracefulManifest("runtime-down-pod", e.image, "1"))
	m := waitPod(t, admin, name, 90*time.Second, "Running 1/1", runningReady)

	if err := os.Remove(filepath.Join(e.dir, "runtime-down.yaml")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	stateDir := filepath.Dir(e.rtOpts.Address)
	stopContainerd(t, stateDir)
	restarted := false
	defer func() {
		if !restarted {
			startContainerd(t, stateDir)
		}
	}()
	// Longer than the 4 s grace period: the runtime cannot kill the container while containerd is down.
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		p := waitPod(t, admin, name, time.Second, "present", func(p *corev1.Pod) bool { return true })
		if p == nil || p.UID != m.UID || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			t.Fatalf("while containerd is down the mirror is %s; want uid %s Running", describePod(p), m.UID)
		}
	}
	startContainerd(t, stateDir)
	restarted = true
	back := time.Now()
	// The upstream test allows about 30 s from the runtime's return (grace period, sync and housekeeping).
	waitPod(t, admin, name, 30*time.Second, "removed once the stop completes", func(p *corev1.Pod) bool { return p == nil })
	t.Logf("mirror removed %s after containerd was back", time.Since(back).Round(100*time.Millisecond))
}

func stopContainerd(t *testing.T, stateDir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "containerd.pid"))
	if err != nil {
		t.Fatalf("containerd pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("containerd pid: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop containerd: %v", err)
	}
	for end := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("containerd did not stop within 10 s")
		}
	}
}

func startContainerd(t *testing.T, stateDir string) {
	t.Helper()
	out, err := exec.Command("bash", "../../../hack/containerd/containerd.sh", "start", stateDir).CombinedOutput()
	if err != nil {
		t.Fatalf("restart containerd: %v: %s", err, out)
	}
}

// TestMirrorGenerationAcrossUpdates ports the kubelet's node-conformance tests "MirrorPod (Pod Generation)
// mirror pod: update activeDeadlineSeconds", "... update container image" and "... update initContainer
// image" (mirror_pod_test.go): after each edit the mirror is recreated and Running, its generation is 1 and
// its status.observedGeneration empty. The image edits change the command instead (one local image).
func TestMirrorGenerationAcrossUpdates(t *testing.T) {
	e := newNodeEnv(t)
	n := e.start(t)
	t.Cleanup(func() { n.stopPods(t) })
	admin := e.cluster.Admin(t)
	name := "generation-pod-" + e.cluster.NodeName
	manifest := func(extra, command, init string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: generation-pod}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Always
%s%s  containers: [{name: main, image: %s, imagePullPolicy: Never, command: [sh, -c, "trap 'exit 0' TERM; %s & wait"]}]
`, extra, init, e.image, command)
	}
	initContainer := func(command string) string {
		return fmt.Sprintf("  initContainers: [{name: init, image: %s, imagePullPolicy: Never, command: [sh, -c, %q]}]\n", e.image, command)
	}
	e.write(t, "generation.yaml", manifest("", "sleep 3600", initContainer("true")))
	m := waitPod(t, admin, name, 90*time.Second, "Running 1/1", runningReady)
	for _, step := range []struct{ what, content string }{
		{"activeDeadlineSeconds", manifest("  activeDeadlineSeconds: 3000\n", "sleep 3600", initContainer("true"))},
		{"container image", manifest("  activeDeadlineSeconds: 3000\n", "sleep 3601", initContainer("true"))},
		{"initContainer image", manifest("  activeDeadlineSeconds: 3000\n", "sleep 3601", initContainer("true; true"))},
	} {
		e.write(t, "generation.yaml", step.content)
		old := m.UID
		m = waitPod(t, admin, name, 60*time.Second, "recreated and Running after the "+step.what+" update", func(p *corev1.Pod) bool {
			return runningReady(p) && p.UID != old
		})
		if m.Generation != 1 || m.Status.ObservedGeneration != 0 {
			t.Errorf("after the %s update: generation %d, status.observedGeneration %d; want 1 and 0", step.what, m.Generation, m.Status.ObservedGeneration)
		}
	}
}
