package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/internal/testenv"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestManagerV2 runs the v2 driver on a temporary folder laid out like a
// cgroup2 root (this test host is cgroup v1, so the kernel's side of v2 is
// not exercised here): the controllers the root offers are enabled on every
// level above the pod, and the pod's files hold the v2 values.
func TestManagerV2(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The root already has some enabled: only the missing ones are written.
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("cpu memory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := NewV2(root)
	layout := Layout{}
	qos := corev1.PodQOSBurstable
	if err := m.Ensure("/kubepods", Limits{}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "cgroup.subtree_control")); got != "+cpuset +io +pids" {
		t.Errorf("root subtree_control written %q, want only the missing controllers", got)
	}
	// What the kernel shows after that write; nothing more is written to it.
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("cpuset cpu io memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range layout.QOSPaths(qos) {
		if err := m.Ensure(p, QOSLimits(qos)); err != nil {
			t.Fatal(err)
		}
	}
	pod := layout.PodPath("u1", qos)
	limits := Limits{CPUShares: 1024, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 * mi, PidsLimit: 42}
	for range 2 { // twice: an adopted pod is ensured again
		if err := m.Ensure(pod, limits); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, filepath.Join(root, "cgroup.subtree_control")); got != "cpuset cpu io memory pids" {
		t.Errorf("root subtree_control rewritten to %q with nothing missing", got)
	}
	for _, level := range []string{"kubepods", "kubepods/burstable"} {
		if got := readFile(t, filepath.Join(root, level, "cgroup.subtree_control")); got != "+cpuset +cpu +io +memory +pids" {
			t.Errorf("%s subtree_control %q", level, got)
		}
	}
	if _, err := os.Stat(filepath.Join(root, pod, "cgroup.subtree_control")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the pod's own subtree_control was written (runc enables it for its containers): %v", err)
	}
	for file, want := range map[string]string{"cpu.weight": "39", "cpu.max": "50000 100000", "memory.max": "67108864", "pids.max": "42"} {
		if got := readFile(t, filepath.Join(root, pod, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
		if got, err := m.Read(pod, "", file); err != nil || got != want {
			t.Errorf("Read %s = %q, %v", file, got, err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, pod, "memory.events"), []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := m.OOMKills(pod); err != nil || n != 1 {
		t.Errorf("OOMKills = %d, %v; want 1", n, err)
	}
	if _, err := m.OOMKills("/gone"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OOMKills of a missing cgroup: %v", err)
	}

	// A controller the root does not offer is refused before anything is made.
	noPids := NewV2(t.TempDir())
	if err := os.WriteFile(filepath.Join(noPids.unified, "cgroup.controllers"), []byte("cpu memory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := noPids.Ensure("/kubepods/podx", Limits{PidsLimit: 10}); !errors.Is(err, ErrControllerMissing) {
		t.Errorf("pids limit without the pids controller: %v, want ErrControllerMissing", err)
	}
	if _, err := os.Stat(filepath.Join(noPids.unified, "kubepods")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused cgroup was half made: %v", err)
	}
}

// testV1 is the host's real v1 hierarchies, or a skip on a v2 host.
func testV1(t *testing.T) *Manager {
	t.Helper()
	m, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	if m.Unified() {
		t.Skip("cgroup v2 host: the v1 driver is tested on v1 hosts")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to write /sys/fs/cgroup")
	}
	return m
}

// TestManagerV1 runs the v1 driver on this host's real hierarchies, in a
// subtree unique to the test that is always removed: the pod cgroup exists
// in every hierarchy with the limits written, a process placed in it is
// bound by pids.max, a busy cgroup is reported with ErrBusy, and removal
// takes leftover child cgroups too.
func TestManagerV1(t *testing.T) {
	m := testV1(t)
	layout := Layout{Root: fmt.Sprintf("/staticlet-cgtest-%d", os.Getpid())}
	t.Cleanup(func() {
		if err := m.Remove(layout.Root, 5*time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	qos := corev1.PodQOSBestEffort
	pod := layout.PodPath("u1", qos)
	limits := Limits{CPUShares: 2, MemoryLimit: 64 * mi, PidsLimit: 3}
	for range 2 { // twice: an adopted pod is ensured again
		if parent, err := m.EnsurePod(layout, "u1", qos, limits); err != nil || parent != pod {
			t.Fatalf("EnsurePod = %q, %v; want %q", parent, err, pod)
		}
	}
	for _, mount := range m.mounts() {
		if st, err := os.Stat(filepath.Join(mount, pod)); err != nil || !st.IsDir() {
			t.Errorf("pod cgroup missing in %s: %v", mount, err)
		}
	}
	for _, c := range []struct{ ctrl, file, want string }{
		{"cpu", "cpu.shares", "2"}, {"memory", "memory.limit_in_bytes", "67108864"}, {"pids", "pids.max", "3"},
	} {
		if got, err := m.Read(pod, c.ctrl, c.file); err != nil || got != c.want {
			t.Errorf("%s = %q, %v; want %q", c.file, got, err, c.want)
		}
	}
	if got, _ := m.Read(layout.QOSPaths(qos)[1], "cpu", "cpu.shares"); got != "2" {
		t.Errorf("besteffort cpu.shares = %q, want 2", got)
	}
	if got, _ := m.Read(layout.QOSPaths(qos)[0], "cpu", "cpu.shares"); got != "1024" {
		t.Errorf("kubepods cpu.shares = %q, want the default 1024", got)
	}
	if cpuset, ok := m.hierarchies["cpuset"]; ok {
		if got := readFile(t, filepath.Join(cpuset, pod, "cpuset.cpus")); got == "" {
			t.Error("the pod's cpuset.cpus is empty: no task could join it")
		}
	}

	// A child cgroup as runc makes for a container, holding a shell that
	// tries to start more processes than pids.max allows.
	child := ContainerPath(pod, "c1")
	if err := m.Ensure(child, Limits{}); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("sh", "-c", `read _; n=0; for i in 1 2 3 4 5 6; do sleep 30 & n=$((n+1)); done; echo started; wait`)
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The shell's output is copied in by exec's goroutine while the test reads it.
	out := &testenv.SyncBuffer{}
	sh.Stdout, sh.Stderr = out, out
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer sh.Process.Kill()
	for _, mount := range m.mounts() {
		if err := os.WriteFile(filepath.Join(mount, child, "cgroup.procs"), []byte(fmt.Sprint(sh.Process.Pid)), 0o644); err != nil {
			t.Fatalf("join %s: %v", mount, err)
		}
	}
	stdin.Write([]byte("go\n"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.ToLower(out.String()), "fork") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("shell in a cgroup with pids.max 3: %q", out.String())
	if got, _ := m.Read(pod, "pids", "pids.current"); got != "3" {
		t.Errorf("pids.current = %q, want 3 (the limit)", got)
	}
	if !strings.Contains(strings.ToLower(out.String()), "fork") {
		t.Errorf("no fork was refused; shell said %q", out.String())
	}

	if err := m.Remove(pod, 200*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Errorf("removing a busy pod cgroup: %v, want ErrBusy", err)
	}
	// Killing the shell's group empties the cgroup; removal then takes the
	// leftover child and the pod.
	if err := exec.Command("sh", "-c", fmt.Sprintf("kill -9 $(cat %s)", filepath.Join(m.hierarchies["pids"], child, "cgroup.procs"))).Run(); err != nil {
		t.Fatal(err)
	}
	sh.Wait()
	if err := m.RemovePod(layout, "u1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, mount := range m.mounts() {
		if _, err := os.Stat(filepath.Join(mount, pod)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("pod cgroup still in %s: %v", mount, err)
		}
	}
	if err := m.Remove(pod, time.Second); err != nil {
		t.Errorf("removing a removed cgroup: %v", err)
	}
}
