package mirror_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/mirror"
	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

const testNodeStatusInterval = 500 * time.Millisecond

// waitNode polls the Node as the admin until cond holds.
func waitNode(t *testing.T, s *stack, within time.Duration, what string, cond func(*corev1.Node) bool) *corev1.Node {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, err := s.admin.CoreV1().Nodes().Get(context.Background(), s.node, metav1.GetOptions{})
		if err == nil && cond(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s never %s within %s: %v (%v)", s.node, what, within, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readyCondition(n *corev1.Node) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}

// bindPod creates, as the admin, an ordinary pod bound to the node (no scheduler involved).
func bindPod(t *testing.T, s *stack, name string) *corev1.Pod {
	t.Helper()
	p, err := s.admin.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: s.node, Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNodeReadyFollowsRuntimeHealth: with a health check that fails, the registered Node turns Ready=False
// (KubeletNotReady, "container runtime is down") within the node status interval plus the health check's
// bound, with a NodeNotReady Event, and Ready=True again once the check passes.
func TestNodeReadyFollowsRuntimeHealth(t *testing.T) {
	var down atomic.Bool
	s := startStack(t, stackOptions{registerNode: true, configure: func(c *mirror.Config) {
		c.NodeStatusInterval = testNodeStatusInterval
		c.RuntimeHealth = func(context.Context) error {
			if down.Load() {
				return errors.New("connection refused")
			}
			return nil
		}
	}})
	within := 2*testNodeStatusInterval + time.Second
	waitNode(t, s, converge, "Ready", mirrorpod.NodeReady)
	down.Store(true)
	start := time.Now()
	n := waitNode(t, s, within, "not Ready", func(n *corev1.Node) bool { return readyCondition(n).Status == corev1.ConditionFalse })
	t.Logf("Ready=False %s after the health check began failing", time.Since(start).Round(time.Millisecond))
	if c := readyCondition(n); c.Reason != "KubeletNotReady" || c.Message != "container runtime is down" {
		t.Errorf("Ready condition = %s %s: %q", c.Status, c.Reason, c.Message)
	}
	waitEvent(t, s, func(e corev1.Event) bool { return e.Reason == "NodeNotReady" && e.InvolvedObject.Name == s.node })
	down.Store(false)
	n = waitNode(t, s, within, "Ready again", mirrorpod.NodeReady)
	if c := readyCondition(n); c.Reason != "KubeletReady" {
		t.Errorf("Ready condition = %s %s: %q", c.Status, c.Reason, c.Message)
	}
	waitEvent(t, s, func(e corev1.Event) bool { return e.Reason == "NodeReady" && e.InvolvedObject.Name == s.node })
}

// TestRegisteredNodeFacts: a Node staticlet registers carries the host's nodeInfo, the runtime version, the
// kubelet port and the taint that keeps the scheduler away; NodeRestriction refuses the node a change of its
// own taints afterwards, so the taint can be set only at registration.
func TestRegisteredNodeFacts(t *testing.T) {
	ctx := context.Background()
	c := kubeapi.Start(t)
	admin := c.Admin(t)
	if err := admin.CoreV1().Nodes().Delete(ctx, c.NodeName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	taint := corev1.Taint{Key: "node.staticlet.dev/static-pods-only", Effect: corev1.TaintEffectNoSchedule}
	s := startStack(t, stackOptions{registerNode: true, configure: func(cfg *mirror.Config) {
		cfg.Node.Taints = []corev1.Taint{taint}
		cfg.Node.KubeletPort = 10250
		cfg.RuntimeVersion = func(context.Context) (string, error) { return "containerd://9.9.9-test", nil }
	}})
	n := waitNode(t, s, converge, "registered with its runtime version", func(n *corev1.Node) bool {
		return n.Status.NodeInfo.ContainerRuntimeVersion == "containerd://9.9.9-test"
	})
	info := n.Status.NodeInfo
	if info.KernelVersion == "" || info.OSImage == "" || info.BootID == "" || info.KubeletVersion != "staticlet-test" || info.OperatingSystem != "linux" {
		t.Errorf("nodeInfo = %+v", info)
	}
	if want := mirror.HostSystemInfo(); info.MachineID != want.MachineID || info.SystemUUID != want.SystemUUID {
		t.Errorf("machineID %q systemUUID %q, want %q %q", info.MachineID, info.SystemUUID, want.MachineID, want.SystemUUID)
	}
	if p := n.Status.DaemonEndpoints.KubeletEndpoint.Port; p != 10250 {
		t.Errorf("kubelet port = %d", p)
	}
	// The API server's TaintNodesByCondition adds node.kubernetes.io/not-ready at creation too.
	tainted := false
	for _, got := range n.Spec.Taints {
		tainted = tainted || (got.Key == taint.Key && got.Effect == taint.Effect)
	}
	if !tainted {
		t.Errorf("taints = %v, want %s among them", n.Spec.Taints, taint.ToString())
	}
	_, err := c.Node(t).CoreV1().Nodes().Patch(ctx, c.NodeName, types.MergePatchType, []byte(`{"spec":{"taints":null}}`), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "not allowed to modify taints") {
		t.Errorf("the node removing its own taint: %v, want NodeRestriction's 403", err)
	}
}

// TestPodBoundToNodeIsRejected: an ordinary pod an administrator binds to the node (spec.nodeName) ends
// Failed with reason StaticPodsOnly and the kubelet's "Pod was rejected: " message within seconds, with one
// Warning Event; deleting it then takes effect at once (a terminal pod needs no kubelet to finish).
func TestPodBoundToNodeIsRejected(t *testing.T) {
	s := startStack(t, stackOptions{registerNode: true})
	waitNode(t, s, converge, "Ready", mirrorpod.NodeReady)
	ctx := context.Background()
	p := bindPod(t, s, "bound-"+s.node)
	start := time.Now()
	got := s.waitPod(p.Name, 5*time.Second, "Failed", func(p *corev1.Pod) bool { return p != nil && p.Status.Phase == corev1.PodFailed })
	t.Logf("Failed %s after creation", time.Since(start).Round(time.Millisecond))
	if got.Status.Reason != mirrorpod.ReasonStaticPodsOnly || !strings.HasPrefix(got.Status.Message, "Pod was rejected: ") {
		t.Errorf("status = %s %s: %q", got.Status.Phase, got.Status.Reason, got.Status.Message)
	}
	ev := waitEvent(t, s, func(e corev1.Event) bool {
		return e.Reason == mirrorpod.ReasonStaticPodsOnly && e.InvolvedObject.UID == p.UID
	})
	if ev.Type != corev1.EventTypeWarning || ev.Count > 1 {
		t.Errorf("event = %s %s x%d: %s", ev.Type, ev.Reason, ev.Count, ev.Message)
	}
	// Once: status polls and watch events that follow record nothing more.
	time.Sleep(2 * time.Second)
	list, err := s.admin.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		if e.InvolvedObject.UID == p.UID && e.Reason == mirrorpod.ReasonStaticPodsOnly && (e.Count > 1 || e.Name != ev.Name) {
			t.Errorf("more than one rejection event: %s x%d", e.Name, e.Count)
		}
	}
	if err := s.admin.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitPod(p.Name, 5*time.Second, "deleted", absent)
}

// TestPodBoundToNodeLeftToItsAgent: without registerNode the Node is another agent's (a kubelet's), which
// runs the pods bound to it: staticlet leaves them alone.
func TestPodBoundToNodeLeftToItsAgent(t *testing.T) {
	c := kubeapi.Start(t)
	ensureNode(t, c.Admin(t), c.NodeName)
	s := startStack(t, stackOptions{files: map[string]string{"ours.yaml": manifest("ours", "busybox:1")}})
	s.waitPod("ours-"+s.node, converge, "Running", runningReady)
	p := bindPod(t, s, "kubelets-"+s.node)
	time.Sleep(2 * time.Second)
	if got := s.getPod(p.Name); got == nil || got.Status.Phase == corev1.PodFailed || got.Status.Reason != "" {
		t.Errorf("pod of the node's own agent = %s", describe(got))
	}
}

// TestDeletedBoundPodIsFinished: a pod bound to the node and deleted while no agent ran (the API server
// then only marks it, waiting for the node's agent) is rejected and then deleted by staticlet, as the
// kubelet finishes the deletion of a pod it stopped, instead of hanging in Terminating.
func TestDeletedBoundPodIsFinished(t *testing.T) {
	c := kubeapi.Start(t)
	admin := c.Admin(t)
	ensureNode(t, admin, c.NodeName)
	ensureServiceAccount(t, admin)
	ctx := context.Background()
	p, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "deleted-" + c.NodeName, Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: c.NodeName, Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := admin.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{}); err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("before staticlet runs the deleted pod is %v (%v), want marked for deletion", got, err)
	}
	s := startStack(t, stackOptions{registerNode: true})
	s.waitPod(p.Name, 5*time.Second, "deleted", absent)
}
