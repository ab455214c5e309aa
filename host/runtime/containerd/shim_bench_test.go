package containerd_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/runtime/containerd"
)

// rssKiB is a process's resident memory from /proc/<pid>/status.
func rssKiB(pid int) int64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkShimGrouping compares one runc shim per pod (staticlet's way,
// the CRI plugin's) with one per container, in the same run, on a pod of
// two init containers (`true`) and a `sleep` app container: the time from
// StartPod to the app running (p50 over the trials, interleaved), and the
// shims' resident memory while it runs.
func BenchmarkShimGrouping(b *testing.B) {
	e := newEnv(b)
	rt := newRuntime(b, e.options(b))
	mk := func(name string, args ...string) corev1.Container {
		return corev1.Container{Name: name, Image: e.image, Args: args, ImagePullPolicy: corev1.PullIfNotPresent}
	}
	const trials = 10
	for n := 0; n < b.N; n++ {
		took := map[bool][]time.Duration{}
		rss := map[bool]int64{}
		for i := -1; i < trials; i++ { // trial -1 warms caches up
			for _, perPod := range []bool{true, false} {
				restore := containerd.SetShimPerPod(perPod)
				p := pod("shim-bench-node1", types.UID(fmt.Sprintf("uid-shim-bench-%d-%d-%v", n, i, perPod)), corev1.RestartPolicyAlways,
					mk("app", "sleep", "600"))
				p.Spec.InitContainers = []corev1.Container{mk("init-1", "true"), mk("init-2", "true")}
				begin := time.Now()
				if err := rt.StartPod(b.Context(), p); err != nil {
					b.Fatal(err)
				}
				waitContainer(b, rt, p.UID, "app", 30*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
				elapsed := time.Since(begin)
				restore()
				var kib int64
				for _, pid := range shimPids(e.namespace) {
					kib += rssKiB(pid)
				}
				if err := rt.StopPod(b.Context(), p.UID, 0); err != nil {
					b.Fatal(err)
				}
				if i >= 0 {
					took[perPod] = append(took[perPod], elapsed)
					rss[perPod] = max(rss[perPod], kib)
				}
			}
		}
		b.ReportMetric(ms(percentile(took[true], 0.5)), "per-pod-p50-ms")
		b.ReportMetric(ms(percentile(took[false], 0.5)), "per-container-p50-ms")
		b.ReportMetric(float64(rss[true])/1024, "per-pod-shim-MiB")
		b.ReportMetric(float64(rss[false])/1024, "per-container-shim-MiB")
		b.ReportMetric(float64(percentile(took[true], 0.5))/float64(percentile(took[false], 0.5)), "p50-ratio")
		b.ReportMetric(float64(rss[true])/float64(rss[false]), "shim-memory-ratio")
	}
}
