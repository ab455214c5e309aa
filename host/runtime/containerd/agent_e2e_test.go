package containerd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/hashicorp/go-hclog"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/podlogs"
	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
	"github.com/staticlet/staticlet/host/statusapi"
	"github.com/staticlet/staticlet/internal/testenv"
)

// e2eRemovalDelay is the agent's removal delay in these tests (1 s by
// default): short, so removals are quick to observe.
const e2eRemovalDelay = 100 * time.Millisecond

// benchRemovalDelay overrides e2eRemovalDelay for benchmarks.
var benchRemovalDelay *time.Duration

// manifest is a one-container pod running script in sh.
func manifest(name, image, script, policy string, grace int) []byte {
	doc := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"restartPolicy":                 policy,
			"terminationGracePeriodSeconds": grace,
			"containers": []any{map[string]any{
				"name": "main", "image": image, "imagePullPolicy": "Never", "command": []string{"sh", "-c", script},
			}},
		},
	}
	data, _ := json.Marshal(doc)
	return data
}

// writeManifest writes elsewhere and renames into dir, as tools should.
func writeManifest(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// agentRig is an in-process agent: the real folder watcher, admission and
// the containerd runtime.
type agentRig struct {
	t      testing.TB
	dir    string
	opts   containerd.Options
	rt     *containerd.Runtime
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan struct{}
}

func startAgent(t testing.TB, opts containerd.Options, dir string) *agentRig {
	t.Helper()
	return startAgentWith(t, opts, dir, nil)
}

// startAgentWith starts an agent with sources besides the folder: the test
// puts their listings in their mailboxes.
func startAgentWith(t testing.TB, opts containerd.Options, dir string, more map[string]*source.Mailbox) *agentRig {
	t.Helper()
	rt, err := containerd.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	removalDelay := e2eRemovalDelay
	if benchRemovalDelay != nil {
		removalDelay = *benchRemovalDelay
	}
	files := source.NewMailbox()
	sources := map[string]*source.Mailbox{source.NameFile: files}
	for name, m := range more {
		sources[name] = m
	}
	watcher := &file.Watcher{Root: dir, Resync: 20 * time.Second, Debounce: 20 * time.Millisecond}
	a := agent.New(agent.Config{
		Runtime:  rt,
		Pipeline: admission.New(admission.Options{NodeName: "node1", Runtime: rt.Capabilities()}),
		Builder:  desired.NewBuilder(removalDelay),
		Sources:  sources,
		Logger:   agentLogger(opts.Logger),
	})
	ctx, cancel := context.WithCancel(context.Background())
	r := &agentRig{t: t, dir: dir, opts: opts, rt: rt, a: a, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		werr := make(chan error, 1)
		go func() { werr <- watcher.Run(ctx, files) }()
		_ = a.Run(ctx)
		<-werr
	}()
	return r
}

// stop ends the agent; its pods keep running.
func (r *agentRig) stop() {
	r.cancel()
	<-r.done
	r.rt.Close()
}

// e2eSetup starts an agent on a fresh folder; when the test ends the agent
// stops and every pod it left is stopped.
func e2eSetup(t *testing.T) (env, *agentRig) {
	e := newEnv(t)
	opts := e.options(t)
	dir := t.TempDir()
	rig := startAgent(t, opts, dir)
	t.Cleanup(func() {
		rig.stop()
		rt, err := containerd.New(opts)
		if err == nil {
			stopAll(t, rt)
		}
	})
	return e, rig
}

func (r *agentRig) status() statusapi.Status {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.a.Status(ctx)
	if err != nil {
		r.t.Fatalf("agent status: %v", err)
	}
	return statusapi.FromAgent(st)
}

func findPod(st statusapi.Status, name string) (statusapi.Pod, int) {
	var found statusapi.Pod
	n := 0
	for _, p := range st.Pods {
		if p.Name == name {
			found = p
			n++
		}
	}
	return found, n
}

func podRunning(p statusapi.Pod) bool {
	return p.Phase == "Running" && p.AgentState == "Active" && len(p.Containers) > 0 && p.Containers[0].State == "running"
}

// waitStatus polls status until cond holds, and returns that status.
func waitStatus(t testing.TB, timeout time.Duration, get func() statusapi.Status, cond func(statusapi.Status) bool) statusapi.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st statusapi.Status
	for {
		st = get()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			data, _ := json.MarshalIndent(st, "", " ")
			t.Fatalf("status never matched within %s; last:\n%s", timeout, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitPodRunning(t testing.TB, r *agentRig, name string) statusapi.Pod {
	t.Helper()
	st := waitStatus(t, 30*time.Second, r.status, func(st statusapi.Status) bool {
		p, n := findPod(st, name)
		return n == 1 && podRunning(p)
	})
	p, _ := findPod(st, name)
	return p
}

// containersOf counts containerd containers labelled with the pod name.
func containersOf(t testing.TB, opts containerd.Options, podName string) int {
	t.Helper()
	c, err := client.New(opts.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(t.Context(), opts.Namespace)
	ctrs, err := c.Containers(ctx, fmt.Sprintf(`labels.%q==%q`, containerd.LabelPodName, podName))
	if err != nil {
		t.Fatal(err)
	}
	return len(ctrs)
}

func logOf(opts containerd.Options, p statusapi.Pod, run int32) string {
	f, err := os.Open(podlogs.ContainerLogPath(opts.PodLogDir, p.Namespace, p.Name, p.UID, "main", run))
	if err != nil {
		return ""
	}
	defer f.Close()
	var b strings.Builder
	podlogs.Copy(&b, f)
	return b.String()
}

const longRunning = "trap 'exit 0' TERM; sleep 3600 & wait"

// TestAgentAddUpdateRemove drives a pod through the folder: added, its log
// written and readable, edited (the old version stops before the new one
// starts), removed; no container is left.
func TestAgentAddUpdateRemove(t *testing.T) {
	e, rig := e2eSetup(t)
	writeManifest(t, rig.dir, "web.yaml", manifest("web", e.image, "echo version one; "+longRunning, "Always", 1))
	v1 := waitPodRunning(t, rig, "web-node1")
	waitStatus(t, 10*time.Second, rig.status, func(statusapi.Status) bool { return logOf(rig.opts, v1, 0) == "version one\n" })

	writeManifest(t, rig.dir, "web.yaml", manifest("web", e.image, "echo version two; "+longRunning, "Always", 1))
	st := waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool {
		p, n := findPod(st, "web-node1")
		return n == 1 && p.UID != v1.UID && podRunning(p)
	})
	v2, _ := findPod(st, "web-node1")
	waitStatus(t, 10*time.Second, rig.status, func(statusapi.Status) bool { return logOf(rig.opts, v2, 0) == "version two\n" })
	if n := containersOf(t, rig.opts, "web-node1"); n != 1 {
		t.Errorf("%d containers for web-node1 after the update, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(rig.opts.PodLogDir, podlogs.PodDirName("default", "web-node1", v1.UID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old version's logs are still there: %v", err)
	}

	os.Remove(filepath.Join(rig.dir, "web.yaml"))
	waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool { return len(st.Pods) == 0 })
	if n := containersOf(t, rig.opts, "web-node1"); n != 0 {
		t.Errorf("%d containers left after the removal", n)
	}
}

// TestAgentEditDuringStart edits a manifest while its first version starts:
// exactly one pod, the latest version, runs in the end.
func TestAgentEditDuringStart(t *testing.T) {
	e, rig := e2eSetup(t)
	writeManifest(t, rig.dir, "edit.yaml", manifest("edit", e.image, "echo one; "+longRunning, "Always", 1))
	time.Sleep(30 * time.Millisecond) // past the debounce: the first start is under way
	writeManifest(t, rig.dir, "edit.yaml", manifest("edit", e.image, "echo two; "+longRunning, "Always", 1))
	st := waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool {
		p, n := findPod(st, "edit-node1")
		return n == 1 && podRunning(p) && logOf(rig.opts, p, 0) == "two\n"
	})
	if len(st.Pods) != 1 {
		t.Errorf("%d pods, want 1", len(st.Pods))
	}
	if n := containersOf(t, rig.opts, "edit-node1"); n != 1 {
		t.Errorf("%d containers for edit-node1, want 1", n)
	}
}

// TestAgentRestartPolicies: a crash loop shows CrashLoopBackOff with the
// last exit code; Never and OnFailure pods end Failed and Succeeded.
func TestAgentRestartPolicies(t *testing.T) {
	e, rig := e2eSetup(t)
	writeManifest(t, rig.dir, "crash.yaml", manifest("crash", e.image, "echo crash; exit 3", "Always", 1))
	writeManifest(t, rig.dir, "never.yaml", manifest("never", e.image, "exit 1", "Never", 1))
	writeManifest(t, rig.dir, "onfailure.yaml", manifest("onfailure", e.image, "exit 0", "OnFailure", 1))
	waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool {
		crash, _ := findPod(st, "crash-node1")
		never, _ := findPod(st, "never-node1")
		onfail, _ := findPod(st, "onfailure-node1")
		if len(crash.Containers) == 0 || len(never.Containers) == 0 || len(onfail.Containers) == 0 {
			return false
		}
		c := crash.Containers[0]
		return c.State == "waiting" && c.Reason == "CrashLoopBackOff" && c.ExitCode != nil && *c.ExitCode == 3 && c.RestartCount >= 1 &&
			never.Phase == "Failed" && never.Containers[0].Reason == "Error" && never.Restarts == 0 &&
			onfail.Phase == "Succeeded" && onfail.Containers[0].Reason == "Completed" && onfail.Restarts == 0
	})
	// The back-off grows: with a 1 s base, restart 2 comes about 1 s after
	// restart 1 and restart 3 about 2 s after that.
	st := waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool {
		p, _ := findPod(st, "crash-node1")
		return p.Restarts >= 3
	})
	crash, _ := findPod(st, "crash-node1")
	if got := logOf(rig.opts, crash, crash.Restarts); got != "" && got != "crash\n" {
		t.Errorf("log of run %d = %q", crash.Restarts, got)
	}
}

// TestAgentGracePeriod removes two pods: one exits on SIGTERM at once, the
// other ignores it and is killed when its grace period ends.
func TestAgentGracePeriod(t *testing.T) {
	e, rig := e2eSetup(t)
	writeManifest(t, rig.dir, "trap.yaml", manifest("trap", e.image, longRunning, "Always", 5))
	writeManifest(t, rig.dir, "stubborn.yaml", manifest("stubborn", e.image, "trap '' TERM; sleep 3600 & wait", "Always", 2))
	waitPodRunning(t, rig, "trap-node1")
	waitPodRunning(t, rig, "stubborn-node1")
	begin := time.Now()
	os.Remove(filepath.Join(rig.dir, "trap.yaml"))
	os.Remove(filepath.Join(rig.dir, "stubborn.yaml"))
	var trapGone, stubbornGone time.Duration
	waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool {
		if _, n := findPod(st, "trap-node1"); n == 0 && trapGone == 0 {
			trapGone = time.Since(begin)
		}
		if _, n := findPod(st, "stubborn-node1"); n == 0 && stubbornGone == 0 {
			stubbornGone = time.Since(begin)
		}
		return trapGone > 0 && stubbornGone > 0
	})
	t.Logf("removal to gone: trapping SIGTERM %s, ignoring it %s (removal delay %s)", trapGone, stubbornGone, e2eRemovalDelay)
	if trapGone > 2*time.Second {
		t.Errorf("a pod exiting on SIGTERM took %s to go, want well under its 5 s grace period", trapGone)
	}
	if stubbornGone < 2*time.Second || stubbornGone > 10*time.Second {
		t.Errorf("a pod ignoring SIGTERM took %s to go, want its 2 s grace period then SIGKILL", stubbornGone)
	}
}

// TestAgent20Pods starts and removes 20 pods at once.
func TestAgent20Pods(t *testing.T) {
	e, rig := e2eSetup(t)
	const n = 20
	begin := time.Now()
	for i := range n {
		writeManifest(t, rig.dir, fmt.Sprintf("p%02d.yaml", i), manifest(fmt.Sprintf("p%02d", i), e.image, longRunning, "Always", 1))
	}
	all := func(st statusapi.Status) bool {
		running := 0
		for _, p := range st.Pods {
			if podRunning(p) {
				running++
			}
		}
		return running == n
	}
	waitStatus(t, 60*time.Second, rig.status, all)
	t.Logf("%d pods running %s after their files appeared", n, time.Since(begin))
	begin = time.Now()
	for i := range n {
		os.Remove(filepath.Join(rig.dir, fmt.Sprintf("p%02d.yaml", i)))
	}
	waitStatus(t, 60*time.Second, rig.status, func(st statusapi.Status) bool { return len(st.Pods) == 0 })
	t.Logf("%d pods gone %s after their files were removed", n, time.Since(begin))
}

// TestAgentContainerdRestart restarts containerd under a running agent: the
// running container is kept (same ID, no restart), an exit that happened
// while containerd was down is seen and restarted, and a manifest added
// meanwhile starts once containerd is back.
func TestAgentContainerdRestart(t *testing.T) {
	if os.Getenv(testenv.EnvAddress) != "" {
		t.Skip("restarts only the private containerd")
	}
	e, rig := e2eSetup(t)
	writeManifest(t, rig.dir, "steady.yaml", manifest("steady", e.image, longRunning, "Always", 1))
	writeManifest(t, rig.dir, "exiter.yaml", manifest("exiter", e.image, "sleep 3; exit 1", "Always", 1))
	steady := waitPodRunning(t, rig, "steady-node1")
	waitPodRunning(t, rig, "exiter-node1")
	steadyID := containerIDOf(t, rig, "steady-node1")

	stateDir := filepath.Dir(e.address)
	stopDaemon(t, stateDir)
	writeManifest(t, rig.dir, "late.yaml", manifest("late", e.image, longRunning, "Always", 1))
	time.Sleep(4 * time.Second) // the exiter exits while containerd is down
	out, err := exec.Command("bash", "../../../hack/containerd/containerd.sh", "start", stateDir).CombinedOutput()
	if err != nil {
		t.Fatalf("restart containerd: %v: %s", err, out)
	}
	st := waitStatus(t, 60*time.Second, rig.status, func(st statusapi.Status) bool {
		ex, _ := findPod(st, "exiter-node1")
		late, _ := findPod(st, "late-node1")
		return ex.Restarts >= 1 && podRunning(late)
	})
	s, _ := findPod(st, "steady-node1")
	if !podRunning(s) || s.Restarts != 0 || s.UID != steady.UID {
		t.Errorf("steady pod after the containerd restart: %+v", s)
	}
	if id := containerIDOf(t, rig, "steady-node1"); id != steadyID {
		t.Errorf("steady container is %s, was %s: it was replaced", id, steadyID)
	}
}

func containerIDOf(t *testing.T, rig *agentRig, name string) string {
	t.Helper()
	st, err := rig.a.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Pods {
		if p.Key == "default/"+name && p.Runtime != nil && len(p.Runtime.ContainerStatuses) > 0 {
			return p.Runtime.ContainerStatuses[0].ContainerID
		}
	}
	t.Fatalf("no container ID for %s", name)
	return ""
}

// stopDaemon ends the private containerd alone; its shims and tasks live on.
func stopDaemon(t *testing.T, stateDir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "containerd.pid"))
	if err != nil {
		t.Fatalf("containerd pid: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop containerd: %v", err)
	}
	for range 200 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("containerd did not stop")
}

func agentLogger(l hclog.Logger) hclog.Logger {
	if l == nil {
		return nil
	}
	return l.Named("agent")
}
