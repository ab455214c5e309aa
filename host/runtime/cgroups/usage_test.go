package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// writeFiles lays out files (path relative to root → content) under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const fakeMeminfo = `MemTotal:       24683664 kB
MemFree:        11743360 kB
MemAvailable:   22454272 kB
SwapTotal:       2097148 kB
SwapFree:        2096124 kB
HugePages_Total:       0
`

// TestUsageV1 reads a fake v1 tree (cpuacct and memory hierarchies mounted apart, as on this host):
// the working set is usage minus total_inactive_file (not the cgroup's own inactive_file), swap is
// memsw minus memory, and an unlimited memsw limit leaves no available swap.
func TestUsageV1(t *testing.T) {
	root := t.TempDir()
	cg := "/kubepods/burstable/pod1"
	writeFiles(t, root, map[string]string{
		"cpuacct/kubepods/burstable/pod1/cpuacct.usage":              "105121323\n",
		"memory/kubepods/burstable/pod1/memory.usage_in_bytes":       "3000000\n",
		"memory/kubepods/burstable/pod1/memory.stat":                 "cache 100\ninactive_file 5\ntotal_inactive_file 1000000\n",
		"memory/kubepods/burstable/pod1/memory.memsw.usage_in_bytes": "3004096\n",
		"memory/kubepods/burstable/pod1/memory.memsw.limit_in_bytes": "9223372036854771712\n",
		"memory/kubepods/burstable/pod1/ctr/cpuacct.usage":           "1\n",
		"cpuacct/cpuacct.usage":                                      "16041626846677\n",
		"memory/memory.usage_in_bytes":                               "11778953216\n",
		"memory/memory.stat":                                         "total_inactive_file 2907807744\n",
		"memory/memory.memsw.usage_in_bytes":                         "11778953216\n",
		"memory/memory.memsw.limit_in_bytes":                         "9223372036854771712\n",
		"proc/meminfo":                                               fakeMeminfo,
		"memory/kubepods/burstable/pod2/memory.usage_in_bytes":       "100\n",
		"memory/kubepods/burstable/pod2/memory.stat":                 "total_inactive_file 4096\n",
		"cpuacct/kubepods/burstable/pod2/cpuacct.usage":              "7\n",
		"memory/kubepods/burstable/pod3/memory.usage_in_bytes":       "8192\n",
		"memory/kubepods/burstable/pod3/memory.stat":                 "total_inactive_file 0\n",
		"memory/kubepods/burstable/pod3/memory.memsw.usage_in_bytes": "12288\n",
		"memory/kubepods/burstable/pod3/memory.memsw.limit_in_bytes": "20480\n",
		"cpuacct/kubepods/burstable/pod3/cpuacct.usage":              "7\n",
	})
	m := NewV1(map[string]string{"cpuacct": filepath.Join(root, "cpuacct"), "cpu": filepath.Join(root, "cpuacct"), "memory": filepath.Join(root, "memory")})

	u, err := m.Usage(cg)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Usage{CPUNanoseconds: 105121323, MemoryWorkingSetBytes: 2000000, Swap: &SwapUsage{UsageBytes: 4096}}); !sameUsage(u, want) {
		t.Errorf("Usage(%s) = %+v (swap %+v), want %+v", cg, u, u.Swap, want)
	}
	// Inactive file pages above the usage (they are counted apart): 0, not a wrapped-around uint64; no
	// memsw files (swapaccount=0): no swap.
	if u, err := m.Usage("/kubepods/burstable/pod2"); err != nil || !sameUsage(u, Usage{CPUNanoseconds: 7}) {
		t.Errorf("pod2 = %+v, %v; want 7ns, working set 0, no swap", u, err)
	}
	// A finite memsw limit: available swap is what is left of it.
	if u, err := m.Usage("/kubepods/burstable/pod3"); err != nil || !sameUsage(u, Usage{CPUNanoseconds: 7, MemoryWorkingSetBytes: 8192, Swap: &SwapUsage{UsageBytes: 4096, AvailableBytes: 8192}}) {
		t.Errorf("pod3 = %+v (swap %+v), %v", u, u.Swap, err)
	}
	if _, err := m.Usage("/kubepods/gone"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cgroup that is gone: %v, want fs.ErrNotExist", err)
	}

	node, err := m.NodeUsage(filepath.Join(root, "proc"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Usage{CPUNanoseconds: 16041626846677, MemoryWorkingSetBytes: 11778953216 - 2907807744, Swap: &SwapUsage{UsageBytes: 1024 * 1024, AvailableBytes: 2096124 * 1024}}); !sameUsage(node, want) {
		t.Errorf("NodeUsage = %+v (swap %+v), want %+v (swap %+v)", node, node.Swap, want, want.Swap)
	}

	if _, err := NewV1(map[string]string{"memory": filepath.Join(root, "memory")}).Usage(cg); !errors.Is(err, ErrControllerMissing) {
		t.Errorf("without cpuacct: %v, want ErrControllerMissing", err)
	}
}

// TestUsageV2 reads a fake unified tree: usage_usec in nanoseconds, memory.current minus inactive_file,
// memory.swap.current with "max" as no limit; the node's memory from /proc/meminfo (the v2 root has no
// memory.current) minus the root's inactive_file.
func TestUsageV2(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"kubepods/pod1/cpu.stat":            "usage_usec 105121\nuser_usec 100000\nsystem_usec 5121\n",
		"kubepods/pod1/memory.current":      "3000000\n",
		"kubepods/pod1/memory.stat":         "anon 100\nfile 2000\ninactive_file 1000000\nactive_file 1000\n",
		"kubepods/pod1/memory.swap.current": "4096\n",
		"kubepods/pod1/memory.swap.max":     "max\n",
		"kubepods/pod2/cpu.stat":            "usage_usec 1\n",
		"kubepods/pod2/memory.current":      "100\n",
		"kubepods/pod2/memory.stat":         "inactive_file 0\n",
		"kubepods/pod2/memory.swap.current": "0\n",
		"kubepods/pod2/memory.swap.max":     "65536\n",
		"cpu.stat":                          "usage_usec 16041626846\n",
		"memory.stat":                       "inactive_file 2907807744\n",
		"proc/meminfo":                      fakeMeminfo,
	})
	m := NewV2(root)
	if u, err := m.Usage("/kubepods/pod1"); err != nil || !sameUsage(u, Usage{CPUNanoseconds: 105121000, MemoryWorkingSetBytes: 2000000, Swap: &SwapUsage{UsageBytes: 4096}}) {
		t.Errorf("pod1 = %+v (swap %+v), %v", u, u.Swap, err)
	}
	if u, err := m.Usage("/kubepods/pod2"); err != nil || !sameUsage(u, Usage{CPUNanoseconds: 1000, MemoryWorkingSetBytes: 100, Swap: &SwapUsage{AvailableBytes: 65536}}) {
		t.Errorf("pod2 = %+v (swap %+v), %v", u, u.Swap, err)
	}
	node, err := m.NodeUsage(filepath.Join(root, "proc"))
	used := uint64(24683664-11743360) * 1024
	if want := (Usage{CPUNanoseconds: 16041626846000, MemoryWorkingSetBytes: used - 2907807744, Swap: &SwapUsage{UsageBytes: 1024 * 1024, AvailableBytes: 2096124 * 1024}}); err != nil || !sameUsage(node, want) {
		t.Errorf("NodeUsage = %+v (swap %+v), %v; want %+v", node, node.Swap, err, want)
	}
	if _, err := m.Usage("/kubepods/gone"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cgroup that is gone: %v, want fs.ErrNotExist", err)
	}
}

func sameUsage(a, b Usage) bool {
	if a.CPUNanoseconds != b.CPUNanoseconds || a.MemoryWorkingSetBytes != b.MemoryWorkingSetBytes || (a.Swap == nil) != (b.Swap == nil) {
		return false
	}
	return a.Swap == nil || *a.Swap == *b.Swap
}
