package mirror_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/staticlet/staticlet/host/runtime/fake"
)

// holdMirror checks for d that the mirror stays the one with uid: same UID, Running, not being deleted.
func (s *stack) holdMirror(name string, uid string, d time.Duration) {
	s.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		p := s.getPod(name)
		if p == nil || string(p.UID) != uid || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			s.t.Fatalf("while the old pod stops, the mirror changed: %s, want uid %s Running", describe(p), uid)
		}
	}
}

// TestMirrorStaysWhilePodTerminates ports the kubelet's node-conformance tests "mirror pod termination should
// satisfy grace period when static pod is deleted" and "... is updated" (test/e2e_node/
// mirror_pod_grace_period_test.go): while the old pod's containers are in their grace period (a runtime
// whose stops take 3 s), the mirror keeps its UID and shows Running; once the old pod is gone the mirror is
// removed (deleted file) or replaced by the new version's (edited file).
func TestMirrorStaysWhilePodTerminates(t *testing.T) {
	s := startStack(t, stackOptions{registerNode: true})
	const stop = 3 * time.Second
	s.rt.StopDelay = stop
	name := "graceful-pod-" + s.node

	s.write("graceful.yaml", manifest("graceful-pod", "busybox:1"))
	m := s.waitPod(name, converge, "Running and Ready", runningReady)
	s.write("graceful.yaml", manifest("graceful-pod", "busybox:2"))
	waitRuntime(t, s.rt, func(r *fake.Runtime) bool { return runtimeStops(r) == 1 })
	s.holdMirror(name, string(m.UID), stop*2/3)
	m2 := s.waitPod(name, converge+stop, "replaced by the new version's mirror", func(p *corev1.Pod) bool {
		return newMirror(m.UID)(p) && runningReady(p) && p.Spec.Containers[0].Image == "busybox:2"
	})

	s.remove("graceful.yaml")
	waitRuntime(t, s.rt, func(r *fake.Runtime) bool { return runtimeStops(r) == 2 })
	s.holdMirror(name, string(m2.UID), stop*2/3)
	s.waitPod(name, converge+stop, "removed once the pod is gone", absent)
	if len(s.rt.Running()) != 0 {
		t.Errorf("runtime still runs %v", s.rt.Running())
	}
}

func waitRuntime(t *testing.T, rt *fake.Runtime, cond func(*fake.Runtime) bool) {
	t.Helper()
	for end := time.Now().Add(converge); !cond(rt); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("runtime: condition not met within %s; calls %+v", converge, rt.Calls())
		}
	}
}

// TestRewritesDuringTerminationStartOnlyTheNewest ports the kubelet's node-conformance test "should update a
// static pod when the static pod is updated multiple times during the graceful termination period"
// (mirror_pod_grace_period_test.go): a file rewritten 30 times while the running version is in its grace
// period starts only the newest version once the old one is gone, and its mirror replaces the old one once:
// no intermediate version runs or gets a mirror.
func TestRewritesDuringTerminationStartOnlyTheNewest(t *testing.T) {
	s := startStack(t, stackOptions{registerNode: true})
	// Long enough that every rewrite lands within the stop, even on a loaded machine.
	const stop = 5 * time.Second
	s.rt.StopDelay = stop
	name := "graceful-pod-" + s.node
	s.write("graceful.yaml", manifest("graceful-pod", "busybox:1"))
	m := s.waitPod(name, converge, "Running and Ready", runningReady)
	creates := s.mgr.Stats().Creates

	const rewrites = 30
	for i := range rewrites {
		s.write("graceful.yaml", manifest("graceful-pod", fmt.Sprintf("image-%d", i)))
		time.Sleep(50 * time.Millisecond)
	}
	newest := fmt.Sprintf("image-%d", rewrites-1)
	s.waitPod(name, converge+stop, "the newest version Running", func(p *corev1.Pod) bool {
		return newMirror(m.UID)(p) && runningReady(p) && p.Spec.Containers[0].Image == newest
	})
	if got := runtimeStarts(s.rt); got != 2 {
		t.Errorf("runtime starts = %d, want 2 (the first version and the newest); calls %+v", got, s.rt.Calls())
	}
	if got := s.mgr.Stats().Creates - creates; got != 1 {
		t.Errorf("mirror creates after the rewrites = %d, want 1 (the newest version's)", got)
	}
}

// TestMirrorDeletedWhileOldVersionTerminates: `kubectl delete` of the mirror while an edited pod's old
// version is still stopping leaves no mirror until the old version is gone (as the kubelet, which creates
// mirrors only for the pod it syncs), then the new version's mirror comes.
func TestMirrorDeletedWhileOldVersionTerminates(t *testing.T) {
	s := startStack(t, stackOptions{registerNode: true})
	const stop = 3 * time.Second
	s.rt.StopDelay = stop
	name := "graceful-pod-" + s.node
	s.write("graceful.yaml", manifest("graceful-pod", "busybox:1"))
	m := s.waitPod(name, converge, "Running and Ready", runningReady)
	s.write("graceful.yaml", manifest("graceful-pod", "busybox:2"))
	waitRuntime(t, s.rt, func(r *fake.Runtime) bool { return runtimeStops(r) == 1 })
	// The agent publishes the stop right after it hands it to the runtime; nothing outside the manager
	// shows when the manager took it, so give it a moment (the stop lasts 3 s).
	time.Sleep(300 * time.Millisecond)
	zero := int64(0)
	if err := s.admin.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(stop / 2); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if p := s.getPod(name); p != nil {
			t.Fatalf("a mirror came back while the old version stops: %s", describe(p))
		}
	}
	s.waitPod(name, converge+stop, "the new version's mirror", func(p *corev1.Pod) bool {
		return newMirror(m.UID)(p) && runningReady(p) && p.Spec.Containers[0].Image == "busybox:2"
	})
}
