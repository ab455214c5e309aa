package mirror_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// The figures in docs/benchmarks.md (## Mirror pods) come from these benchmarks, against the real
// kube-apiserver with staticlet under node credentials and the fake runtime:
//
//	STATICLET_REQUIRE_INTEGRATION=1 go test -run '^$' -bench 'Mirror' -benchtime 20x ./host/mirror
//
// Each reports p50 and p95 in milliseconds; BenchmarkMirrorBaselineCreate is one pod create round trip
// through the same API server, the baseline the others are compared with.

func percentiles(b *testing.B, samples []time.Duration) {
	b.Helper()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	at := func(q float64) float64 {
		return float64(samples[min(len(samples)-1, int(q*float64(len(samples))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
	b.ReportMetric(0, "ns/op")
}

// watchPod watches one pod by name as admin.
func watchPod(b *testing.B, s *stack, name string) watch.Interface {
	b.Helper()
	w, err := s.admin.CoreV1().Pods("default").Watch(context.Background(), metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// awaitNew waits for a live pod other than old to be added, and returns it.
func awaitNew(b *testing.B, w watch.Interface, old types.UID) *corev1.Pod {
	b.Helper()
	timeout := time.After(converge)
	for {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Error {
				b.Fatalf("watch: %v", ev.Object)
			}
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted && p.UID != old && p.DeletionTimestamp == nil {
				return p
			}
		case <-timeout:
			b.Fatalf("no new mirror within %s", converge)
		}
	}
}

func benchmarkRecreate(b *testing.B, grace *int64) {
	s := startStack(b, stackOptions{registerNode: true, files: map[string]string{"static.yaml": manifest("bench", "busybox:1")}})
	name := "bench-" + s.node
	cur := s.waitPod(name, converge, "Running", runningReady)
	starts := runtimeStarts(s.rt)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		w := watchPod(b, s, name)
		begin := time.Now()
		if err := s.admin.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: grace}); err != nil {
			b.Fatal(err)
		}
		cur = awaitNew(b, w, cur.UID)
		samples = append(samples, time.Since(begin))
		w.Stop()
	}
	b.StopTimer()
	percentiles(b, samples)
	if runtimeStarts(s.rt) != starts || runtimeStops(s.rt) != 0 {
		b.Errorf("mirror deletions touched the runtime")
	}
}

// BenchmarkMirrorRecreateDefaultGrace: `kubectl delete pod` (default grace period, the API server only sets
// deletionTimestamp) until the new mirror exists.
func BenchmarkMirrorRecreateDefaultGrace(b *testing.B) { benchmarkRecreate(b, nil) }

// BenchmarkMirrorRecreateGrace0: `kubectl delete pod --grace-period=0 --force` until the new mirror exists.
func BenchmarkMirrorRecreateGrace0(b *testing.B) {
	zero := int64(0)
	benchmarkRecreate(b, &zero)
}

// BenchmarkMirrorFileDropToReady: a manifest renamed into the folder until its mirror is Running with
// Ready=true (fake runtime: the pod "starts" at once, so this is staticlet's own path).
func BenchmarkMirrorFileDropToReady(b *testing.B) {
	s := startStack(b, stackOptions{registerNode: true})
	s.write("warmup.yaml", manifest("warmup", "busybox:1"))
	s.waitPod("warmup-"+s.node, converge, "Running", runningReady)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("drop%d", i)
		w := watchPod(b, s, name+"-"+s.node)
		begin := time.Now()
		s.write(name+".yaml", manifest(name, "busybox:1"))
		timeout := time.After(converge)
	wait:
		for {
			select {
			case ev := <-w.ResultChan():
				if p, ok := ev.Object.(*corev1.Pod); ok && runningReady(p) {
					break wait
				}
			case <-timeout:
				b.Fatalf("%s: no Ready mirror within %s", name, converge)
			}
		}
		samples = append(samples, time.Since(begin))
		w.Stop()
		s.remove(name + ".yaml")
	}
	b.StopTimer()
	percentiles(b, samples)
}

// BenchmarkMirrorBaselineCreate is the baseline: one pod create through the same API server, as admin.
func BenchmarkMirrorBaselineCreate(b *testing.B) {
	s := startStack(b, stackOptions{registerNode: true})
	ensureServiceAccount(b, s.admin)
	samples := make([]time.Duration, 0, b.N)
	zero := int64(0)
	b.ResetTimer()
	for i := range b.N {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("baseline-%d", i), Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "worker-2", Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}}
		begin := time.Now()
		if _, err := s.admin.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(begin))
		_ = s.admin.CoreV1().Pods("default").Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}
	b.StopTimer()
	percentiles(b, samples)
}
