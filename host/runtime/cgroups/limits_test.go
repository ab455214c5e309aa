package cgroups

import (
	"errors"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func res(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

// ctr is a container as the API defaults it: a limit without a request
// requests the limit.
func ctr(req, lim corev1.ResourceList) corev1.Container {
	r := corev1.ResourceList{}
	for k, v := range lim {
		r[k] = v
	}
	for k, v := range req {
		r[k] = v
	}
	if len(r) == 0 {
		r = nil
	}
	return corev1.Container{Resources: corev1.ResourceRequirements{Requests: r, Limits: lim}}
}

func sidecar(c corev1.Container) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

const mi = 1 << 20

func TestForPod(t *testing.T) {
	both := res("cpu", "500m", "memory", "64Mi")
	for _, tc := range []struct {
		name     string
		init     []corev1.Container
		apps     []corev1.Container
		podLevel *corev1.ResourceRequirements
		overhead corev1.ResourceList
		qos      corev1.PodQOSClass
		pids     int64
		want     Limits
	}{
		{name: "best effort", apps: []corev1.Container{ctr(nil, nil)}, qos: corev1.PodQOSBestEffort,
			want: Limits{CPUShares: 2}},
		{name: "best effort with pids limit", apps: []corev1.Container{ctr(nil, nil)}, qos: corev1.PodQOSBestEffort, pids: 100,
			want: Limits{CPUShares: 2, PidsLimit: 100}},
		{name: "podPidsLimit -1 is unlimited", apps: []corev1.Container{ctr(nil, nil)}, qos: corev1.PodQOSBestEffort, pids: -1,
			want: Limits{CPUShares: 2}},
		{name: "guaranteed sums two containers", apps: []corev1.Container{ctr(nil, both), ctr(nil, both)}, qos: corev1.PodQOSGuaranteed,
			want: Limits{CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000, MemoryLimit: 128 * mi}},
		{name: "burstable: one container without limits: no quota, no memory limit",
			apps: []corev1.Container{ctr(nil, both), ctr(res("cpu", "250m"), nil)}, qos: corev1.PodQOSBurstable,
			want: Limits{CPUShares: 768}},
		{name: "burstable: every container has a memory limit but not a cpu limit",
			apps: []corev1.Container{ctr(res("cpu", "100m"), res("memory", "32Mi")), ctr(nil, res("memory", "16Mi"))}, qos: corev1.PodQOSBurstable,
			want: Limits{CPUShares: 102, MemoryLimit: 48 * mi}},
		{name: "burstable: limits above requests",
			apps: []corev1.Container{ctr(res("cpu", "100m", "memory", "10Mi"), both)}, qos: corev1.PodQOSBurstable,
			want: Limits{CPUShares: 102, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 * mi}},
		{name: "tiny request: shares at least 2, quota at least 1 ms",
			apps: []corev1.Container{ctr(nil, res("cpu", "1m", "memory", "1Mi"))}, qos: corev1.PodQOSGuaranteed,
			want: Limits{CPUShares: 2, CPUQuota: 1000, CPUPeriod: 100000, MemoryLimit: mi}},
		{name: "init container larger than the apps wins",
			init: []corev1.Container{ctr(nil, res("cpu", "2", "memory", "1Gi"))},
			apps: []corev1.Container{ctr(nil, both)}, qos: corev1.PodQOSGuaranteed,
			want: Limits{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000, MemoryLimit: 1024 * mi}},
		{name: "init container smaller than the apps",
			init: []corev1.Container{ctr(nil, res("cpu", "100m", "memory", "8Mi"))},
			apps: []corev1.Container{ctr(nil, both), ctr(nil, both)}, qos: corev1.PodQOSGuaranteed,
			want: Limits{CPUShares: 1024, CPUQuota: 100000, CPUPeriod: 100000, MemoryLimit: 128 * mi}},
		{name: "sidecar adds to the apps and to later init containers",
			init: []corev1.Container{sidecar(ctr(nil, both)), ctr(nil, res("cpu", "1", "memory", "100Mi"))},
			apps: []corev1.Container{ctr(nil, both)}, qos: corev1.PodQOSGuaranteed,
			// apps+sidecar: 1 CPU, 128Mi; init beside the sidecar: 1.5 CPU, 164Mi.
			want: Limits{CPUShares: 1536, CPUQuota: 150000, CPUPeriod: 100000, MemoryLimit: 164 * mi}},
		{name: "init container without limits keeps a burstable pod unlimited",
			init: []corev1.Container{ctr(res("cpu", "100m"), nil)},
			apps: []corev1.Container{ctr(res("cpu", "100m"), both)}, qos: corev1.PodQOSBurstable,
			want: Limits{CPUShares: 102}},
		{name: "overhead adds to requests and to set limits",
			apps: []corev1.Container{ctr(nil, both)}, overhead: res("cpu", "250m", "memory", "16Mi"), qos: corev1.PodQOSGuaranteed,
			want: Limits{CPUShares: 768, CPUQuota: 75000, CPUPeriod: 100000, MemoryLimit: 80 * mi}},
		{name: "overhead does not create a limit",
			apps: []corev1.Container{ctr(res("cpu", "100m"), nil)}, overhead: res("cpu", "100m", "memory", "16Mi"), qos: corev1.PodQOSBurstable,
			want: Limits{CPUShares: 204}},
		{name: "pod-level limits override and declare the limits",
			apps:     []corev1.Container{ctr(res("cpu", "100m"), nil), ctr(nil, nil)},
			podLevel: &corev1.ResourceRequirements{Requests: res("cpu", "1"), Limits: res("cpu", "2", "memory", "256Mi")},
			qos:      corev1.PodQOSBurstable,
			want:     Limits{CPUShares: 1024, CPUQuota: 200000, CPUPeriod: 100000, MemoryLimit: 256 * mi}},
		{name: "pod-level requests only: limits still need every container's",
			apps:     []corev1.Container{ctr(res("cpu", "100m"), nil)},
			podLevel: &corev1.ResourceRequirements{Requests: res("cpu", "500m", "memory", "32Mi")},
			qos:      corev1.PodQOSBurstable,
			want:     Limits{CPUShares: 512}},
		{name: "pod-level other resources are not pod-level resources",
			apps:     []corev1.Container{ctr(nil, both)},
			podLevel: &corev1.ResourceRequirements{Limits: res("ephemeral-storage", "1Gi")},
			qos:      corev1.PodQOSGuaranteed,
			want:     Limits{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 * mi}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: tc.init, Containers: tc.apps, Resources: tc.podLevel, Overhead: tc.overhead}}
			if got := ForPod(pod, tc.qos, tc.pids); got != tc.want {
				t.Errorf("ForPod = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSharesAndQuota(t *testing.T) {
	for _, tc := range []struct {
		milli  int64
		shares uint64
		quota  int64
	}{
		{0, 2, 0}, {1, 2, 1000}, {2, 2, 1000}, {10, 10, 1000}, {100, 102, 10000}, {1000, 1024, 100000},
		{1500, 1536, 150000}, {300000, 262144, 30000000},
	} {
		if got := MilliCPUToShares(tc.milli); got != tc.shares {
			t.Errorf("MilliCPUToShares(%d) = %d, want %d", tc.milli, got, tc.shares)
		}
		if got := MilliCPUToQuota(tc.milli, QuotaPeriod); got != tc.quota {
			t.Errorf("MilliCPUToQuota(%d) = %d, want %d", tc.milli, got, tc.quota)
		}
	}
	for shares, weight := range map[uint64]uint64{0: 1, 2: 1, 102: 4, 1024: 39, 2048: 79, 262143: 9999, 262144: 10000, 1 << 20: 10000} {
		if got := SharesToWeight(shares); got != weight {
			t.Errorf("SharesToWeight(%d) = %d, want %d", shares, got, weight)
		}
	}
}

func TestSettings(t *testing.T) {
	full := Limits{CPUShares: 1024, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 * mi, PidsLimit: 42}
	for _, tc := range []struct {
		name    string
		limits  Limits
		unified bool
		want    []Setting
	}{
		{"v1", full, false, []Setting{
			{"cpu", "cpu.shares", "1024"}, {"cpu", "cpu.cfs_period_us", "100000"}, {"cpu", "cpu.cfs_quota_us", "50000"},
			{"memory", "memory.limit_in_bytes", "67108864"}, {"pids", "pids.max", "42"},
		}},
		{"v2", full, true, []Setting{
			{"cpu", "cpu.weight", "39"}, {"cpu", "cpu.max", "50000 100000"},
			{"memory", "memory.max", "67108864"}, {"pids", "pids.max", "42"},
		}},
		{"v2 best effort", Limits{CPUShares: 2}, true, []Setting{{"cpu", "cpu.weight", "1"}}},
		{"nothing", Limits{}, false, nil},
	} {
		if got := tc.limits.Settings(tc.unified); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLayout(t *testing.T) {
	const uid = "6f1c-42"
	for _, tc := range []struct {
		name   string
		layout Layout
		qos    corev1.PodQOSClass
		pod    string
		qosAt  []string
		parent string
	}{
		{"guaranteed", Layout{}, corev1.PodQOSGuaranteed, "/kubepods/pod6f1c-42", []string{"/kubepods"}, "/kubepods/pod6f1c-42"},
		{"burstable", Layout{Root: "/"}, corev1.PodQOSBurstable, "/kubepods/burstable/pod6f1c-42",
			[]string{"/kubepods", "/kubepods/burstable"}, "/kubepods/burstable/pod6f1c-42"},
		{"besteffort under a root", Layout{Root: "/staticlet/"}, corev1.PodQOSBestEffort, "/staticlet/kubepods/besteffort/pod6f1c-42",
			[]string{"/staticlet/kubepods", "/staticlet/kubepods/besteffort"}, "/staticlet/kubepods/besteffort/pod6f1c-42"},
		{"systemd burstable", Layout{SystemdNames: true}, corev1.PodQOSBurstable,
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f1c_42.slice",
			[]string{"/kubepods.slice", "/kubepods.slice/kubepods-burstable.slice"},
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f1c_42.slice"},
		{"systemd guaranteed under a root", Layout{Root: "/node-a", SystemdNames: true}, corev1.PodQOSGuaranteed,
			"/node_a.slice/node_a-kubepods.slice/node_a-kubepods-pod6f1c_42.slice",
			[]string{"/node_a.slice/node_a-kubepods.slice"},
			"/node_a.slice/node_a-kubepods.slice/node_a-kubepods-pod6f1c_42.slice"},
		{"flat", Layout{Root: "/pods", Flat: true}, corev1.PodQOSBurstable, "", nil, "/pods"},
		{"flat at the root", Layout{Flat: true}, corev1.PodQOSBurstable, "", nil, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.layout
			if got := l.PodPath(uid, tc.qos); got != tc.pod {
				t.Errorf("PodPath = %q, want %q", got, tc.pod)
			}
			if got := l.QOSPaths(tc.qos); !reflect.DeepEqual(got, tc.qosAt) {
				t.Errorf("QOSPaths = %q, want %q", got, tc.qosAt)
			}
			if got := l.ContainerParent(uid, tc.qos); got != tc.parent {
				t.Errorf("ContainerParent = %q, want %q", got, tc.parent)
			}
			if got := ContainerPath(l.ContainerParent(uid, tc.qos), "c1"); got != tc.parent+"/c1" && !(tc.parent == "/" && got == "/c1") {
				t.Errorf("ContainerPath = %q", got)
			}
			if all := l.AllPodPaths(uid); tc.pod != "" && len(all) != 3 {
				t.Errorf("AllPodPaths = %q", all)
			}
		})
	}
}

func TestFromMountinfo(t *testing.T) {
	v1 := `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime shared:9 - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
41 22 0:38 / /mnt/other rw - cgroup cgroup rw,blkio
`
	m, err := fromMountinfo([]byte(v1), "/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids", "name=systemd": "/sys/fs/cgroup/systemd"}
	if m.Unified() || !reflect.DeepEqual(m.hierarchies, want) {
		t.Errorf("hybrid host: unified %v, hierarchies %v, want v1 %v", m.Unified(), m.hierarchies, want)
	}
	if got := m.mounts(); len(got) != 4 {
		t.Errorf("mounts = %q, want the 4 distinct folders", got)
	}
	v2 := "25 22 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
	if m, err := fromMountinfo([]byte(v2), "/sys/fs/cgroup"); err != nil || !m.Unified() {
		t.Errorf("v2 host: %v, %v", m, err)
	}
	if _, err := fromMountinfo([]byte("22 1 0:5 / / rw - ext4 /dev/sda rw\n"), "/sys/fs/cgroup"); !errors.Is(err, ErrNoCgroups) {
		t.Errorf("no cgroups: %v, want ErrNoCgroups", err)
	}
}

func TestBurstableLimits(t *testing.T) {
	withOverhead := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{ctr(res("cpu", "250m"), nil)}, Overhead: res("cpu", "50m")}}
	plain := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{ctr(res("cpu", "100m"), res("cpu", "1"))}}}
	if got := BurstableLimits([]*corev1.Pod{withOverhead, plain}); got != (Limits{CPUShares: 409}) {
		t.Errorf("two pods (400m with overhead) = %+v, want 409 shares", got)
	}
	if got := BurstableLimits(nil); got != (Limits{CPUShares: MinShares}) {
		t.Errorf("no pods = %+v, want the minimum", got)
	}
}
