// Package metrics owns staticlet's Prometheus metrics and its health
// endpoints: /metrics, /healthz and /readyz on one HTTP server. Components
// record into a Metrics value through small methods; the pod and manifest
// gauges are read from the agent's status at scrape time, so the agent loop
// pays nothing between scrapes. IO: the HTTP listener only.
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/staticlet/staticlet/host/agent"
)

const namespace = "staticlet"

// Metrics holds every metric staticlet exports.
type Metrics struct {
	Registry *prometheus.Registry

	sourceEvents      *prometheus.CounterVec
	relistDuration    *prometheus.HistogramVec
	reconcileDuration prometheus.Histogram
	pluginCalls       *prometheus.CounterVec
	pluginDuration    *prometheus.HistogramVec
	mirrorCalls       *prometheus.CounterVec
	kubeletRequests   *prometheus.CounterVec
	kubeletDuration   *prometheus.HistogramVec
}

// StatusSource is where scrape-time gauges come from (the agent).
type StatusSource interface {
	Status(ctx context.Context) (agent.Status, error)
}

// New registers every metric, the Go runtime and process collectors, and a
// collector reading status from src at scrape time.
func New(src StatusSource) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		sourceEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "source_events_total",
			Help: "Manifest source events: filesystem events, relists and errors, by source and kind.",
		}, []string{"source", "kind"}),
		relistDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "source_relist_duration_seconds",
			Help:    "Time to list a source completely (folder scan or URL fetch).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"source"}),
		reconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "reconcile_duration_seconds",
			Help:    "Time of one reconcile pass: desired set, plan and dispatch (not the actions themselves).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18),
		}),
		pluginCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "plugin_calls_total",
			Help: "Plugin calls by plugin, operation and outcome (ok, denied, error, timeout, quarantined).",
		}, []string{"plugin", "operation", "outcome"}),
		pluginDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "plugin_call_duration_seconds",
			Help:    "Latency of one plugin call, by plugin and operation.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 18),
		}, []string{"plugin", "operation"}),
		mirrorCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "mirror_api_calls_total",
			Help: "API server calls made for mirror pods and the node, by verb and outcome (ok, error).",
		}, []string{"verb", "outcome"}),
		kubeletRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "kubelet_api_requests_total",
			Help: "Requests to the kubelet API by route (healthz, pods, metrics/resource, containerLogs, exec, attach, portForward, run, other) and HTTP status code.",
		}, []string{"route", "code"}),
		kubeletDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "kubelet_api_request_duration_seconds",
			Help:    "Time from a kubelet API request to its end, by route and whether it streams (exec, attach, portForward, a followed log: the session's length).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12),
		}, []string{"route", "long_running"}),
	}
	reg.MustRegister(m.sourceEvents, m.relistDuration, m.reconcileDuration, m.pluginCalls, m.pluginDuration, m.mirrorCalls,
		m.kubeletRequests, m.kubeletDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src != nil {
		reg.MustRegister(&statusCollector{src: src})
	}
	return m
}

// CountSourceEvent counts one source event (kind: "event", "relist", "error").
func (m *Metrics) CountSourceEvent(source, kind string) {
	m.sourceEvents.WithLabelValues(source, kind).Inc()
}

// ObserveRelist records a complete listing's duration.
func (m *Metrics) ObserveRelist(source string, d time.Duration) {
	m.relistDuration.WithLabelValues(source).Observe(d.Seconds())
}

// ObserveReconcile records one reconcile pass.
func (m *Metrics) ObserveReconcile(d time.Duration) { m.reconcileDuration.Observe(d.Seconds()) }

// ObservePluginCall records one plugin call.
func (m *Metrics) ObservePluginCall(plugin, operation, outcome string, d time.Duration) {
	m.pluginCalls.WithLabelValues(plugin, operation, outcome).Inc()
	m.pluginDuration.WithLabelValues(plugin, operation).Observe(d.Seconds())
}

// CountMirrorCall counts one API server call.
func (m *Metrics) CountMirrorCall(verb, outcome string) {
	m.mirrorCalls.WithLabelValues(verb, outcome).Inc()
}

// ObserveKubeletRequest records one kubelet API request that has ended.
func (m *Metrics) ObserveKubeletRequest(route string, code int, longRunning bool, d time.Duration) {
	m.kubeletRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.kubeletDuration.WithLabelValues(route, strconv.FormatBool(longRunning)).Observe(d.Seconds())
}

// statusCollector turns the agent's status into gauges at scrape time.
type statusCollector struct{ src StatusSource }

var (
	manifestsDesc = prometheus.NewDesc(namespace+"_manifests", "Manifests by verdict (accepted, rejected, ignored).", []string{"verdict"}, nil)
	podsDesc      = prometheus.NewDesc(namespace+"_pods", "Static pods by phase (Kubernetes phase when running, else the agent's).", []string{"phase"}, nil)
	restartsDesc  = prometheus.NewDesc(namespace+"_container_restarts_total", "Container restarts of static pods.", []string{"namespace", "pod", "container"}, nil)
	staleDesc     = prometheus.NewDesc(namespace+"_manifests_stale", "Files whose current content is rejected while their last good version keeps running.", nil, nil)
	syncedDesc    = prometheus.NewDesc(namespace+"_synced", "1 once every source listed completely and running pods were adopted.", nil, nil)
)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{manifestsDesc, podsDesc, restartsDesc, staleDesc, syncedDesc} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.src.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(podsDesc, err)
		return
	}
	for verdict, n := range st.Verdicts() {
		ch <- prometheus.MustNewConstMetric(manifestsDesc, prometheus.GaugeValue, float64(n), string(verdict))
	}
	stale := 0
	for _, f := range st.Files {
		if f.Stale {
			stale++
		}
	}
	ch <- prometheus.MustNewConstMetric(staleDesc, prometheus.GaugeValue, float64(stale))
	phases := map[string]int{}
	for _, p := range st.Pods {
		phase := p.Phase
		if p.Runtime != nil && p.Runtime.Phase != "" {
			phase = string(p.Runtime.Phase)
		}
		phases[phase]++
		// A pod waiting for its start-after dependencies never ran; its
		// running older version (same name) reports the restarts.
		if p.Runtime == nil || p.Phase == agent.PhaseWaiting {
			continue
		}
		ns, name := splitKey(p.Key)
		for _, cs := range p.Runtime.ContainerStatuses {
			ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(cs.RestartCount), ns, name, cs.Name)
		}
	}
	for phase, n := range phases {
		ch <- prometheus.MustNewConstMetric(podsDesc, prometheus.GaugeValue, float64(n), phase)
	}
	synced := 0.0
	if st.Synced {
		synced = 1
	}
	ch <- prometheus.MustNewConstMetric(syncedDesc, prometheus.GaugeValue, synced)
}

func splitKey(key string) (string, string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}
