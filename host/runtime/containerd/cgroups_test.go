package containerd_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/runtime/cgroups"
	"github.com/staticlet/staticlet/host/runtime/containerd"
)

// TestPodCgroups runs a Guaranteed pod of two containers, one of them a
// fork loop, on the real containerd with podPidsLimit 12, and checks the
// kubelet's pod cgroup: both containers' processes are in
// <root>/kubepods/pod<uid>/<container id>, the pod cgroup holds the summed
// cpu and memory limits and pids.max 12, the fork loop is stopped at 12
// tasks for the whole pod; after a runtime restart the adopted pod keeps
// its cgroup, and stopping the pod removes it from every hierarchy.
func TestPodCgroups(t *testing.T) {
	m, err := cgroups.Detect()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	opts := e.options(t)
	const pidsLimit = 12
	opts.PodPidsLimit = pidsLimit
	// The default root, /<namespace>, is test-unique; it is removed at the end.
	root := "/" + e.namespace
	t.Cleanup(func() {
		if err := m.Remove(root, 5*time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
	sleeper := corev1.Container{Name: "sleeper", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"}}
	sleeper.Resources.Limits, sleeper.Resources.Requests = limits, limits
	// 40 background sleeps from a subshell: the pod's pids.max stops its
	// forks (a failed fork ends the subshell, not the container).
	forker := corev1.Container{Name: "forker", Image: e.image, Args: []string{"sh", "-c",
		`(i=0; while [ $i -lt 40 ]; do sleep 3600 & i=$((i+1)); done); echo loop stopped; exec sleep 3600`}}
	forker.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	forker.Resources.Requests = forker.Resources.Limits
	p := pod("cg-node1", "uid-cgroups", corev1.RestartPolicyAlways, sleeper, forker)

	rt1, err := containerd.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var rt2 *containerd.Runtime
	t.Cleanup(func() {
		if rt2 == nil { // the test ended before the restart: stop the pod here
			stopAll(t, rt1)
		}
	})
	if err := rt1.StartPod(t.Context(), p); err != nil {
		rt1.Close()
		t.Fatal(err)
	}
	podCgroup := root + "/kubepods/poduid-cgroups"
	ids := map[string]string{}
	for _, name := range []string{"sleeper", "forker"} {
		cs := waitContainer(t, rt1, p.UID, name, 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
		ids[name] = strings.TrimPrefix(cs.ContainerID, "containerd://")
	}
	if st, _ := rt1.PodStatus(p.UID); st.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("qosClass %q, want Guaranteed", st.QOSClass)
	}

	// /proc/<pid>/cgroup of each container names the pod's cgroup in every
	// hierarchy (v1) or the unified one (v2).
	for name, id := range ids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", taskPid(t, opts.Address, opts.Namespace, id)))
		if err != nil {
			t.Fatal(err)
		}
		want := podCgroup + "/" + id
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || (parts[0] == "0" && !m.Unified()) {
				continue // the unused cgroup2 line of a hybrid host
			}
			if strings.Contains(parts[1], "memory") || strings.Contains(parts[1], "pids") || strings.Contains(parts[1], "cpu") || m.Unified() {
				if parts[2] != want {
					t.Errorf("%s: /proc/pid/cgroup line %q, want %s", name, line, want)
				}
			}
		}
	}

	// The pod cgroup's limits: sums of the containers'.
	checks := []struct{ ctrl, v1File, v2File, v1Want, v2Want string }{
		{"memory", "memory.limit_in_bytes", "memory.max", "50331648", "50331648"},
		{"cpu", "cpu.cfs_quota_us", "cpu.max", "30000", "30000 100000"},
		{"cpu", "cpu.shares", "cpu.weight", "307", "12"},
		{"pids", "pids.max", "pids.max", "12", "12"},
	}
	checkLimits := func(when string) {
		t.Helper()
		for _, c := range checks {
			file, want := c.v1File, c.v1Want
			if m.Unified() {
				file, want = c.v2File, c.v2Want
			}
			if got, err := m.Read(podCgroup, c.ctrl, file); err != nil || got != want {
				t.Errorf("%s: pod %s = %q, %v; want %q", when, file, got, err, want)
			}
		}
	}
	checkLimits("started")

	// The fork loop is stopped at the pod's limit: the pod never held more
	// than 12 tasks, and forks were refused.
	deadline := time.Now().Add(10 * time.Second)
	var logged string
	for time.Now().Before(deadline) && !strings.Contains(logged, "loop stopped") {
		time.Sleep(50 * time.Millisecond)
		logged = readLog(t, opts, p, "forker", 0)
	}
	if !strings.Contains(logged, "can't fork") {
		t.Errorf("the fork loop's log shows no refused fork: %q", logged)
	}
	// pids.peak is there on kernels from 6.4 on.
	if peak, err := m.Read(podCgroup, "pids", "pids.peak"); err == nil && peak != fmt.Sprint(pidsLimit) {
		t.Errorf("pids.peak = %q, want the limit %d", peak, pidsLimit)
	}
	if st, _ := rt1.PodStatus(p.UID); st.ContainerStatuses[0].RestartCount+st.ContainerStatuses[1].RestartCount != 0 {
		t.Errorf("a container restarted: %+v", st.ContainerStatuses)
	}

	// A new runtime adopts the pod: its cgroup is ensured again, unchanged,
	// and the containers are still in it.
	if err := rt1.Close(); err != nil {
		t.Fatal(err)
	}
	rt2 = newRuntime(t, opts)
	if _, err := rt2.ListPods(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitContainer(t, rt2, p.UID, "sleeper", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	checkLimits("adopted")
	if procs, err := m.Read(podCgroup+"/"+ids["sleeper"], "pids", "cgroup.procs"); err != nil || procs == "" {
		t.Errorf("adopted container's cgroup has no tasks: %q, %v", procs, err)
	}

	if err := rt2.StopPod(t.Context(), p.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, ctrl := range []string{"memory", "pids", "cpu"} {
		if _, err := m.Read(podCgroup, ctrl, "cgroup.procs"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the pod cgroup is still there after the pod stopped: %v", ctrl, err)
		}
	}
	if _, err := m.Read(root+"/kubepods", "memory", "cgroup.procs"); err != nil {
		t.Errorf("the kubepods cgroup is kept, as the kubelet keeps it: %v", err)
	}
}

// TestPodCgroupsFlat: with cgroupsPerQOS false there is no pod cgroup, and
// containers go straight under the root, as the kubelet does.
func TestPodCgroupsFlat(t *testing.T) {
	m, err := cgroups.Detect()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	opts := e.options(t)
	opts.Cgroups = cgroups.Layout{Root: "/" + e.namespace + "-flat", Flat: true}
	t.Cleanup(func() {
		if err := m.Remove(opts.Cgroups.Root, 5*time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	rt := newRuntime(t, opts)
	c := corev1.Container{Name: "app", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"}}
	p := pod("flat-node1", "uid-flat", corev1.RestartPolicyAlways, c)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "app", 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	id := strings.TrimPrefix(cs.ContainerID, "containerd://")
	if _, err := m.Read(opts.Cgroups.Root+"/"+id, "memory", "cgroup.procs"); err != nil {
		t.Errorf("container cgroup not directly under the root: %v", err)
	}
	if _, err := m.Read(opts.Cgroups.Root+"/kubepods", "memory", "cgroup.procs"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a kubepods cgroup was made with cgroupsPerQOS false: %v", err)
	}
}

// TestBurstableClassShares: the burstable class cgroup weighs its pods'
// summed cpu requests, updated as pods come and go, as the kubelet's QoS
// manager keeps it.
func TestBurstableClassShares(t *testing.T) {
	m, err := cgroups.Detect()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	opts := e.options(t)
	root := "/" + e.namespace
	t.Cleanup(func() {
		if err := m.Remove(root, 5*time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	rt := newRuntime(t, opts)
	burstable := func(name string, uid types.UID, cpu string) *corev1.Pod {
		c := corev1.Container{Name: "c", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"}}
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		return pod(name, uid, corev1.RestartPolicyAlways, c)
	}
	shares := func() string {
		t.Helper()
		file := "cpu.shares"
		if m.Unified() {
			file = "cpu.weight"
		}
		got, err := m.Read(root+"/kubepods/burstable", "cpu", file)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a, b := burstable("small-node1", "uid-burst-a", "100m"), burstable("big-node1", "uid-burst-b", "250m")
	for _, p := range []*corev1.Pod{a, b} {
		if err := rt.StartPod(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	want := func(milli int64) string {
		s := cgroups.MilliCPUToShares(milli)
		if m.Unified() {
			s = cgroups.SharesToWeight(s)
		}
		return fmt.Sprint(s)
	}
	if got := shares(); got != want(350) {
		t.Errorf("burstable class with 100m and 250m pods: %s, want %s", got, want(350))
	}
	if err := rt.StopPod(t.Context(), b.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if got := shares(); got != want(100) {
		t.Errorf("burstable class after the 250m pod stopped: %s, want %s", got, want(100))
	}
}
