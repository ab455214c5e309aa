package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Usage is what a cgroup has used, as cAdvisor reads it for the kubelet's
// resource metrics.
type Usage struct {
	// CPUNanoseconds is the cumulative CPU time of the cgroup's tasks.
	CPUNanoseconds uint64
	// MemoryWorkingSetBytes is the memory in use minus the inactive file
	// cache (which the kernel reclaims first), at least zero: cAdvisor's
	// working set, what the kubelet evicts on.
	MemoryWorkingSetBytes uint64
	// Swap is nil where swap is not accounted (v1 without memsw files).
	Swap *SwapUsage
}

// SwapUsage is a cgroup's swap use and the swap it may still use.
type SwapUsage struct {
	UsageBytes uint64
	// AvailableBytes is the swap limit minus the usage; 0 when the limit is
	// unlimited (or below the usage), as containerd's CRI reports it.
	AvailableBytes uint64
}

// unlimitedV1 is the smallest value v1 limit files hold when unlimited
// (PAGE_COUNTER_MAX rounded to pages; the exact value depends on the page
// size).
const unlimitedV1 = 1 << 62

// Usage reads the cgroup's CPU time, memory working set and swap: on v1
// cpuacct.usage, memory.usage_in_bytes, memory.stat's total_inactive_file
// and the memory.memsw files; on v2 cpu.stat's usage_usec, memory.current,
// memory.stat's inactive_file and memory.swap.current/max. A cgroup that is
// gone reads as an error wrapping fs.ErrNotExist.
func (m *Manager) Usage(cgroup string) (Usage, error) {
	var u Usage
	var err error
	if m.Unified() {
		u, err = usageV2(filepath.Join(m.unified, cgroup))
	} else {
		u, err = m.usageV1(cgroup)
	}
	if err != nil {
		return Usage{}, fmt.Errorf("usage of cgroup %s: %w", cgroup, err)
	}
	return u, nil
}

func (m *Manager) usageV1(cgroup string) (Usage, error) {
	cpuMount, ok := m.hierarchies["cpuacct"]
	if !ok {
		return Usage{}, fmt.Errorf("%w: cpuacct is not mounted", ErrControllerMissing)
	}
	memMount, ok := m.hierarchies["memory"]
	if !ok {
		return Usage{}, fmt.Errorf("%w: memory is not mounted", ErrControllerMissing)
	}
	var u Usage
	var err error
	if u.CPUNanoseconds, err = readUint(filepath.Join(cpuMount, cgroup, "cpuacct.usage")); err != nil {
		return Usage{}, err
	}
	mem := filepath.Join(memMount, cgroup)
	usage, err := readUint(filepath.Join(mem, "memory.usage_in_bytes"))
	if err != nil {
		return Usage{}, err
	}
	if u.MemoryWorkingSetBytes, err = workingSet(mem, usage, "total_inactive_file"); err != nil {
		return Usage{}, err
	}
	memsw, err := readUint(filepath.Join(mem, "memory.memsw.usage_in_bytes"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return u, nil // no swap accounting (swapaccount=0)
	case err != nil:
		return Usage{}, err
	}
	swapLimit, err := readUint(filepath.Join(mem, "memory.memsw.limit_in_bytes"))
	if err != nil {
		return Usage{}, err
	}
	// memsw counts memory and swap together.
	swap := SwapUsage{UsageBytes: subtractFloor(memsw, usage)}
	if swapLimit < unlimitedV1 {
		swap.AvailableBytes = subtractFloor(swapLimit, memsw)
	}
	u.Swap = &swap
	return u, nil
}

func usageV2(dir string) (Usage, error) {
	cpu, err := cpuNanosecondsV2(dir)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{CPUNanoseconds: cpu}
	current, err := readUint(filepath.Join(dir, "memory.current"))
	if err != nil {
		return Usage{}, err
	}
	if u.MemoryWorkingSetBytes, err = workingSet(dir, current, "inactive_file"); err != nil {
		return Usage{}, err
	}
	swap, err := readUint(filepath.Join(dir, "memory.swap.current"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return u, nil
	case err != nil:
		return Usage{}, err
	}
	u.Swap = &SwapUsage{UsageBytes: swap}
	if max, err := readUint(filepath.Join(dir, "memory.swap.max")); err == nil {
		u.Swap.AvailableBytes = subtractFloor(max, swap)
	} else if !errors.Is(err, errUnlimited) && !errors.Is(err, fs.ErrNotExist) {
		return Usage{}, err
	}
	return u, nil
}

// NodeUsage reads the node's CPU time and memory working set as the
// kubelet's summary reads its root cgroup: on v1 the root's cpuacct.usage and
// memory files; on v2, where the root cgroup has no memory.current, memory in
// use is /proc/meminfo's MemTotal minus MemFree (as runc reads the root), and
// CPU time the root's cpu.stat. Swap is the node's (meminfo's SwapTotal minus
// SwapFree). proc is /proc, or a test's folder.
func (m *Manager) NodeUsage(proc string) (Usage, error) {
	meminfo, err := readMeminfo(filepath.Join(proc, "meminfo"))
	if err != nil {
		return Usage{}, fmt.Errorf("node usage: %w", err)
	}
	var u Usage
	if m.Unified() {
		u, err = nodeUsageV2(m.unified, meminfo)
	} else {
		u, err = m.usageV1("/")
	}
	if err != nil {
		return Usage{}, fmt.Errorf("node usage: %w", err)
	}
	total, free := meminfo["SwapTotal"], meminfo["SwapFree"]
	u.Swap = &SwapUsage{UsageBytes: subtractFloor(total, free), AvailableBytes: free}
	return u, nil
}

func nodeUsageV2(root string, meminfo map[string]uint64) (Usage, error) {
	cpu, err := cpuNanosecondsV2(root)
	if err != nil {
		return Usage{}, err
	}
	ws, err := workingSet(root, subtractFloor(meminfo["MemTotal"], meminfo["MemFree"]), "inactive_file")
	if err != nil {
		return Usage{}, err
	}
	return Usage{CPUNanoseconds: cpu, MemoryWorkingSetBytes: ws}, nil
}

// cpuNanosecondsV2 reads cpu.stat's usage_usec in nanoseconds.
func cpuNanosecondsV2(dir string) (uint64, error) {
	cpu, err := readKeyed(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	usec, ok := cpu["usage_usec"]
	if !ok {
		return 0, fmt.Errorf("cpu.stat: no usage_usec")
	}
	return usec * 1000, nil
}

// workingSet is cAdvisor's: usage minus the inactive file pages memory.stat in dir counts under
// inactiveKey, never below 0.
func workingSet(dir string, usage uint64, inactiveKey string) (uint64, error) {
	stat, err := readKeyed(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, err
	}
	return subtractFloor(usage, stat[inactiveKey]), nil
}

func subtractFloor(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// errUnlimited is a v2 limit file's "max".
var errUnlimited = errors.New("unlimited")

// readUint reads a control file holding one number ("max" is errUnlimited).
func readUint(file string) (uint64, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, fmt.Errorf("%s: %w", filepath.Base(file), errUnlimited)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	return v, nil
}

// readKeyed reads a "key value" per line file (memory.stat, cpu.stat).
func readKeyed(file string) (map[string]uint64, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return parseKeyed(string(data), filepath.Base(file))
}

func parseKeyed(text, name string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for line := range strings.Lines(text) {
		key, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, key, err)
		}
		out[key] = v
	}
	return out, nil
}

// readMeminfo reads /proc/meminfo's fields in bytes.
func readMeminfo(file string) (map[string]uint64, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	out := map[string]uint64{}
	for line := range strings.Lines(string(data)) {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("meminfo: %s: %w", key, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		out[key] = v
	}
	return out, nil
}
