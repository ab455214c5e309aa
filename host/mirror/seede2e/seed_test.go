package seede2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/mirror"
	"github.com/staticlet/staticlet/host/podlogs"
	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

// TestMain doubles as the shim's logging binary (see host/runtime/containerd's tests).
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == podlogs.ShimLoggerCommand {
		if err := podlogs.RunShimLogger(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	kubeapi.PurgeOnExit()
	testenv.Main(m)
}

// seedManifest is the article's static.yaml with the image swapped for the local busybox (nginx cannot
// be pulled here) and a command that keeps it running.
func seedManifest(image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels:
    app: myapp
    type: front-end
spec:
  containers:
  - name: nginx-container
    image: %s
    imagePullPolicy: Never
    command: ["sh", "-c", "sleep 100000"]
`, image)
}

// TestSeed replays the seed article: static.yaml dropped into the folder gives the mirror
// myapp-pod-worker-1, Running 1/1; `kubectl delete pod` (default grace period and --grace-period=0) is
// answered by a new mirror while the container's task stays the same process; deleting the file removes
// the pod and its mirror.
func TestSeed(t *testing.T) {
	address := testenv.Containerd(t)
	cluster := kubeapi.Start(t)
	ns := fmt.Sprintf("stl-seed-%d", os.Getpid())
	image := testenv.ImportBusybox(t, address, ns)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "seed", Level: hclog.Warn, Output: os.Stderr})
	rt, err := containerd.New(containerd.Options{Address: address, Namespace: ns, StateDir: t.TempDir(), PodLogDir: t.TempDir(),
		NodeName: cluster.NodeName, LoggerBinary: self, Logger: log.Named("runtime")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	admin := cluster.Admin(t)
	nodeOpts, err := mirror.HostNodeOptions(cluster.NodeName, mirror.NodeOptions{AgentVersion: "staticlet-test",
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	mgr := mirror.New(mirror.Config{Client: cluster.Node(t), NodeName: cluster.NodeName, RegisterNode: true, Node: nodeOpts,
		Logger: log.Named("mirror")})
	files := source.NewMailbox()
	a := agent.New(agent.Config{
		Runtime: rt, Pipeline: admission.New(admission.Options{NodeName: cluster.NodeName}),
		Builder: desired.NewBuilder(100 * time.Millisecond), Sources: map[string]*source.Mailbox{source.NameFile: files},
		Logger: log.Named("agent"), OnState: mirror.Hook(mgr),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	go func() {
		_ = (&file.Watcher{Root: dir, Resync: time.Hour, Debounce: 10 * time.Millisecond}).Run(ctx, files)
		done <- struct{}{}
	}()
	go func() { _ = a.Run(ctx); done <- struct{}{} }()
	go func() { _ = mgr.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		for range 3 {
			<-done
		}
		stop, cancelStop := context.WithTimeout(context.Background(), time.Minute)
		defer cancelStop()
		pods, _ := rt.ListPods(stop)
		for _, p := range pods {
			_ = rt.StopPod(stop, p.UID, 0)
		}
		rt.Close()
		if f := mgr.Stats().Forbidden; f != 0 {
			t.Errorf("the API server refused %d of staticlet's requests as the node identity", f)
		}
	})

	name := "myapp-pod-" + cluster.NodeName
	tmp := filepath.Join(dir, ".static.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(seedManifest(image)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "static.yaml")); err != nil {
		t.Fatal(err)
	}
	m := waitPod(t, admin, name, 90*time.Second, "Running 1/1", func(p *corev1.Pod) bool { return runningReady(p) })
	pids := taskPIDs(t, address, ns)
	if len(pids) == 0 {
		t.Fatal("no task runs in containerd")
	}
	if cs := m.Status.ContainerStatuses; len(cs) != 1 || cs[0].ContainerID == "" || cs[0].State.Running == nil {
		t.Errorf("container statuses = %+v", cs)
	}

	zero := int64(0)
	for _, grace := range []*int64{nil, &zero} {
		if err := admin.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: grace}); err != nil {
			t.Fatal(err)
		}
		old := m.UID
		m = waitPod(t, admin, name, 10*time.Second, "recreated and Running 1/1", func(p *corev1.Pod) bool { return p != nil && p.UID != old && runningReady(p) })
		if got := taskPIDs(t, address, ns); strings.Join(got, ",") != strings.Join(pids, ",") {
			t.Errorf("task PIDs changed across a mirror deletion: %v, then %v", pids, got)
		}
	}

	// A container that keeps exiting: its restarts reach the mirror through the agent's state alone (the
	// runtime signals every status change; nothing polls it beside the agent).
	crasher := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: crasher}\nspec:\n  terminationGracePeriodSeconds: 1\n"+
		"  containers:\n  - {name: c, image: %q, imagePullPolicy: Never, command: [sh, -c, 'exit 3']}\n", image)
	if err := os.WriteFile(filepath.Join(dir, "crasher.yaml"), []byte(crasher), 0o644); err != nil {
		t.Fatal(err)
	}
	waitPod(t, admin, "crasher-"+cluster.NodeName, 60*time.Second, "showing a restart of its container", func(p *corev1.Pod) bool {
		if p == nil || len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		cs := p.Status.ContainerStatuses[0]
		return cs.RestartCount >= 1 && cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode == 3
	})
	if err := os.Remove(filepath.Join(dir, "crasher.yaml")); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(dir, "static.yaml")); err != nil {
		t.Fatal(err)
	}
	waitPod(t, admin, name, 60*time.Second, "removed with its file", func(p *corev1.Pod) bool { return p == nil })
}

func runningReady(p *corev1.Pod) bool {
	if p == nil || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	ready := 0
	for _, c := range p.Status.ContainerStatuses {
		if c.Ready {
			ready++
		}
	}
	return ready == len(p.Spec.Containers)
}

func waitPod(t *testing.T, admin kubernetes.Interface, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := admin.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		cancel()
		if apierrors.IsNotFound(err) {
			p, err = nil, nil
		}
		if err == nil && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: not %s within %s (last: %+v, err %v)", name, what, timeout, p, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// taskPIDs lists the PIDs of the tasks in the runtime's containerd namespace.
func taskPIDs(t *testing.T, address, ns string) []string {
	t.Helper()
	c, err := client.New(address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	containers, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, ctr := range containers {
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue
		}
		pids = append(pids, fmt.Sprint(task.Pid()))
	}
	sort.Strings(pids)
	return pids
}
