package mirrorpod

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/pod"
)

const (
	testNode    = "worker-1"
	testNodeUID = types.UID("node-uid-1")
)

func staticPod(hash string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "myapp-pod-worker-1", Namespace: "default", UID: types.UID(hash),
			Annotations: map[string]string{pod.AnnotationConfigHash: hash, pod.AnnotationConfigSource: "file"}},
		Spec: corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "nginx-container", Image: "busybox:1"}}},
	}
}

func apiMirror(hash string, mutate func(*corev1.Pod)) *corev1.Pod {
	m := BuildMirror(staticPod(hash), testNode, testNodeUID)
	m.UID = "api-assigned"
	if mutate != nil {
		mutate(m)
	}
	return m
}

// foreignMirror is a mirror pod another agent (a kubelet) created: the same shape, without staticlet's mark.
func foreignMirror(hash string, mutate func(*corev1.Pod)) *corev1.Pod {
	return apiMirror(hash, func(p *corev1.Pod) {
		delete(p.Annotations, AnnotationCreatedBy)
		if mutate != nil {
			mutate(p)
		}
	})
}

func TestBuildMirror(t *testing.T) {
	s := staticPod("abc")
	m := BuildMirror(s, testNode, testNodeUID)
	if m.UID != "" || m.Annotations[pod.AnnotationConfigMirror] != "abc" || m.Spec.NodeName != testNode {
		t.Errorf("mirror = uid %q, config.mirror %q, nodeName %q", m.UID, m.Annotations[pod.AnnotationConfigMirror], m.Spec.NodeName)
	}
	if len(m.OwnerReferences) != 1 {
		t.Fatalf("ownerReferences = %v", m.OwnerReferences)
	}
	o := m.OwnerReferences[0]
	if o.APIVersion != "v1" || o.Kind != "Node" || o.Name != testNode || o.UID != testNodeUID || o.Controller == nil || !*o.Controller {
		t.Errorf("owner = %+v", o)
	}
	if !IsOurs(m) || m.Annotations[AnnotationCreatedBy] != "true" {
		t.Errorf("mirror annotations %v: want staticlet's mark %s=true", m.Annotations, AnnotationCreatedBy)
	}
	if _, ok := s.Annotations[pod.AnnotationConfigMirror]; ok {
		t.Error("BuildMirror changed the static pod's annotations")
	}
}

func TestDecide(t *testing.T) {
	now := metav1.NewTime(time.Unix(1000, 0))
	tests := []struct {
		name    string
		static  *corev1.Pod
		actual  *corev1.Pod
		orphans bool
		want    Action
		// terminating is the hash of an older version still stopping.
		terminating string
	}{
		{"nothing at all", nil, nil, true, Nothing, ""},
		{"missing mirror", staticPod("abc"), nil, true, Create, ""},
		{"current mirror", staticPod("abc"), apiMirror("abc", nil), true, SyncStatus, ""},
		{"terminating mirror (default grace delete)", staticPod("abc"), apiMirror("abc", func(p *corev1.Pod) { p.DeletionTimestamp = &now }), true, Recreate, ""},
		{"stale hash", staticPod("new"), apiMirror("old", nil), true, Recreate, ""},
		{"stale hash before sync: the old version may still run", staticPod("new"), apiMirror("old", nil), false, Nothing, ""},
		{"owner uid of an older Node", staticPod("abc"), apiMirror("abc", func(p *corev1.Pod) { p.OwnerReferences[0].UID = "old-node" }), true, Recreate, ""},
		{"two owners", staticPod("abc"), apiMirror("abc", func(p *corev1.Pod) {
			p.OwnerReferences = append(p.OwnerReferences, p.OwnerReferences[0])
		}), true, Recreate, ""},
		{"not a controller reference", staticPod("abc"), apiMirror("abc", func(p *corev1.Pod) { p.OwnerReferences[0].Controller = nil }), true, Recreate, ""},
		{"regular pod holds the name", staticPod("abc"), apiMirror("abc", func(p *corev1.Pod) { delete(p.Annotations, pod.AnnotationConfigMirror) }), true, Conflict, ""},
		{"orphan mirror after sync", nil, apiMirror("abc", nil), true, Delete, ""},
		{"orphan mirror before sync", nil, apiMirror("abc", nil), false, Nothing, ""},
		{"terminating orphan", nil, apiMirror("abc", func(p *corev1.Pod) { p.DeletionTimestamp = &now }), true, Delete, ""},
		{"regular pod without static pod", nil, apiMirror("abc", func(p *corev1.Pod) { delete(p.Annotations, pod.AnnotationConfigMirror) }), true, Nothing, ""},
		// A removed static pod whose containers are still stopping keeps its mirror, sources listed or not.
		{"removed pod still stopping", nil, apiMirror("abc", nil), true, SyncTerminating, "abc"},
		{"removed pod still stopping, before sync", nil, apiMirror("abc", nil), false, SyncTerminating, "abc"},
		// An update: the old version's mirror stays while it stops; the new one's mirror waits.
		{"updated pod, old version stopping", staticPod("new"), apiMirror("old", nil), true, SyncTerminating, "old"},
		{"updated pod, old mirror gone while it stops", staticPod("new"), nil, true, Wait, "old"},
		{"updated pod, new mirror already there", staticPod("new"), apiMirror("new", nil), true, SyncStatus, "old"},
		{"updated pod, old mirror deleted while it stops", staticPod("new"), apiMirror("old", func(p *corev1.Pod) { p.DeletionTimestamp = &now }), true, Delete, "old"},
		{"updated pod, a third version's mirror while the old stops", staticPod("new"), apiMirror("older", nil), true, Delete, "old"},
		// What is not that version's mirror, or is being deleted, is handled as before.
		{"stopping pod's mirror being deleted", nil, apiMirror("abc", func(p *corev1.Pod) { p.DeletionTimestamp = &now }), true, Delete, "abc"},
		{"stopping pod's mirror of an older Node", nil, apiMirror("abc", func(p *corev1.Pod) { p.OwnerReferences[0].UID = "old-node" }), true, Delete, "abc"},
		{"another pod stopping", nil, apiMirror("abc", nil), true, Delete, "xyz"},
		{"regular pod, a version stopping", nil, apiMirror("abc", func(p *corev1.Pod) { delete(p.Annotations, pod.AnnotationConfigMirror) }), true, Nothing, "abc"},
		// Another agent's mirror pod (a kubelet's on the same node: no staticlet mark) is never deleted,
		// patched or recreated, whatever it holds.
		{"another agent's mirror, no static pod", nil, foreignMirror("abc", nil), true, Nothing, ""},
		{"another agent's mirror, a version stopping", nil, foreignMirror("abc", nil), true, Nothing, "abc"},
		{"another agent's mirror of a stopping version, new one wanted", staticPod("new"), foreignMirror("abc", nil), true, Conflict, "abc"},
		{"another agent's mirror holds the name, same hash", staticPod("abc"), foreignMirror("abc", nil), true, Conflict, ""},
		{"another agent's mirror holds the name, other hash", staticPod("new"), foreignMirror("old", nil), true, Conflict, ""},
		{"another agent's mirror being deleted", staticPod("abc"), foreignMirror("abc", func(p *corev1.Pod) { p.DeletionTimestamp = &now }), true, Conflict, ""},
		{"another agent's mirror of an older Node", staticPod("abc"), foreignMirror("abc", func(p *corev1.Pod) { p.OwnerReferences[0].UID = "old-node" }), true, Conflict, ""},
		{"the mark not \"true\"", nil, apiMirror("abc", func(p *corev1.Pod) { p.Annotations[AnnotationCreatedBy] = "false" }), true, Nothing, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.static, tt.actual, testNode, testNodeUID, tt.orphans, tt.terminating)
			if d.Action != tt.want {
				t.Errorf("Decide = %s (%s), want %s", d.Action, d.Reason, tt.want)
			}
		})
	}
}

func TestActionString(t *testing.T) {
	for a := Nothing; a <= Wait; a++ {
		if strings.HasPrefix(a.String(), "Action(") {
			t.Errorf("action %d has no name", a)
		}
	}
}
