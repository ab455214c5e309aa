package mirror_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/mirror"
	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

const converge = 10 * time.Second

// TestMirrorLifecycle replays the seed against a real API server: the file dropped in gets a mirror pod
// (the kubelet's shape, Running 1/1), a delete with the default grace period and one with grace 0 are each
// answered by a new mirror without touching the runtime, an image edit replaces pod and mirror, and
// deleting the file removes both. staticlet registers the node and renews its lease.
func TestMirrorLifecycle(t *testing.T) {
	s := startStack(t, stackOptions{registerNode: true})
	ctx := context.Background()
	s.write("static.yaml", manifest("myapp-pod", "busybox:1"))
	name := "myapp-pod-" + s.node

	m := s.waitPod(name, converge, "Running and Ready", runningReady)
	node, err := s.admin.CoreV1().Nodes().Get(ctx, s.node, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node %s not registered: %v", s.node, err)
	}
	if node.Labels["staticlet.dev/test"] != "yes" || node.Labels[corev1.LabelHostname] != s.node {
		t.Errorf("node labels = %v", node.Labels)
	}
	if !nodeReady(node) || node.Status.Capacity.Cpu().IsZero() {
		t.Errorf("node status: ready=%v capacity=%v", nodeReady(node), node.Status.Capacity)
	}
	if _, err := s.admin.CoordinationV1().Leases(mirror.NodeLeaseNamespace).Get(ctx, s.node, metav1.GetOptions{}); err != nil {
		t.Errorf("node lease: %v", err)
	}
	if got := m.Annotations["kubernetes.io/config.mirror"]; got == "" || got != m.Annotations["kubernetes.io/config.hash"] {
		t.Errorf("config.mirror = %q, config.hash = %q", got, m.Annotations["kubernetes.io/config.hash"])
	}
	if m.Spec.NodeName != s.node {
		t.Errorf("spec.nodeName = %q", m.Spec.NodeName)
	}
	if len(m.OwnerReferences) != 1 || m.OwnerReferences[0].UID != node.UID || m.OwnerReferences[0].Kind != "Node" ||
		m.OwnerReferences[0].Controller == nil || !*m.OwnerReferences[0].Controller {
		t.Errorf("ownerReferences = %+v, want one controller reference to Node %s (uid %s)", m.OwnerReferences, s.node, node.UID)
	}
	if len(m.Status.ContainerStatuses) != 1 || !m.Status.ContainerStatuses[0].Ready || m.Status.HostIP != "127.0.0.1" ||
		m.Status.StartTime == nil || m.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status = %+v", m.Status)
	}
	starts := runtimeStarts(s.rt)

	// kubectl delete pod (default grace period): only sets deletionTimestamp; staticlet finishes the
	// delete and creates a new mirror.
	if err := s.admin.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	m2 := s.waitPod(name, converge, "recreated after a graceful delete", newMirror(m.UID))
	// kubectl delete pod --grace-period=0 --force.
	zero := int64(0)
	if err := s.admin.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	m3 := s.waitPod(name, converge, "recreated after a forced delete", newMirror(m2.UID))
	s.waitPod(name, converge, "Running and Ready again", func(p *corev1.Pod) bool { return runningReady(p) && p.UID == m3.UID })
	if got := runtimeStarts(s.rt); got != starts || runtimeStops(s.rt) != 0 {
		t.Errorf("deleting mirror pods touched the runtime: %d starts (want %d), %d stops", got, starts, runtimeStops(s.rt))
	}

	// Editing the image replaces the pod and its mirror.
	s.write("static.yaml", manifest("myapp-pod", "busybox:2"))
	m4 := s.waitPod(name, converge, "replaced after the image edit", func(p *corev1.Pod) bool {
		return runningReady(p) && p.Spec.Containers[0].Image == "busybox:2"
	})
	if m4.Annotations["kubernetes.io/config.mirror"] == m3.Annotations["kubernetes.io/config.mirror"] {
		t.Errorf("the edited pod's mirror kept the old hash")
	}
	if runtimeStops(s.rt) != 1 {
		t.Errorf("runtime stops = %d, want 1 (the old version)", runtimeStops(s.rt))
	}

	// Deleting the file removes the pod and its mirror.
	s.remove("static.yaml")
	s.waitPod(name, converge, "removed with its file", absent)
	if len(s.rt.Running()) != 0 {
		t.Errorf("runtime still runs %v", s.rt.Running())
	}
	if st := s.mgr.Stats(); st.Creates < 4 || st.StatusPatches == 0 {
		t.Errorf("stats = %+v", st)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestWaitsForNodeAndCleansOrphans: without registerNode no mirror is created until the Node exists; then
// mirrors left by an earlier run that no static pod owns are deleted, while a pod that is not a mirror is
// left alone.
func TestWaitsForNodeAndCleansOrphans(t *testing.T) {
	c := kubeapi.Start(t)
	admin := c.Admin(t)
	ctx := context.Background()
	_ = admin.CoreV1().Nodes().Delete(ctx, c.NodeName, metav1.DeleteOptions{})
	waitGone(t, func() error { _, err := admin.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{}); return err })

	s := startStack(t, stackOptions{files: map[string]string{"a.yaml": manifest("waiter", "busybox:1")}})
	time.Sleep(time.Second)
	if p := s.getPod("waiter-" + s.node); p != nil {
		t.Fatalf("a mirror pod was created before the Node existed: %s", describe(p))
	}
	node := ensureNode(t, admin, s.node)
	m := s.waitPod("waiter-"+s.node, converge, "created once the Node exists", present)
	if m.OwnerReferences[0].UID != node.UID {
		t.Errorf("owner uid = %s, want %s", m.OwnerReferences[0].UID, node.UID)
	}

	// An orphan mirror (a previous run's) and a regular pod, both bound to this node.
	orphan := mirrorpod.BuildMirror(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan-" + s.node, Namespace: "default", UID: "0123456789abcdef",
			Annotations: map[string]string{"kubernetes.io/config.hash": "0123456789abcdef"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
	}, s.node, node.UID)
	if _, err := admin.CoreV1().Pods("default").Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	regular := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "regular", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: s.node, Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, regular, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitPod(orphan.Name, converge, "deleted as an orphan", absent)
	time.Sleep(500 * time.Millisecond)
	if s.getPod("regular") == nil {
		t.Errorf("a pod that is not a mirror pod was deleted")
	}
}

// TestRejectedManifestEvent: a manifest refused on first sight gets a Warning Event on the Node; an edit
// refused while the last good version runs gets one on that pod's mirror.
func TestRejectedManifestEvent(t *testing.T) {
	s := startStack(t, stackOptions{registerNode: true})
	s.write("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: Not_Valid\n    image: busybox:1\n")
	ev := waitEvent(t, s, func(e corev1.Event) bool {
		return e.Reason == "ManifestRejected" && e.InvolvedObject.Kind == "Node" && strings.Contains(e.Message, "bad.yaml")
	})
	if ev.Type != corev1.EventTypeWarning || ev.Source.Component != "staticlet" {
		t.Errorf("event = %+v", ev)
	}
	if p := s.getPod("bad-" + s.node); p != nil {
		t.Errorf("a rejected manifest got a mirror pod")
	}

	s.write("good.yaml", manifest("good", "busybox:1"))
	m := s.waitPod("good-"+s.node, converge, "Running", runningReady)
	s.write("good.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: good\nspec:\n  containers:\n  - name: nginx-container\n    image: ''\n")
	waitEvent(t, s, func(e corev1.Event) bool {
		return e.Reason == "ManifestRejected" && e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.UID == m.UID
	})
	if p := s.getPod("good-" + s.node); p == nil || p.UID != m.UID {
		t.Errorf("the last good version's mirror changed: %s", describe(p))
	}
}

// TestNodeWarningEvent: WarnNode (a quarantined plugin, say) becomes a
// Warning Event on the Node, under the node's own identity.
func TestNodeWarningEvent(t *testing.T) {
	s := startStack(t, stackOptions{registerNode: true})
	s.mgr.WarnNode("PluginQuarantined", "plugin slow is not called until 2026-12-03T15:00:00Z: plugin call timed out")
	ev := waitEvent(t, s, func(e corev1.Event) bool {
		return e.Reason == "PluginQuarantined" && e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == s.node
	})
	if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, "plugin slow") {
		t.Errorf("event = %+v", ev)
	}
}

func waitEvent(t *testing.T, s *stack, match func(corev1.Event) bool) corev1.Event {
	t.Helper()
	deadline := time.Now().Add(converge)
	for {
		list, err := s.admin.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err == nil {
			for _, e := range list.Items {
				if match(e) {
					return e
				}
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			if list != nil {
				for _, e := range list.Items {
					seen = append(seen, e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name+" "+e.Reason+": "+e.Message)
				}
			}
			t.Fatalf("no matching event within %s (err %v); events: %s", converge, err, strings.Join(seen, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAPIServerOutage stops kube-apiserver for 30 s (STATICLET_TEST_OUTAGE overrides) while a manifest is
// edited and another dropped in; the pods keep running, and once the API server is back the mirrors
// converge within seconds, and the watch works again (a deleted mirror is recreated).
func TestAPIServerOutage(t *testing.T) {
	outage := 30 * time.Second
	if v := os.Getenv("STATICLET_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("STATICLET_TEST_OUTAGE: %v", err)
		}
		outage = d
	}
	s := startStack(t, stackOptions{registerNode: true, files: map[string]string{"a.yaml": manifest("outage-a", "busybox:1")}})
	a := s.waitPod("outage-a-"+s.node, converge, "Running", runningReady)

	s.cluster.StopAPIServer(t)
	stopped := time.Now()
	s.write("a.yaml", manifest("outage-a", "busybox:2"))
	s.write("b.yaml", manifest("outage-b", "busybox:1"))
	deadline := time.Now().Add(5 * time.Second)
	for len(s.rt.Running()) != 2 || !strings.Contains(strings.Join(s.rt.Running(), ","), "outage-b") {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not apply the changes while the API server was down: %v", s.rt.Running())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Until(stopped.Add(outage)))
	s.cluster.StartAPIServer(t)
	back := time.Now()
	s.waitPod("outage-a-"+s.node, converge, "replaced after the outage", func(p *corev1.Pod) bool {
		return runningReady(p) && p.UID != a.UID && p.Spec.Containers[0].Image == "busybox:2"
	})
	b := s.waitPod("outage-b-"+s.node, converge, "created after the outage", runningReady)
	t.Logf("mirrors converged %s after the API server was back (outage %s)", time.Since(back).Round(time.Millisecond), outage)

	zero := int64(0)
	if err := s.admin.CoreV1().Pods("default").Delete(context.Background(), b.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	s.waitPod(b.Name, converge, "recreated after the outage (watch restored)", newMirror(b.UID))
}

// TestNodeIdentityIsolation: the identity staticlet runs with cannot read, change or delete another
// node's pods, nor create mirror pods for it.
func TestNodeIdentityIsolation(t *testing.T) {
	c := kubeapi.Start(t)
	admin, node := c.Admin(t), c.Node(t)
	ctx := context.Background()
	ensureServiceAccount(t, admin)
	other := ensureNode(t, admin, c.OtherNodeName)
	self := ensureNode(t, admin, c.NodeName)
	theirs := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: c.OtherNodeName, Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	t.Cleanup(func() {
		_ = admin.CoreV1().Pods("default").Delete(context.Background(), "theirs", metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	static := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sneaky-" + c.OtherNodeName, Namespace: "default", UID: "feedfeedfeedfeed"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}}
	checks := []struct {
		name string
		call func() error
	}{
		{"get another node's pod", func() error {
			_, err := node.CoreV1().Pods("default").Get(ctx, "theirs", metav1.GetOptions{})
			return err
		}},
		{"list another node's pods", func() error {
			_, err := node.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", c.OtherNodeName).String()})
			return err
		}},
		{"delete another node's pod", func() error {
			return node.CoreV1().Pods("default").Delete(ctx, "theirs", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}},
		{"patch another node's pod status", func() error {
			_, err := node.CoreV1().Pods("default").Patch(ctx, "theirs", types.StrategicMergePatchType, []byte(`{"status":{"phase":"Failed"}}`), metav1.PatchOptions{}, "status")
			return err
		}},
		{"create a mirror pod bound to another node", func() error {
			_, err := node.CoreV1().Pods("default").Create(ctx, mirrorpod.BuildMirror(static, c.OtherNodeName, other.UID), metav1.CreateOptions{})
			return err
		}},
		{"create a mirror pod owned by another node", func() error {
			p := mirrorpod.BuildMirror(static, c.NodeName, self.UID)
			p.OwnerReferences[0].Name, p.OwnerReferences[0].UID = c.OtherNodeName, other.UID
			_, err := node.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
			return err
		}},
		{"create a pod that is not a mirror pod", func() error {
			p := mirrorpod.BuildMirror(static, c.NodeName, self.UID)
			delete(p.Annotations, "kubernetes.io/config.mirror")
			_, err := node.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
			return err
		}},
		{"update another node's Node", func() error {
			_, err := node.CoreV1().Nodes().Patch(ctx, c.OtherNodeName, types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
			return err
		}},
	}
	for _, check := range checks {
		err := check.call()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: err = %v, want Forbidden", check.name, err)
		}
	}
	if p, err := admin.CoreV1().Pods("default").Get(ctx, "theirs", metav1.GetOptions{}); err != nil || p.Status.Phase == corev1.PodFailed {
		t.Errorf("another node's pod was changed: %v", err)
	}
}

func waitGone(t *testing.T, get func() error) {
	t.Helper()
	deadline := time.Now().Add(converge)
	for !apierrors.IsNotFound(get()) {
		if time.Now().After(deadline) {
			t.Fatal("object not gone")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNodeLabelsReconciled: on a Node that already exists the configured labels are set, a label dropped
// from the configuration is removed after a restart, and a label someone else set stays.
func TestNodeLabelsReconciled(t *testing.T) {
	ctx := context.Background()
	c := kubeapi.Start(t)
	admin := c.Admin(t)
	node := ensureNode(t, admin, c.NodeName)
	node.Labels = map[string]string{"team": "ops"}
	if _, err := admin.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNode := func(what string, cond func(map[string]string) bool) {
		t.Helper()
		deadline := time.Now().Add(converge)
		for {
			n, err := admin.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{})
			if err == nil && cond(n.Labels) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("node labels never %s: %v (%v)", what, n.Labels, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	s := startStack(t, stackOptions{registerNode: true, nodeLabels: map[string]string{"staticlet.dev/test": "yes", "staticlet.dev/tier": "edge"}})
	waitNode("set", func(l map[string]string) bool {
		return l["staticlet.dev/tier"] == "edge" && l["staticlet.dev/test"] == "yes" && l[corev1.LabelHostname] == c.NodeName && l["team"] == "ops"
	})
	s.stop()
	startStack(t, stackOptions{registerNode: true})
	waitNode("reconciled", func(l map[string]string) bool {
		_, tier := l["staticlet.dev/tier"]
		return !tier && l["staticlet.dev/test"] == "yes" && l["team"] == "ops"
	})
}

// TestWaitingPodEvent: a pod held back by its start-after annotation has a Pending mirror with the reason,
// one WaitingForDependencies Event on it, and starts once its dependency appears and is Ready.
func TestWaitingPodEvent(t *testing.T) {
	s := startStack(t, stackOptions{registerNode: true})
	s.write("web.yaml", strings.Replace(manifest("web", "busybox:1"), "  labels:\n", "  annotations:\n    staticlet.dev/start-after: db\n  labels:\n", 1))
	name := "web-" + s.node
	m := s.waitPod(name, converge, "Pending, waiting for db", func(p *corev1.Pod) bool {
		return present(p) && p.Status.Phase == corev1.PodPending && p.Status.Reason == "WaitingForDependencies"
	})
	ev := waitEvent(t, s, func(e corev1.Event) bool {
		return e.Reason == "WaitingForDependencies" && e.InvolvedObject.UID == m.UID
	})
	if ev.Type != corev1.EventTypeNormal || !strings.Contains(ev.Message, "db") {
		t.Errorf("event = %s %s: %s", ev.Type, ev.Reason, ev.Message)
	}
	s.write("db.yaml", manifest("db", "busybox:1"))
	s.waitPod(name, converge, "Running and Ready once db is", runningReady)
}
