package kubeletapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestResourceSnapshotExposition pins the text a snapshot becomes: the kubelet's families, help texts,
// types and label names (from its v1.37.2 /metrics/resource), with the read times as timestamps.
func TestResourceSnapshotExposition(t *testing.T) {
	at := time.Unix(1796319254, 411_000_000)
	started := time.Unix(1796319241, 306_009_500)
	swap := &SwapUsage{UsageBytes: 4096, AvailableBytes: 1 << 20}
	snapshot := resourceSnapshot{
		node: ResourceUsage{Time: at, CPUNanoseconds: 16038_968116042, MemoryWorkingSetBytes: 8759508992, Swap: &SwapUsage{}},
		pods: []podResources{{
			namespace: "default", name: "web-worker-1",
			usage: &ResourceUsage{Time: at.Add(-time.Second), CPUNanoseconds: 105121323, MemoryWorkingSetBytes: 987136, Swap: swap},
			containers: []containerResources{
				{name: "main", started: started, usage: ResourceUsage{Time: at, CPUNanoseconds: 83797010, MemoryWorkingSetBytes: 688128, Swap: swap}},
				// No start known (not in the status), no swap accounting: those series are left out.
				{name: "sidecar", usage: ResourceUsage{Time: at, CPUNanoseconds: 1_500_000_000, MemoryWorkingSetBytes: 4096}},
			},
		}, {
			// No pod cgroup: the containers' series only.
			namespace: "kube-system", name: "flat-worker-1",
			containers: []containerResources{{name: "c", started: started, usage: ResourceUsage{Time: at, CPUNanoseconds: 1}}},
		}},
	}
	want := `# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="c",namespace="kube-system",pod="flat-worker-1"} 1e-09 1796319254411
container_cpu_usage_seconds_total{container="main",namespace="default",pod="web-worker-1"} 0.08379701 1796319254411
container_cpu_usage_seconds_total{container="sidecar",namespace="default",pod="web-worker-1"} 1.5 1796319254411
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="c",namespace="kube-system",pod="flat-worker-1"} 0 1796319254411
container_memory_working_set_bytes{container="main",namespace="default",pod="web-worker-1"} 688128 1796319254411
container_memory_working_set_bytes{container="sidecar",namespace="default",pod="web-worker-1"} 4096 1796319254411
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="c",namespace="kube-system",pod="flat-worker-1"} 1.7963192413060095e+09
container_start_time_seconds{container="main",namespace="default",pod="web-worker-1"} 1.7963192413060095e+09
# HELP container_swap_limit_bytes [ALPHA] Current amount of the container swap limit in bytes. Reported only on non-windows systems
# TYPE container_swap_limit_bytes gauge
container_swap_limit_bytes{container="main",namespace="default",pod="web-worker-1"} 1.052672e+06 1796319254411
# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems
# TYPE container_swap_usage_bytes gauge
container_swap_usage_bytes{container="main",namespace="default",pod="web-worker-1"} 4096 1796319254411
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 16038.968116042 1796319254411
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 8.759508992e+09 1796319254411
# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems
# TYPE node_swap_usage_bytes gauge
node_swap_usage_bytes 0 1796319254411
# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace="default",pod="web-worker-1"} 0.105121323 1796319253411
# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="default",pod="web-worker-1"} 987136 1796319253411
# HELP pod_swap_usage_bytes [ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems
# TYPE pod_swap_usage_bytes gauge
pod_swap_usage_bytes{namespace="default",pod="web-worker-1"} 4096 1796319253411
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
`
	if got := expose(t, snapshot); got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}

	failed := expose(t, resourceSnapshot{failed: true, node: snapshot.node, pods: snapshot.pods})
	if want := `# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 1
`; failed != want {
		t.Errorf("a failed snapshot:\n%s\nwant only:\n%s", failed, want)
	}
}

// expose renders the snapshot as the handler's registry does, in the text format.
func expose(t *testing.T, s resourceSnapshot) string {
	t.Helper()
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(s)
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// fakeResourceStats reports fixed usages by pod name.
type fakeResourceStats struct {
	node    ResourceUsage
	nodeErr error
	pods    map[string]PodUsage
}

func (f fakeResourceStats) NodeUsage() (ResourceUsage, error) { return f.node, f.nodeErr }
func (f fakeResourceStats) PodUsage(pod *corev1.Pod) (PodUsage, error) {
	return f.pods[pod.Name], nil
}

// TestResourceMetricsRoute serves /metrics/resource from Pods and ResourceStats: a running container
// gets its start time from the pod's status, a pod without usage is left out, and without
// ResourceStats the path is 404 as before.
func TestResourceMetricsRoute(t *testing.T) {
	at := time.Unix(1796319254, 0)
	started := metav1.NewTime(time.Unix(1796319200, 0))
	running := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-n1", UID: "u1"},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}}}}
	waiting := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pulling-n1", UID: "u2"}}
	stats := fakeResourceStats{
		node: ResourceUsage{Time: at, CPUNanoseconds: 2e9, MemoryWorkingSetBytes: 1 << 30},
		pods: map[string]PodUsage{"web-n1": {
			Pod:        &ResourceUsage{Time: at, CPUNanoseconds: 3e8, MemoryWorkingSetBytes: 1 << 20},
			Containers: map[string]ResourceUsage{"main": {Time: at, CPUNanoseconds: 2e8, MemoryWorkingSetBytes: 1 << 19}},
		}},
	}
	s := &Server{log: hclog.NewNullLogger(), pods: &fakePods{pods: []*corev1.Pod{running, waiting}}, cfg: Config{ResourceStats: stats}}
	rec := httptest.NewRecorder()
	s.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/resource", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics/resource: %d %q\n%s", rec.Code, rec.Header().Get("Content-Type"), body)
	}
	for _, want := range []string{
		`container_start_time_seconds{container="main",namespace="default",pod="web-n1"} 1.7963192e+09` + "\n",
		`container_cpu_usage_seconds_total{container="main",namespace="default",pod="web-n1"} 0.2 1796319254000` + "\n",
		`pod_memory_working_set_bytes{namespace="default",pod="web-n1"} 1.048576e+06 1796319254000` + "\n",
		`node_cpu_usage_seconds_total 2 1796319254000` + "\n",
		"resource_scrape_error 0\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no line %q in\n%s", want, body)
		}
	}
	if strings.Contains(body, "pulling-n1") {
		t.Errorf("a pod without usage is reported:\n%s", body)
	}
	// A node that cannot be read: the scrape error alone, as the kubelet when its summary fails.
	s.cfg.ResourceStats = fakeResourceStats{nodeErr: errors.New("no cpuacct"), pods: stats.pods}
	rec = httptest.NewRecorder()
	s.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/resource", nil))
	if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.HasSuffix(body, "\nresource_scrape_error 1\n") || strings.Contains(body, "web-n1") {
		t.Errorf("with the node's usage failing: %d\n%s", rec.Code, body)
	}

	s.cfg.ResourceStats = nil
	rec = httptest.NewRecorder()
	s.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/resource", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("without ResourceStats: %d, want 404", rec.Code)
	}
}
