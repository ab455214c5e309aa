package mirror_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

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
