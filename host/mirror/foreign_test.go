package mirror_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
	"github.com/staticlet/staticlet/host/pod"
)

// TestAnotherAgentsMirrorPodsAreLeftAlone: mirror pods on the node that another agent created (a kubelet
// next to staticlet, played here by the test with the node's own identity, so NodeRestriction treats them
// as it treats the kubelet's) are never deleted, patched or recreated: not as orphans, not when one holds
// the name of one of staticlet's static pods. staticlet's own mirror pods carry its mark.
func TestAnotherAgentsMirrorPodsAreLeftAlone(t *testing.T) {
	s := startStack(t, stackOptions{registerNode: true, files: map[string]string{"ours.yaml": manifest("ours", "busybox:1")}})
	ours := s.waitPod("ours-"+s.node, converge, "Running", runningReady)
	if !mirrorpod.IsOurs(ours) || ours.Annotations[mirrorpod.AnnotationCreatedBy] != "true" {
		t.Fatalf("staticlet's mirror pod has annotations %v, want %s=true", ours.Annotations, mirrorpod.AnnotationCreatedBy)
	}
	ctx := context.Background()
	node, err := s.admin.CoreV1().Nodes().Get(ctx, s.node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := s.admin.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", s.node).String(), ResourceVersion: ours.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()

	// The other agent's mirror pods, as a kubelet makes them (config.mirror, the Node as owner), created
	// as system:node:<node>: one no static pod of staticlet's owns, and one with the name of a static pod
	// staticlet is about to get.
	kubelets := map[string]*corev1.Pod{}
	for _, name := range []string{"kube-scheduler", "taken"} {
		static := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + s.node, Namespace: "default",
				Annotations: map[string]string{pod.AnnotationConfigHash: "kubelet-hash-" + name, pod.AnnotationConfigSource: pod.SourceFile}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
		}
		m := mirrorpod.BuildMirror(static, s.node, node.UID)
		delete(m.Annotations, mirrorpod.AnnotationCreatedBy)
		created, err := s.cluster.Node(t).CoreV1().Pods("default").Create(ctx, m, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create another agent's mirror pod %s: %v", m.Name, err)
		}
		kubelets[created.Name] = created
	}
	s.write("taken.yaml", manifest("taken", "busybox:1"))
	waitEvent(t, s, func(e corev1.Event) bool {
		return e.Reason == "MirrorPodConflict" && strings.Contains(e.Message, "taken-"+s.node) && strings.Contains(e.Message, "did not create")
	})
	// Long enough for orphan cleanup and status syncs to have run many times over.
	deadline := time.After(3 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				t.Fatal("the watch ended")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			if _, theirs := kubelets[p.Name]; theirs && ev.Type != watch.Added {
				t.Errorf("another agent's mirror pod %s: %s event (uid %s, deleting %v): staticlet touched it", p.Name, ev.Type, p.UID, p.DeletionTimestamp != nil)
			}
		case <-deadline:
			done = true
		}
	}
	for name, before := range kubelets {
		p := s.getPod(name)
		if p == nil || p.UID != before.UID || p.ResourceVersion != before.ResourceVersion {
			t.Errorf("another agent's mirror pod %s: %s, want it unchanged (uid %s, resourceVersion %s)", name, describe(p), before.UID, before.ResourceVersion)
		}
	}
	// staticlet still keeps its own: removing its manifest deletes its mirror.
	s.remove("ours.yaml")
	s.waitPod("ours-"+s.node, converge, "deleted with its manifest", absent)
}
