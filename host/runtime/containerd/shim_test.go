package containerd_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// parentPid reads a process's parent from /proc/<pid>/stat (the field after
// the state, which follows the command in parentheses).
func parentPid(t *testing.T, pid uint32) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	var state string
	var ppid int
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	if _, err := fmt.Sscan(rest, &state, &ppid); err != nil {
		t.Fatalf("parse /proc/%d/stat: %v", pid, err)
	}
	return ppid
}

// TestOneShimPerPod: every container of a pod runs under the same runc shim
// (the shim is the parent of each container's init process), as under the
// CRI plugin; containers of another pod get their own.
func TestOneShimPerPod(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	sleeper := func(name string) corev1.Container {
		return corev1.Container{Name: name, Image: e.image, Args: []string{"sleep", "600"}}
	}
	first := pod("shim-a-node1", "uid-shim-a", corev1.RestartPolicyAlways, sleeper("a"), sleeper("b"), sleeper("c"))
	second := pod("shim-b-node1", "uid-shim-b", corev1.RestartPolicyAlways, sleeper("a"))
	shims := map[string]map[int]bool{}
	for _, p := range []*corev1.Pod{first, second} {
		if err := rt.StartPod(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		shims[p.Name] = map[int]bool{}
		for _, c := range p.Spec.Containers {
			cs := waitContainer(t, rt, p.UID, c.Name, 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
			pid := taskPid(t, opts.Address, opts.Namespace, strings.TrimPrefix(cs.ContainerID, "containerd://"))
			shims[p.Name][parentPid(t, pid)] = true
		}
	}
	if len(shims[first.Name]) != 1 {
		t.Errorf("the three containers of one pod run under %d shims, want 1", len(shims[first.Name]))
	}
	for shim := range shims[second.Name] {
		if shims[first.Name][shim] {
			t.Errorf("two pods share shim %d", shim)
		}
	}
}
