package containerd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/statusapi"
	"github.com/staticlet/staticlet/internal/testenv"
)

const benchTrials = 20

// markScript touches a file as the container's first act, so "running" means
// the container's process executes, for staticlet and the floor alike.
func markScript(mark string) string {
	return "touch /marks/" + mark + "; " + longRunning
}

func markManifest(name, image, mark, marksDir string) []byte {
	doc := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"terminationGracePeriodSeconds": 1,
			"volumes":                       []any{map[string]any{"name": "marks", "hostPath": map[string]any{"path": marksDir}}},
			"containers": []any{map[string]any{
				"name": "main", "image": image, "imagePullPolicy": "Never", "command": []string{"sh", "-c", markScript(mark)},
				"volumeMounts": []any{map[string]any{"name": "marks", "mountPath": "/marks"}},
			}},
		},
	}
	data, _ := json.Marshal(doc)
	return data
}

func waitForFile(tb testing.TB, path string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not appear within %s", path, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// floorStart creates and starts the same container straight through the
// client, with the given IO, and returns when its process has run.
func floorStart(b *testing.B, ctx context.Context, c *client.Client, img client.Image, id, marks, mark string, io cio.Creator) (time.Duration, func()) {
	begin := time.Now()
	ctr, err := c.NewContainer(ctx, id, client.WithImage(img), client.WithNewSnapshot(id, img),
		client.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sh", "-c", markScript(mark)),
			oci.WithMounts([]specs.Mount{{Destination: "/marks", Type: "bind", Source: marks, Options: []string{"rbind", "rw"}}})))
	if err != nil {
		b.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, io)
	if err != nil {
		b.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		b.Fatal(err)
	}
	waitForFile(b, filepath.Join(marks, mark), 30*time.Second)
	took := time.Since(begin)
	return took, func() {
		task.Delete(ctx, client.WithProcessKill)
		ctr.Delete(ctx, client.WithSnapshotCleanup)
	}
}

// BenchmarkManifestToRunning measures, over benchTrials trials, the time from
// a manifest renamed into staticPodPath to its container's process running,
// against the floor measured in the same run: creating and starting the same
// container straight through the containerd client. It also measures the
// stop latency from the file's removal to the pod being gone. The agent runs
// with the default 20 ms debounce and a 0 s removal delay (default 1 s,
// which adds exactly that to the stop latency). Run with -benchtime 1x.
func BenchmarkManifestToRunning(b *testing.B) {
	bin := buildStaticlet(b)
	e := newEnv(b)
	opts := e.options(b)
	opts.Logger = nil
	if os.Getenv("STATICLET_BENCH_LOG") != "" {
		opts.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: os.Stderr})
	}
	// The log writer staticlet run uses, not this test binary.
	opts.LoggerBinary = filepath.Join(filepath.Dir(bin), "staticlet-logger")
	dir, marks := b.TempDir(), b.TempDir()
	rig := startAgentWithDelay(b, opts, dir, 0)
	b.Cleanup(func() {
		rig.stop()
		if rt, err := containerd.New(opts); err == nil {
			stopAll(b, rt)
		}
	})
	c, err := client.New(e.address)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), e.namespace)
	img, err := c.GetImage(ctx, e.image)
	if err != nil {
		b.Fatal(err)
	}
	for n := 0; n < b.N; n++ {
		var start, stop, floor, floorLogger []time.Duration
		for i := -1; i < benchTrials; i++ { // trial -1 warms caches up
			name := fmt.Sprintf("lat%d-%d", n, i+1)
			mark := "a-" + name
			tmp := filepath.Join(dir, ".tmp")
			os.WriteFile(tmp, markManifest(name, e.image, mark, marks), 0o644)
			begin := time.Now()
			os.Rename(tmp, filepath.Join(dir, name+".yaml"))
			waitForFile(b, filepath.Join(marks, mark), 30*time.Second)
			started := time.Since(begin)

			begin = time.Now()
			os.Remove(filepath.Join(dir, name+".yaml"))
			waitStatus(b, 30*time.Second, rig.status, func(st statusapi.Status) bool {
				_, found := findPod(st, name+"-node1")
				return found == 0
			})
			stopped := time.Since(begin)

			id := testenv.ContainerID("floor")
			fl, cleanup := floorStart(b, ctx, c, img, id, marks, "f-"+name, cio.NullIO)
			cleanup()
			logPath := filepath.Join(b.TempDir(), "0.log")
			fll, cleanup := floorStart(b, ctx, c, img, id+"-log", marks, "l-"+name, cio.BinaryIO(opts.LoggerBinary, map[string]string{"shim-logger": logPath}))
			cleanup()
			if i >= 0 {
				start, stop, floor, floorLogger = append(start, started), append(stop, stopped), append(floor, fl), append(floorLogger, fll)
			}
		}
		b.ReportMetric(ms(percentile(start, 0.5)), "start-p50-ms")
		b.ReportMetric(ms(percentile(start, 0.95)), "start-p95-ms")
		b.ReportMetric(ms(percentile(floor, 0.5)), "floor-p50-ms")
		b.ReportMetric(ms(percentile(floor, 0.95)), "floor-p95-ms")
		b.ReportMetric(float64(percentile(start, 0.5))/float64(percentile(floor, 0.5)), "p50-ratio")
		b.ReportMetric(ms(percentile(floorLogger, 0.5)), "floor+logger-p50-ms")
		b.ReportMetric(ms(percentile(stop, 0.5)), "stop-p50-ms")
		b.ReportMetric(ms(percentile(stop, 0.95)), "stop-p95-ms")
	}
}

func startAgentWithDelay(tb testing.TB, opts containerd.Options, dir string, removalDelay time.Duration) *agentRig {
	saved := benchRemovalDelay
	benchRemovalDelay = &removalDelay
	defer func() { benchRemovalDelay = saved }()
	return startAgent(tb, opts, dir)
}

// BenchmarkIdle20Pods runs the staticlet binary with 20 running pods and
// measures its CPU use over 10 s of idling and its resident memory, and the
// resident memory of one shim log writer.
func BenchmarkIdle20Pods(b *testing.B) {
	bin := buildStaticlet(b)
	e := newEnv(b)
	opts := e.options(b)
	manifests := b.TempDir()
	socket := filepath.Join(b.TempDir(), "status.sock")
	b.Cleanup(func() {
		if rt, err := containerd.New(opts); err == nil {
			stopAll(b, rt)
		}
	})
	for i := range 20 {
		writeManifest(b, manifests, fmt.Sprintf("idle%02d.yaml", i), manifest(fmt.Sprintf("idle%02d", i), e.image, longRunning, "Always", 1))
	}
	proc := startAgentProcessTB(b, bin, opts, manifests, socket)
	waitStatus(b, 60*time.Second, fetchStatus(b, socket), func(st statusapi.Status) bool {
		running := 0
		for _, p := range st.Pods {
			if podRunning(p) {
				running++
			}
		}
		return running == 20
	})
	pid := proc.Process.Pid
	for n := 0; n < b.N; n++ {
		time.Sleep(2 * time.Second)
		cpu0, wall0 := cpuTicks(b, pid), time.Now()
		time.Sleep(10 * time.Second)
		cpu1, wall1 := cpuTicks(b, pid), time.Now()
		const ticksPerSecond = 100 // USER_HZ on Linux
		cpuSeconds := float64(cpu1-cpu0) / ticksPerSecond
		b.ReportMetric(100*cpuSeconds/wall1.Sub(wall0).Seconds(), "agent-cpu-%")
		b.ReportMetric(rssMiB(b, pid), "agent-rss-MiB")
		if logger := findLogger(filepath.Join(filepath.Dir(bin), "staticlet-logger")); logger > 0 {
			b.ReportMetric(rssMiB(b, logger), "logger-rss-MiB")
		}
	}
	proc.Process.Signal(syscall.SIGTERM)
	proc.Wait()
}

func cpuTicks(tb testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}

func rssMiB(tb testing.TB, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// findLogger returns the pid of a `bin shim-logger` process.
func findLogger(bin string) int {
	pids := pidsWhere(func(args []string) bool { return len(args) >= 2 && args[0] == bin && args[1] == "shim-logger" })
	if len(pids) == 0 {
		return 0
	}
	return pids[0]
}

// pidsWhere lists the processes whose command line (/proc/<pid>/cmdline,
// split at NULs) matches.
func pidsWhere(match func(args []string) bool) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if match(strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")) {
			out = append(out, pid)
		}
	}
	return out
}

// shimPids are the runc shims serving containerd namespace.
func shimPids(namespace string) []int {
	return pidsWhere(func(args []string) bool {
		return len(args) > 0 && strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") && slices.Contains(args, namespace)
	})
}
