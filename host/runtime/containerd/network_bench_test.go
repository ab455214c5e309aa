package containerd_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/internal/cnitest"
)

// BenchmarkPodStartCNI measures, over benchTrials trials per mode in the
// same run, StartPod until the pod's container runs, for a pod on the
// bridge + host-local + portmap chain (one hostPort) against the same pod
// with loopback only (a runtime without CNI). The stop is not timed. Run
// with -benchtime 1x.
func BenchmarkPodStartCNI(b *testing.B) {
	netw := cnitest.New(b, cniOctet)
	plainEnv, cniEnv := newEnv(b), newEnv(b)
	plain := newRuntime(b, plainEnv.options(b))
	opts := cniEnv.options(b)
	opts.Network.CNIConfDir, opts.Network.CNIBinDirs, opts.Network.CNICacheDir = netw.ConfDir, cnitest.BinDirs, netw.CacheDir
	withCNI := newRuntime(b, opts)
	ctx := b.Context()
	startStop := func(image string, uid types.UID, cni bool) time.Duration {
		p := pod("bench-"+string(uid), uid, corev1.RestartPolicyAlways, corev1.Container{
			Name: "sleep", Image: image, Command: []string{"sleep", "3600"},
			Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: int32(31000 + len(uid))}},
		})
		rt := plain
		if cni {
			rt = withCNI
		}
		begin := time.Now()
		if err := rt.StartPod(ctx, p); err != nil {
			b.Fatal(err)
		}
		took := time.Since(begin)
		if st, _ := rt.PodStatus(uid); len(st.ContainerStatuses) != 1 || st.ContainerStatuses[0].State.Running == nil || (cni && st.PodIP == "") {
			b.Fatalf("pod %s not running (with CNI: %v): %+v", uid, cni, st)
		}
		if err := rt.StopPod(ctx, uid, 0); err != nil {
			b.Fatal(err)
		}
		return took
	}
	for n := 0; n < b.N; n++ {
		var loopback, bridge []time.Duration
		for i := -1; i < benchTrials; i++ { // trial -1 warms caches up
			l := startStop(plainEnv.image, types.UID(fmt.Sprintf("uid-lo-%d-%d", n, i+1)), false)
			c := startStop(cniEnv.image, types.UID(fmt.Sprintf("uid-cni-%d-%d", n, i+1)), true)
			if i >= 0 {
				loopback, bridge = append(loopback, l), append(bridge, c)
			}
		}
		b.ReportMetric(ms(percentile(loopback, 0.5)), "loopback-p50-ms")
		b.ReportMetric(ms(percentile(bridge, 0.5)), "cni-p50-ms")
		b.ReportMetric(ms(percentile(bridge, 0.95)), "cni-p95-ms")
		b.ReportMetric(float64(percentile(bridge, 0.5))/float64(percentile(loopback, 0.5)), "p50-ratio")
		b.ReportMetric(ms(percentile(bridge, 0.5)-percentile(loopback, 0.5)), "cni-cost-p50-ms")
	}
}
