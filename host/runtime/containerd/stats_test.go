package containerd_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/staticlet/staticlet/host/runtime/cgroups"
	"github.com/staticlet/staticlet/internal/testenv"
)

// TestResourceUsage runs a Burstable pod with a busy and an idle container on the real containerd and
// reads what /metrics/resource reports from the cgroups: the busy container's CPU counter grows, both
// working sets are above zero and below the pod's memory limit, the pod's counter covers its
// containers', the node's are plausible, and a pod the runtime does not run has no usage.
func TestResourceUsage(t *testing.T) {
	m, err := cgroups.Detect()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	root := "/" + e.namespace
	t.Cleanup(func() {
		if err := m.Remove(root, 5*time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	rt := newRuntime(t, e.options(t))
	const memoryLimit = 64 << 20
	busy := corev1.Container{Name: "busy", Image: e.image, Args: []string{"sh", "-c", trapTERM + "while :; do :; done"}}
	busy.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: *resource.NewQuantity(memoryLimit/2, resource.BinarySI)}
	idle := corev1.Container{Name: "idle", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"}}
	idle.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: *resource.NewQuantity(memoryLimit/2, resource.BinarySI)}
	idle.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}
	p := pod("stats-node1", "uid-stats", corev1.RestartPolicyAlways, busy, idle)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"busy", "idle"} {
		waitContainer(t, rt, p.UID, name, 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	}

	node, err := rt.NodeUsage()
	if err != nil {
		t.Fatal(err)
	}
	if node.CPUNanoseconds == 0 || node.MemoryWorkingSetBytes == 0 || time.Since(node.Time) > time.Minute {
		t.Errorf("NodeUsage = %+v: want CPU time, a working set and a fresh time", node)
	}

	var first uint64
	testenv.Eventually(t, 20*time.Second, func() error {
		u, err := rt.PodUsage(p)
		if err != nil {
			return err
		}
		if len(u.Containers) != 2 || u.Pod == nil {
			return fmt.Errorf("usage of the pod %v and of %d containers, want the pod's and 2", u.Pod, len(u.Containers))
		}
		first = u.Containers["busy"].CPUNanoseconds
		return nil
	})
	// The busy loop gets a quarter CPU: 50ms of CPU time shows within a second or so.
	testenv.Eventually(t, 20*time.Second, func() error {
		u, err := rt.PodUsage(p)
		if err != nil {
			return err
		}
		b := u.Containers["busy"]
		if b.CPUNanoseconds < first+uint64(50*time.Millisecond) {
			return fmt.Errorf("busy container's CPU %dns, not yet 50ms above the first read %dns", b.CPUNanoseconds, first)
		}
		for name, c := range u.Containers {
			// busybox's shell and sleep take a few hundred KiB; the limit caps them anyway.
			if c.MemoryWorkingSetBytes == 0 || c.MemoryWorkingSetBytes > memoryLimit/2 {
				t.Errorf("%s's working set %d bytes, want above 0 and within its limit %d", name, c.MemoryWorkingSetBytes, memoryLimit/2)
			}
			if time.Since(c.Time) > time.Minute || c.Time.After(time.Now()) {
				t.Errorf("%s's usage read at %v, not just now", name, c.Time)
			}
		}
		if u.Pod.CPUNanoseconds < first || u.Pod.MemoryWorkingSetBytes == 0 || u.Pod.MemoryWorkingSetBytes > memoryLimit {
			t.Errorf("pod usage %+v: want CPU time at least the busy container's first %dns, working set within %d", *u.Pod, first, memoryLimit)
		}
		return nil
	})

	other := pod("other-node1", "uid-not-run", corev1.RestartPolicyAlways, idle)
	if u, err := rt.PodUsage(other); err != nil || u.Pod != nil || len(u.Containers) != 0 {
		t.Errorf("usage of a pod not run: %+v, %v; want none", u, err)
	}
}
