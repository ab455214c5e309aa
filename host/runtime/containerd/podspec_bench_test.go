package containerd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/statusapi"
	"github.com/staticlet/staticlet/internal/testenv"
)

const (
	probeBenchPods = 20
	// probeBenchWindow is how long CPU is measured per probe mix, once all pods are Ready.
	probeBenchWindow = 15 * time.Second
	probeBenchPort   = 8080
)

// probeMix is one set of probes every pod of a round gets.
type probeMix struct {
	name                         string
	startup, liveness, readiness *corev1.ProbeHandler
}

func execHandler() *corev1.ProbeHandler {
	return &corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}
}

func httpHandler(path string) *corev1.ProbeHandler {
	return &corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(probeBenchPort), Scheme: corev1.URISchemeHTTP}}
}

func tcpHandler() *corev1.ProbeHandler {
	return &corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(probeBenchPort)}}
}

// probeBenchPod is a pod of the probe image serving /livez and /readyz on its own loopback, with
// mix's probes at periodSeconds 1.
func probeBenchPod(name, image string, mix probeMix) []byte {
	probe := func(h *corev1.ProbeHandler) *corev1.Probe {
		if h == nil {
			return nil
		}
		pr := &corev1.Probe{ProbeHandler: *h, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
		if h.Exec != nil {
			// An exec probe is a runc exec through containerd and the shim: tens of
			// milliseconds of CPU each. With 20 pods on 2 cores they queue, so they get
			// room to finish instead of failing into a restart loop.
			pr.TimeoutSeconds, pr.FailureThreshold = 10, 30
		}
		return pr
	}
	grace := int64(1)
	p := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "main", Image: image, ImagePullPolicy: corev1.PullNever,
				Command:      []string{testenv.ProbeServerPath, "-listen", "http://127.0.0.1:" + strconv.Itoa(probeBenchPort), "-ok", "/livez", "-ok", "/readyz"},
				StartupProbe: probe(mix.startup), LivenessProbe: probe(mix.liveness), ReadinessProbe: probe(mix.readiness),
			}},
		},
	}
	data, _ := yaml.Marshal(&p)
	return data
}

// cpuTime is the CPU time (user and system, every thread, live or exited) this process used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// containerdTicks sums the CPU clock ticks of the test binary's private containerd and of the shims
// of namespace, with their reaped children (runc, exec'd probe processes).
func containerdTicks(address, namespace string) (int64, bool) {
	data, err := os.ReadFile(filepath.Join(filepath.Dir(address), "containerd.pid"))
	if err != nil {
		return 0, false // not the private containerd: its pid is not known
	}
	daemon, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	total := processTicks(daemon)
	for _, pid := range shimPids(namespace) {
		total += processTicks(pid)
	}
	return total, true
}

// processTicks is utime+stime+cutime+cstime of pid, or 0 when it is gone.
func processTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var sum int64
	for _, i := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseInt(fields[i], 10, 64)
		sum += v
	}
	return sum
}

func allReady(n int, prefix string) func(statusapi.Status) bool {
	return func(st statusapi.Status) bool {
		ready := 0
		for _, p := range st.Pods {
			if strings.HasPrefix(p.Name, prefix) && podRunning(p) && p.Ready {
				ready++
			}
		}
		return ready == n
	}
}

// BenchmarkProbeOverhead runs 20 pods with three probes each (startup, liveness, readiness) at
// periodSeconds 1, and measures the agent's CPU time (getrusage of this process, which runs the
// agent and the containerd runtime in-process) over probeBenchWindow once every pod is Ready,
// against the same 20 pods without probes in the same run. Once started, a container is probed
// by liveness and readiness: 40 probes a second. Mixes: http+tcp (httpGet startup and readiness,
// tcpSocket liveness, dialled inside each pod's network namespace), exec (all three exec `true`
// through containerd), mixed (exec startup, tcpSocket liveness, httpGet readiness). It also
// reports the CPU of the private containerd and the pods' shims (with their reaped children:
// runc and the exec'd probe processes), where exec probes mostly cost. Run with -benchtime 1x.
func BenchmarkProbeOverhead(b *testing.B) {
	e := newEnv(b)
	image := testenv.ImportProbeImage(b, e.address, e.namespace)
	opts := e.options(b)
	opts.Logger = nil
	dir := b.TempDir()
	rig := startAgentWithDelay(b, opts, dir, 0)
	b.Cleanup(func() { stopRigAndPods(b, rig) })
	mixes := []probeMix{
		{name: "none"},
		{name: "http+tcp", startup: httpHandler("/livez"), liveness: tcpHandler(), readiness: httpHandler("/readyz")},
		{name: "exec", startup: execHandler(), liveness: execHandler(), readiness: execHandler()},
		{name: "mixed", startup: execHandler(), liveness: tcpHandler(), readiness: httpHandler("/readyz")},
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	for n := 0; n < b.N; n++ {
		agentCPU := map[string]float64{}
		for _, mix := range mixes {
			prefix := fmt.Sprintf("probe-%d-%s-", n, strings.ReplaceAll(mix.name, "+", ""))
			for i := range probeBenchPods {
				name := fmt.Sprintf("%s%02d", prefix, i)
				writeManifest(b, dir, name+".yaml", probeBenchPod(name, image, mix))
			}
			waitStatus(b, 90*time.Second, rig.status, allReady(probeBenchPods, prefix))
			time.Sleep(2 * time.Second) // startup probes done, start-up work settled

			ticks0, haveTicks := containerdTicks(e.address, e.namespace)
			cpu0, wall0 := cpuTime(b), time.Now()
			time.Sleep(probeBenchWindow)
			cpu1, wall1 := cpuTime(b), time.Now()
			ticks1, _ := containerdTicks(e.address, e.namespace)
			wall := wall1.Sub(wall0).Seconds()
			agentCPU[mix.name] = 100 * (cpu1 - cpu0).Seconds() / wall
			b.ReportMetric(agentCPU[mix.name], mix.name+"-agent-cpu-%")
			if mix.name != "none" {
				b.ReportMetric(agentCPU[mix.name]/agentCPU["none"], mix.name+"-ratio")
			}
			if haveTicks {
				b.ReportMetric(100*float64(ticks1-ticks0)/ticksPerSecond/wall, mix.name+"-containerd+shims-cpu-%")
			}

			for i := range probeBenchPods {
				os.Remove(filepath.Join(dir, fmt.Sprintf("%s%02d.yaml", prefix, i)))
			}
			waitStatus(b, 90*time.Second, rig.status, func(st statusapi.Status) bool { return len(st.Pods) == 0 })
		}
	}
}

// stopRigAndPods stops the agent, then any pod a failed benchmark left.
func stopRigAndPods(b *testing.B, rig *agentRig) {
	rig.stop()
	if rt, err := containerd.New(rig.opts); err == nil {
		stopAll(b, rt)
	}
}

// initBenchPod is markManifest's pod, with two init containers running `true` when withInit.
func initBenchPod(name, image, mark, marksDir string, withInit bool) []byte {
	var p corev1.Pod
	if err := yaml.Unmarshal(markManifest(name, image, mark, marksDir), &p); err != nil {
		panic(err)
	}
	if withInit {
		for _, n := range []string{"init-1", "init-2"} {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{
				Name: n, Image: image, ImagePullPolicy: corev1.PullNever, Command: []string{"true"}})
		}
	}
	data, _ := yaml.Marshal(&p)
	return data
}

// BenchmarkInitContainersStart measures, over benchTrials trials each, the time from a manifest
// renamed into staticPodPath to its app container's process running, for a pod with two init
// containers (each `true`, run one after the other to completion first) against the same pod
// without them, in the same run and interleaved. The agent runs in-process with the default
// 20 ms debounce and a 0 s removal delay. Run with -benchtime 1x.
func BenchmarkInitContainersStart(b *testing.B) {
	e := newEnv(b)
	opts := e.options(b)
	opts.Logger = nil
	dir, marks := b.TempDir(), b.TempDir()
	rig := startAgentWithDelay(b, opts, dir, 0)
	b.Cleanup(func() { stopRigAndPods(b, rig) })
	for n := 0; n < b.N; n++ {
		var plain, withInit []time.Duration
		for i := -1; i < benchTrials; i++ { // trial -1 warms caches up
			for _, init := range []bool{false, true} {
				name := fmt.Sprintf("init%d-%d-%v", n, i+1, init)
				mark := "m-" + name
				tmp := filepath.Join(dir, ".tmp")
				if err := os.WriteFile(tmp, initBenchPod(name, e.image, mark, marks, init), 0o644); err != nil {
					b.Fatal(err)
				}
				begin := time.Now()
				if err := os.Rename(tmp, filepath.Join(dir, name+".yaml")); err != nil {
					b.Fatal(err)
				}
				waitForFile(b, filepath.Join(marks, mark), 30*time.Second)
				took := time.Since(begin)
				os.Remove(filepath.Join(dir, name+".yaml"))
				waitStatus(b, 30*time.Second, rig.status, func(st statusapi.Status) bool { return len(st.Pods) == 0 })
				switch {
				case i < 0:
				case init:
					withInit = append(withInit, took)
				default:
					plain = append(plain, took)
				}
			}
		}
		b.ReportMetric(ms(percentile(withInit, 0.5)), "init-p50-ms")
		b.ReportMetric(ms(percentile(withInit, 0.95)), "init-p95-ms")
		b.ReportMetric(ms(percentile(plain, 0.5)), "plain-p50-ms")
		b.ReportMetric(ms(percentile(plain, 0.95)), "plain-p95-ms")
		b.ReportMetric(float64(percentile(withInit, 0.5))/float64(percentile(plain, 0.5)), "p50-ratio")
	}
}
