package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
)

type fixedStatus struct{ st agent.Status }

func (f fixedStatus) Status(ctx context.Context) (agent.Status, error) { return f.st, nil }

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	return families
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range fam.Metric {
		match := true
		for _, lp := range m.Label {
			if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no %s with labels %v", name, labels)
	return 0
}

func TestMetricsExposition(t *testing.T) {
	st := agent.Status{Synced: true,
		Files: []desired.FileStatus{{Verdict: admission.Accepted}, {Verdict: admission.Accepted}, {Verdict: admission.Rejected, Stale: true}, {Verdict: admission.Ignored}},
		Pods: []agent.PodStatus{
			{Key: "default/web-n1", Phase: "Active", Runtime: &corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "main", RestartCount: 3}}}},
			{Key: "kube-system/api-n1", Phase: "StartFailed"},
		}}
	m := New(fixedStatus{st})
	m.CountSourceEvent("file", "event")
	m.ObserveRelist("file", 3*time.Millisecond)
	m.ObserveReconcile(100 * time.Microsecond)
	m.ObservePluginCall("deny-privileged", "validate", "denied", 200*time.Microsecond)
	m.CountMirrorCall("create", "ok")
	m.ObserveKubeletRequest("exec", 101, true, 2*time.Second)
	m.ObserveKubeletRequest("pods", 403, false, time.Millisecond)
	fams := scrape(t, (&Server{Metrics: m}).Handler())

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"staticlet_manifests", map[string]string{"verdict": "accepted"}, 2},
		{"staticlet_manifests", map[string]string{"verdict": "rejected"}, 1},
		{"staticlet_manifests_stale", nil, 1},
		{"staticlet_pods", map[string]string{"phase": "Running"}, 1},
		{"staticlet_pods", map[string]string{"phase": "StartFailed"}, 1},
		{"staticlet_container_restarts_total", map[string]string{"pod": "web-n1", "container": "main"}, 3},
		{"staticlet_synced", nil, 1},
		{"staticlet_source_events_total", map[string]string{"source": "file", "kind": "event"}, 1},
		{"staticlet_source_relist_duration_seconds", map[string]string{"source": "file"}, 1},
		{"staticlet_reconcile_duration_seconds", nil, 1},
		{"staticlet_plugin_calls_total", map[string]string{"plugin": "deny-privileged", "outcome": "denied"}, 1},
		{"staticlet_plugin_call_duration_seconds", map[string]string{"plugin": "deny-privileged"}, 1},
		{"staticlet_mirror_api_calls_total", map[string]string{"verb": "create", "outcome": "ok"}, 1},
		{"staticlet_kubelet_api_requests_total", map[string]string{"route": "exec", "code": "101"}, 1},
		{"staticlet_kubelet_api_requests_total", map[string]string{"route": "pods", "code": "403"}, 1},
		{"staticlet_kubelet_api_request_duration_seconds", map[string]string{"route": "exec", "long_running": "true"}, 1},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := fams["process_resident_memory_bytes"]; !ok {
		t.Error("process collector missing")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	s := &Server{Metrics: New(nil)}
	var notReady error = errors.New("first snapshot not read yet")
	s.AddReadyCheck("sources", func(ctx context.Context) error { return notReady })
	s.AddReadyCheck("containerd", func(ctx context.Context) error { return nil })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	code, body := get("/readyz")
	if code != 503 || !strings.Contains(body, "[-] sources: first snapshot not read yet") || !strings.Contains(body, "[+] containerd ok") {
		t.Fatalf("readyz not ready: %d %q", code, body)
	}
	notReady = nil
	if code, body := get("/readyz"); code != 200 || !strings.HasSuffix(body, "ok\n") {
		t.Fatalf("readyz ready: %d %q", code, body)
	}
}

func BenchmarkScrape(b *testing.B) {
	st := agent.Status{Synced: true}
	for i := 0; i < 200; i++ {
		st.Files = append(st.Files, desired.FileStatus{Verdict: admission.Accepted})
		st.Pods = append(st.Pods, agent.PodStatus{Key: "default/p" + string(rune('a'+i%26)), Phase: "Active",
			Runtime: &corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "c", RestartCount: 1}}}})
	}
	srv := httptest.NewServer((&Server{Metrics: New(fixedStatus{st})}).Handler())
	defer srv.Close()
	for b.Loop() {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
