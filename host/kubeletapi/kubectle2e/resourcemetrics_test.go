package kubectle2e_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/staticlet/staticlet/internal/testenv"
)

// TestResourceMetricsParityWithKubelet fetches /metrics/resource through the node proxy from staticlet
// and from the real kubelet v1.37.2, each running the idle static pod, and requires the same families
// with the same help, type and label names, the idle pod's series in every per-pod family, and values
// a scraper can use: CPU counters and working sets above zero where they must be, and the timestamps
// metrics-server computes rates from within the last minutes. The values themselves differ (two nodes,
// two runs).
func TestResourceMetricsParityWithKubelet(t *testing.T) {
	p := startPair(t)
	scrape := func(s side) map[string]*dto.MetricFamily {
		t.Helper()
		out := p.kubectl(t, "get", "--raw", "/api/v1/nodes/"+s.node+"/proxy/metrics/resource").mustRun()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(out))
		if err != nil {
			t.Fatalf("%s: /metrics/resource is not the Prometheus text format: %v\n%s", s.name, err, out)
		}
		return families
	}
	type shape struct {
		help, kind string
		labels     []string
	}
	shapeOf := func(f *dto.MetricFamily) shape {
		sh := shape{help: f.GetHelp(), kind: f.GetType().String()}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(sh.labels, l.GetName()) {
					sh.labels = append(sh.labels, l.GetName())
				}
			}
		}
		slices.Sort(sh.labels)
		return sh
	}

	var shapes []map[string]shape
	for _, s := range p.sides() {
		idle := "idle-" + s.node
		var families map[string]*dto.MetricFamily
		// A pod's first usage shows once its container has run for a moment (the kubelet's cAdvisor
		// housekeeping takes a few seconds): scraped until the idle pod's CPU shows.
		testenv.Eventually(t, converge, func() error {
			families = scrape(s)
			if v, ok := seriesValue(families["pod_cpu_usage_seconds_total"], idle, ""); !ok || v <= 0 {
				return fmt.Errorf("%s: pod_cpu_usage_seconds_total of %s not above 0 yet", s.name, idle)
			}
			return nil
		})
		got := map[string]shape{}
		for name, f := range families {
			got[name] = shapeOf(f)
		}
		shapes = append(shapes, got)

		now := time.Now()
		for name, f := range families {
			for _, m := range f.GetMetric() {
				// Series of every pod but the idle one are the shell pod's (restarted by design) or the other
				// side's: only the idle pod's and the node's are checked.
				if pod := labelValue(m, "pod"); pod != "" && pod != idle {
					continue
				}
				v := metricValue(m)
				switch {
				case name == "resource_scrape_error":
					if v != 0 {
						t.Errorf("%s: resource_scrape_error = %v", s.name, v)
					}
					continue
				case name == "container_start_time_seconds":
					if at := time.Unix(0, int64(v*float64(time.Second))); now.Sub(at) < 0 || now.Sub(at) > 5*time.Minute {
						t.Errorf("%s: %s of %s = %v, not a start within the last minutes", s.name, name, idle, at)
					}
					continue
				case strings.Contains(name, "swap"):
					// Swap may well be 0 on either node.
				case v <= 0:
					t.Errorf("%s: %s{pod=%q} = %v, want above 0", s.name, name, labelValue(m, "pod"), v)
				}
				if at := time.UnixMilli(m.GetTimestampMs()); m.TimestampMs == nil || now.Sub(at) > 2*time.Minute || at.Sub(now) > time.Minute {
					t.Errorf("%s: %s{pod=%q} stamped %v (now %v): metrics-server needs a recent explicit timestamp", s.name, name, labelValue(m, "pod"), at, now)
				}
			}
		}
		// The idle pod's series are in every per-pod and per-container family.
		for name, f := range families {
			if !slices.Contains(got[name].labels, "pod") {
				continue
			}
			if _, ok := seriesValue(f, idle, "main"); !ok {
				t.Errorf("%s: %s has no series for %s", s.name, name, idle)
			}
		}
		t.Logf("%s: %d families: %v", s.name, len(families), slices.Sorted(maps.Keys(families)))
	}
	staticlet, kubelet := shapes[0], shapes[1]
	for _, name := range slices.Sorted(maps.Keys(kubelet)) {
		if got, ok := staticlet[name]; !ok {
			t.Errorf("family %s: the kubelet serves it, staticlet does not", name)
		} else if fmt.Sprint(got) != fmt.Sprint(kubelet[name]) {
			t.Errorf("family %s:\n staticlet: %+v\n kubelet:   %+v", name, got, kubelet[name])
		}
	}
	for name := range staticlet {
		if _, ok := kubelet[name]; !ok {
			t.Errorf("family %s: staticlet serves it, the kubelet does not", name)
		}
	}
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func metricValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// seriesValue finds f's series of pod (and of container, for a family that has that label).
func seriesValue(f *dto.MetricFamily, pod, container string) (float64, bool) {
	for _, m := range f.GetMetric() {
		if labelValue(m, "pod") != pod {
			continue
		}
		if c := labelValue(m, "container"); c != "" && c != container {
			continue
		}
		return metricValue(m), true
	}
	return 0, false
}
