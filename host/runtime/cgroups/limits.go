package cgroups

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"

	podspec "github.com/staticlet/staticlet/host/pod"
)

// The kubelet's CFS constants.
const (
	// MinShares is the smallest cpu.shares the kubelet writes (BestEffort,
	// no request).
	MinShares = 2
	// MaxShares is the largest cpu.shares the kernel takes.
	MaxShares = 262144
	// QuotaPeriod is the CFS period in microseconds (100 ms).
	QuotaPeriod = 100000
	// MinQuota is the smallest CFS quota the kubelet writes (1 ms).
	MinQuota = 1000
)

// Limits are what one cgroup gets. A zero field is not written: the cgroup
// keeps the kernel's default (no quota, no memory or pids limit), or what
// it had when it already existed.
type Limits struct {
	// CPUShares is cgroup v1's cpu.shares (v2: cpu.weight, converted).
	CPUShares uint64
	// CPUQuota is microseconds of CPU time per CPUPeriod, over all CPUs.
	CPUQuota  int64
	CPUPeriod uint64
	// MemoryLimit is in bytes.
	MemoryLimit int64
	// PidsLimit is the most tasks the cgroup may hold.
	PidsLimit int64
}

// ForPod is the kubelet's ResourceConfigForPod plus its podPidsLimit, for a
// pod of QoS class qos (as the kubelet computes it, passed in so the caller's
// reported class and the cgroup always agree):
//
//   - requests and limits are summed over the app containers and the
//     sidecars (init containers with restartPolicy Always), and the pod
//     needs at least what each ordinary init container needs beside the
//     sidecars started before it; pod-level spec.resources (cpu, memory)
//     replace the sums when set; overhead is added to the requests and to
//     each non-zero limit;
//   - cpu shares come from the cpu request (1024 per CPU, at least 2);
//   - Guaranteed pods get the cfs quota of the cpu limit and the memory
//     limit; Burstable pods get the quota only when every container
//     (init containers too) or the pod level has a cpu limit, and the memory
//     limit only when every one has a memory limit; BestEffort pods get 2
//     shares and nothing else;
//   - pidsLimit > 0 becomes the pids limit; -1 and 0 mean unlimited.
func ForPod(pod *corev1.Pod, qos corev1.PodQOSClass, pidsLimit int64) Limits {
	requests, limits, cpuLimited, memoryLimited := podResources(pod)
	var out Limits
	switch qos {
	case corev1.PodQOSBestEffort:
		out.CPUShares = MinShares
	case corev1.PodQOSGuaranteed:
		cpuLimited, memoryLimited = true, true
		fallthrough
	default:
		out.CPUShares = MilliCPUToShares(requests.Cpu().MilliValue())
		if cpuLimited {
			out.CPUQuota, out.CPUPeriod = MilliCPUToQuota(limits.Cpu().MilliValue(), QuotaPeriod), QuotaPeriod
		}
		if memoryLimited {
			out.MemoryLimit = limits.Memory().Value()
		}
	}
	if pidsLimit > 0 {
		out.PidsLimit = pidsLimit
	}
	return out
}

// BurstableLimits is what the kubelet's QoS manager gives the burstable
// class's cgroup each time a pod comes or goes: cpu shares for the summed
// cpu requests of the Burstable pods (at least 2), so the class as a whole
// weighs what its pods asked for against Guaranteed pods.
func BurstableLimits(burstable []*corev1.Pod) Limits {
	var milli int64
	for _, p := range burstable {
		requests, _, _, _ := podResources(p)
		milli += requests.Cpu().MilliValue()
	}
	return Limits{CPUShares: MilliCPUToShares(milli)}
}

// podResources is a pod's effective requests and limits (see ForPod) and
// whether cpu and memory are limited for the whole pod.
func podResources(pod *corev1.Pod) (requests, limits corev1.ResourceList, cpuLimited, memoryLimited bool) {
	requests = podspec.AggregateResources(&pod.Spec, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests })
	limits = podspec.AggregateResources(&pod.Spec, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Limits })
	cpuLimited, memoryLimited = true, true
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Resources.Limits.Cpu().IsZero() {
				cpuLimited = false
			}
			if list[i].Resources.Limits.Memory().IsZero() {
				memoryLimited = false
			}
		}
	}
	if podLevel := pod.Spec.Resources; podLevelSet(pod) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := podLevel.Requests[name]; ok {
				requests[name] = q.DeepCopy()
			}
			if q, ok := podLevel.Limits[name]; ok {
				limits[name] = q.DeepCopy()
			}
		}
		cpuLimited = cpuLimited || !podLevel.Limits.Cpu().IsZero()
		memoryLimited = memoryLimited || !podLevel.Limits.Memory().IsZero()
	}
	for name, q := range pod.Spec.Overhead {
		sum := requests[name]
		sum.Add(q)
		requests[name] = sum
		if l, ok := limits[name]; ok && !l.IsZero() {
			l.Add(q)
			limits[name] = l
		}
	}
	return requests, limits, cpuLimited, memoryLimited
}

// QOSLimits are what the QoS-level cgroups get when made: BestEffort's holds
// 2 shares, as the kubelet sets it; burstable's shares follow its pods
// (BurstableLimits, written by the runtime as pods come and go).
func QOSLimits(qos corev1.PodQOSClass) Limits {
	if qos == corev1.PodQOSBestEffort {
		return Limits{CPUShares: MinShares}
	}
	return Limits{}
}

// podLevelSet tells a pod whose spec.resources names cpu or memory (the
// resources the kubelet manages at pod level; hugepages are not honoured).
func podLevelSet(pod *corev1.Pod) bool {
	r := pod.Spec.Resources
	if r == nil {
		return false
	}
	for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
		for name := range list {
			if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
				return true
			}
		}
	}
	return false
}

// MilliCPUToShares is the kubelet's: 1024 shares per CPU, between
// MinShares and MaxShares; no request gets MinShares.
func MilliCPUToShares(milliCPU int64) uint64 {
	shares := milliCPU * 1024 / 1000
	return uint64(min(max(shares, MinShares), MaxShares))
}

// MilliCPUToQuota is the kubelet's: the limit's share of period, at least
// MinQuota; no limit is no quota (0).
func MilliCPUToQuota(milliCPU int64, period int64) int64 {
	if milliCPU == 0 {
		return 0
	}
	return max(milliCPU*period/1000, MinQuota)
}

// SharesToWeight converts cpu.shares [2, 262144] to cgroup v2's cpu.weight
// [1, 10000] with the kubelet's (and runc 1.1's) linear formula.
func SharesToWeight(shares uint64) uint64 {
	if shares >= MaxShares {
		return 10000
	}
	shares = max(shares, MinShares)
	return 1 + (shares-2)*9999/262142
}

// Setting is one value written to one control file of a cgroup; Controller
// names the hierarchy (v1) or the controller that must be enabled for the
// file to exist (v2).
type Setting struct {
	Controller, File, Value string
}

// Settings are l's control-file writes for cgroup v1 (unified false) or v2,
// in the order they must be written (the CFS period before its quota).
func (l Limits) Settings(unified bool) []Setting {
	var out []Setting
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	if l.CPUShares > 0 {
		if unified {
			out = append(out, Setting{"cpu", "cpu.weight", strconv.FormatUint(SharesToWeight(l.CPUShares), 10)})
		} else {
			out = append(out, Setting{"cpu", "cpu.shares", strconv.FormatUint(l.CPUShares, 10)})
		}
	}
	if l.CPUQuota > 0 {
		period := l.CPUPeriod
		if period == 0 {
			period = QuotaPeriod
		}
		if unified {
			out = append(out, Setting{"cpu", "cpu.max", itoa(l.CPUQuota) + " " + strconv.FormatUint(period, 10)})
		} else {
			out = append(out, Setting{"cpu", "cpu.cfs_period_us", strconv.FormatUint(period, 10)},
				Setting{"cpu", "cpu.cfs_quota_us", itoa(l.CPUQuota)})
		}
	}
	if l.MemoryLimit > 0 {
		if unified {
			out = append(out, Setting{"memory", "memory.max", itoa(l.MemoryLimit)})
		} else {
			out = append(out, Setting{"memory", "memory.limit_in_bytes", itoa(l.MemoryLimit)})
		}
	}
	if l.PidsLimit > 0 {
		out = append(out, Setting{"pids", "pids.max", itoa(l.PidsLimit)})
	}
	return out
}
