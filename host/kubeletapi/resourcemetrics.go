package kubeletapi

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
)

// ResourceStats reads what the node and its pods use, for /metrics/resource.
type ResourceStats interface {
	// NodeUsage is the node's usage now.
	NodeUsage() (ResourceUsage, error)
	// PodUsage is the usage of a pod from Pods() and of its running containers, by name. A pod the
	// runtime runs no container of has none: a zero PodUsage and no error.
	PodUsage(pod *corev1.Pod) (PodUsage, error)
}

// ResourceUsage is what a node, pod or container has used, read at Time.
type ResourceUsage struct {
	Time time.Time
	// CPUNanoseconds is the cumulative CPU time, in core-nanoseconds.
	CPUNanoseconds uint64
	// MemoryWorkingSetBytes is the memory in use minus the inactive file cache.
	MemoryWorkingSetBytes uint64
	// Swap is nil where swap is not accounted.
	Swap *SwapUsage
}

// SwapUsage is the swap in use and the swap still available (0 when unlimited or unknown).
type SwapUsage struct {
	UsageBytes, AvailableBytes uint64
}

// PodUsage is a pod's usage: Pod is nil when the pod's own cgroup cannot be read (no pod cgroups).
type PodUsage struct {
	Pod        *ResourceUsage
	Containers map[string]ResourceUsage
}

// resourceSnapshot is everything one scrape of /metrics/resource reports.
type resourceSnapshot struct {
	// failed is set when the node's usage could not be read: then nothing else is reported, as the
	// kubelet reports nothing but its scrape error when its summary fails.
	failed bool
	node   ResourceUsage
	pods   []podResources
}

type podResources struct {
	namespace, name string
	usage           *ResourceUsage
	containers      []containerResources
}

type containerResources struct {
	name string
	// started is the running container's start, zero when unknown.
	started time.Time
	usage   ResourceUsage
}

// The kubelet's resource metrics (its collector's names, help texts with the stability prefix its
// registry adds, and label names). The kubelet hides scrape_error (deprecated in 1.29), so it is not
// served either.
var (
	containerLabels = []string{"container", "pod", "namespace"}
	podLabels       = []string{"pod", "namespace"}

	nodeCPUDesc, nodeMemoryDesc           = usageDescs("node", nil)
	containerCPUDesc, containerMemoryDesc = usageDescs("container", containerLabels)
	podCPUDesc, podMemoryDesc             = usageDescs("pod", podLabels)

	nodeSwapDesc = prometheus.NewDesc("node_swap_usage_bytes",
		"[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems", nil, nil)
	containerSwapDesc      = swapDesc("container", "usage", containerLabels)
	containerSwapLimitDesc = swapDesc("container", "limit", containerLabels)
	podSwapDesc            = swapDesc("pod", "usage", podLabels)
	containerStartDesc     = prometheus.NewDesc("container_start_time_seconds",
		"[STABLE] Start time of the container since unix epoch in seconds", containerLabels, nil)
	scrapeErrorDesc = prometheus.NewDesc("resource_scrape_error",
		"[STABLE] 1 if there was an error while getting container metrics, 0 otherwise", nil, nil)
)

// swapDesc is a container's or pod's swap family (the node's is worded apart).
func swapDesc(scope, what string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc(scope+"_swap_"+what+"_bytes",
		"[ALPHA] Current amount of the "+scope+" swap "+what+" in bytes. Reported only on non-windows systems", labels, nil)
}

// usageDescs are the CPU and working set families of a scope (node, container, pod), named and
// described alike by the kubelet.
func usageDescs(scope string, labels []string) (cpu, memory *prometheus.Desc) {
	return prometheus.NewDesc(scope+"_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the "+scope+" in core-seconds", labels, nil),
		prometheus.NewDesc(scope+"_memory_working_set_bytes", "[STABLE] Current working set of the "+scope+" in bytes", labels, nil)
}

// Describe implements prometheus.Collector.
func (s resourceSnapshot) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeCPUDesc, nodeMemoryDesc, nodeSwapDesc, containerStartDesc, containerCPUDesc,
		containerMemoryDesc, containerSwapDesc, containerSwapLimitDesc, podCPUDesc, podMemoryDesc, podSwapDesc, scrapeErrorDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the snapshot as the kubelet's collector reports a summary,
// each usage stamped with the time it was read (metrics-server computes rates from these stamps).
func (s resourceSnapshot) Collect(ch chan<- prometheus.Metric) {
	if s.failed {
		ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 1)
		return
	}
	stamped := func(at time.Time, desc *prometheus.Desc, kind prometheus.ValueType, value float64, labels ...string) {
		ch <- prometheus.NewMetricWithTimestamp(at, prometheus.MustNewConstMetric(desc, kind, value, labels...))
	}
	n := s.node
	stamped(n.Time, nodeCPUDesc, prometheus.CounterValue, seconds(n.CPUNanoseconds))
	stamped(n.Time, nodeMemoryDesc, prometheus.GaugeValue, float64(n.MemoryWorkingSetBytes))
	if n.Swap != nil {
		stamped(n.Time, nodeSwapDesc, prometheus.GaugeValue, float64(n.Swap.UsageBytes))
	}
	for _, p := range s.pods {
		for _, c := range p.containers {
			if !c.started.IsZero() && c.started.Unix() > 0 {
				ch <- prometheus.MustNewConstMetric(containerStartDesc, prometheus.GaugeValue,
					float64(c.started.UnixNano())/float64(time.Second), c.name, p.name, p.namespace)
			}
			u := c.usage
			stamped(u.Time, containerCPUDesc, prometheus.CounterValue, seconds(u.CPUNanoseconds), c.name, p.name, p.namespace)
			stamped(u.Time, containerMemoryDesc, prometheus.GaugeValue, float64(u.MemoryWorkingSetBytes), c.name, p.name, p.namespace)
			if u.Swap != nil {
				stamped(u.Time, containerSwapDesc, prometheus.GaugeValue, float64(u.Swap.UsageBytes), c.name, p.name, p.namespace)
				stamped(u.Time, containerSwapLimitDesc, prometheus.GaugeValue, float64(u.Swap.UsageBytes+u.Swap.AvailableBytes), c.name, p.name, p.namespace)
			}
		}
		if u := p.usage; u != nil {
			stamped(u.Time, podCPUDesc, prometheus.CounterValue, seconds(u.CPUNanoseconds), p.name, p.namespace)
			stamped(u.Time, podMemoryDesc, prometheus.GaugeValue, float64(u.MemoryWorkingSetBytes), p.name, p.namespace)
			if u.Swap != nil {
				stamped(u.Time, podSwapDesc, prometheus.GaugeValue, float64(u.Swap.UsageBytes), p.name, p.namespace)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 0)
}

func seconds(nanoseconds uint64) float64 { return float64(nanoseconds) / float64(time.Second) }

// podResourcesOf pairs a pod's usage with the names and start times its status gives. Containers the
// runtime reports but the status does not name are still reported, without a start time.
func podResourcesOf(pod *corev1.Pod, usage PodUsage) podResources {
	out := podResources{namespace: pod.Namespace, name: pod.Name, usage: usage.Pod}
	for name, u := range usage.Containers {
		c := containerResources{name: name, usage: u}
		if st, ok := containerStatus(pod, name); ok && st.State.Running != nil {
			c.started = st.State.Running.StartedAt.Time
		}
		out.containers = append(out.containers, c)
	}
	return out
}

// getResourceMetrics serves /metrics/resource: the node's, its pods' and their running containers'
// CPU and memory in the kubelet's Prometheus families. A pod whose usage cannot be read is left out
// (and logged); a node whose usage cannot be read gives resource_scrape_error 1 alone.
func (s *Server) getResourceMetrics(w http.ResponseWriter, r *http.Request) {
	snapshot := resourceSnapshot{}
	node, err := s.cfg.ResourceStats.NodeUsage()
	if err != nil {
		s.log.Error("kubelet API: resource metrics: reading the node's usage", "error", err)
		snapshot.failed = true
	} else {
		snapshot.node = node
		for _, pod := range s.pods.Pods() {
			usage, err := s.cfg.ResourceStats.PodUsage(pod)
			if err != nil {
				s.log.Warn("kubelet API: resource metrics: reading a pod's usage", "pod", podFullName(pod), "error", err)
				continue
			}
			if usage.Pod != nil || len(usage.Containers) > 0 {
				snapshot.pods = append(snapshot.pods, podResourcesOf(pod, usage))
			}
		}
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(snapshot)
	promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}
