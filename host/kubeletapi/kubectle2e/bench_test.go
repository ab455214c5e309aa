package kubectle2e_test

import (
	"slices"
	"testing"
	"time"
)

// kubectlOp is one kubectl command to time, its args as side.fill takes them.
type kubectlOp struct {
	name string
	args []string
}

// benchOps are the operations both benchmarks time, `kubectl get pod` (the same process start, TLS to the
// API server and one API call, without the node) first as the baseline.
var benchOps = []kubectlOp{
	{"get", []string{"get", "pod", "POD", "-o", "name"}},
	{"logs", []string{"logs", "POD", "--tail=1"}},
	{"exec", []string{"exec", "POD", "--", "true"}},
	{"proxy", []string{"get", "--raw", "/api/v1/nodes/NODE/proxy/pods"}},
}

// timeKubectl runs kubectl with each of args once per b.Loop iteration, interleaved so that machine noise
// hits all alike, each timed from the process's start to its exit, and returns each one's median.
func timeKubectl(b *testing.B, n node, args [][]string) []time.Duration {
	took := make([][]time.Duration, len(args))
	for i := 0; b.Loop(); i++ {
		for j := range args {
			if i%2 == 1 { // every other round in reverse order: no command always follows the same one
				j = len(args) - 1 - j
			}
			start := time.Now()
			n.asAdmin(b, args[j]...).mustRun()
			took[j] = append(took[j], time.Since(start))
		}
	}
	medians := make([]time.Duration, len(args))
	for j := range args {
		slices.Sort(took[j])
		medians[j] = took[j][len(took[j])/2]
	}
	return medians
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkKubectl measures what the hop to staticlet's kubelet API costs a kubectl user. Each operation
// is one kubectl process timed from start to exit; `kubectl get pod` is the baseline. Reported: each
// operation's median in ms and its ratio to the baseline.
//
//	STATICLET_REQUIRE_INTEGRATION=1 go test -run '^$' -bench 'Kubectl$' -benchtime 20x ./host/kubeletapi/kubectle2e
func BenchmarkKubectl(b *testing.B) {
	n := startNode(b)
	var args [][]string
	for _, op := range benchOps {
		args = append(args, side{name: "staticlet", node: n.cluster.NodeName}.fill(op.args))
	}
	medians := timeKubectl(b, n, args)
	for i, op := range benchOps {
		b.ReportMetric(ms(medians[i]), op.name+"-ms")
	}
	for i := 1; i < len(benchOps); i++ {
		b.ReportMetric(float64(medians[i])/float64(medians[0]), benchOps[i].name+"/get")
	}
}

// BenchmarkKubectlVsKubelet times the same kubectl operations against the same pod run by staticlet
// (worker-1) and by the real kubelet v1.37.2 (worker-2, on its own containerd), through the same API
// server, interleaved in one loop. `get` never reaches a node: its ratio shows the noise floor. Reported:
// each operation's median in ms on each node and the staticlet/kubelet ratio of the medians.
//
//	STATICLET_REQUIRE_INTEGRATION=1 go test -run '^$' -bench KubectlVsKubelet -benchtime 20x ./host/kubeletapi/kubectle2e
func BenchmarkKubectlVsKubelet(b *testing.B) {
	p := startPair(b)
	var args [][]string
	for _, op := range benchOps {
		for _, s := range p.sides() {
			args = append(args, s.fill(op.args))
		}
	}
	medians := timeKubectl(b, p.staticlet, args)
	for i, op := range benchOps {
		staticlet, kubelet := medians[2*i], medians[2*i+1]
		b.ReportMetric(ms(staticlet), op.name+"-staticlet-ms")
		b.ReportMetric(ms(kubelet), op.name+"-kubelet-ms")
		b.ReportMetric(float64(staticlet)/float64(kubelet), op.name+"-staticlet/kubelet")
	}
}
