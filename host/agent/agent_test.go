package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/runtime/fake"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
)

const removalDelay = 300 * time.Millisecond

func pod(name, image string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: main\n    image: %s\n", name, image)
}

type harness struct {
	t   *testing.T
	dir string
	rt  *fake.Runtime
	a   *agent.Agent
}

// start runs an agent with the real file watcher on a temp folder and the
// fake runtime.
func start(t *testing.T, rt *fake.Runtime, setup func(dir string)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), rt: rt}
	if setup != nil {
		setup(h.dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	files := source.NewMailbox()
	w := &file.Watcher{Root: h.dir, Resync: time.Hour, Debounce: 20 * time.Millisecond}
	h.a = agent.New(agent.Config{
		Runtime:  rt,
		Pipeline: admission.New(admission.Options{NodeName: "node1"}),
		Builder:  desired.NewBuilder(removalDelay),
		Sources:  map[string]*source.Mailbox{source.NameFile: files},
	})
	done := make(chan struct{}, 2)
	go func() { w.Run(ctx, files); done <- struct{}{} }()
	go func() { h.a.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return h
}

func (h *harness) write(name, content string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, name), []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

// waitRunning waits until the runtime holds exactly the given pod keys.
func (h *harness) waitRunning(keys ...string) []string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	err := h.rt.WaitFor(ctx, func(r *fake.Runtime) bool {
		got = nil
		for _, k := range r.Running() {
			got = append(got, strings.Split(k, "@")[0])
		}
		return strings.Join(got, ",") == strings.Join(keys, ",")
	})
	if err != nil {
		h.t.Fatalf("running = %v, want %v", got, keys)
	}
	return h.rt.Running()
}

// settle waits long enough for any pending reaction (debounce, removal
// delay) to have happened.
func (h *harness) settle() { time.Sleep(removalDelay + 200*time.Millisecond) }

func (h *harness) calls(op string) int {
	n := 0
	for _, c := range h.rt.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}

func (h *harness) status() agent.Status {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := h.a.Status(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) fileStatus(name string) desired.FileStatus {
	for _, f := range h.status().Files {
		if filepath.Base(f.File) == name {
			return f
		}
	}
	h.t.Fatalf("no status for %s", name)
	return desired.FileStatus{}
}

func TestAddEditDelete(t *testing.T) {
	h := start(t, fake.New(), nil)
	h.write("web.yaml", pod("web", "busybox:1"))
	first := h.waitRunning("default/web-node1")
	h.write("web.yaml", pod("web", "busybox:2"))
	h.settle()
	second := h.waitRunning("default/web-node1")
	if first[0] == second[0] {
		t.Fatal("edit did not replace the pod")
	}
	calls := h.rt.Calls()
	// start v1, stop v1, start v2: the old version is stopped before the new
	// one starts.
	if len(calls) != 3 || calls[0].Op != "start" || calls[1].Op != "stop" || calls[2].Op != "start" || calls[1].UID != calls[0].UID {
		t.Fatalf("calls = %+v", calls)
	}
	os.Remove(h.path("web.yaml"))
	h.waitRunning()
}

func TestVimSaveSameContentKeepsPod(t *testing.T) {
	h := start(t, fake.New(), nil)
	h.write("web.yaml", pod("web", "busybox:1"))
	h.waitRunning("default/web-node1")
	// vim with backupcopy=no: probe file, rename to backup, write new file,
	// remove backup.
	h.write("4913", "")
	os.Remove(h.path("4913"))
	os.Rename(h.path("web.yaml"), h.path("web.yaml~"))
	time.Sleep(40 * time.Millisecond) // a slow save: the scan sees the gap
	h.write("web.yaml", pod("web", "busybox:1"))
	os.Remove(h.path("web.yaml~"))
	h.settle()
	h.waitRunning("default/web-node1")
	if h.calls("start") != 1 || h.calls("stop") != 0 {
		t.Fatalf("calls = %+v, want a single start", h.rt.Calls())
	}
}

func TestVimSaveNewContentReplacesOnce(t *testing.T) {
	h := start(t, fake.New(), nil)
	h.write("web.yaml", pod("web", "busybox:1"))
	h.waitRunning("default/web-node1")
	h.write(".web.yaml.swp", "swap")
	os.Rename(h.path("web.yaml"), h.path("web.yaml~"))
	time.Sleep(40 * time.Millisecond) // a slow save: the scan sees the gap
	h.write("web.yaml", pod("web", "busybox:2"))
	os.Remove(h.path("web.yaml~"))
	h.settle()
	h.waitRunning("default/web-node1")
	if h.calls("start") != 2 || h.calls("stop") != 1 {
		t.Fatalf("calls = %+v, want one replacement", h.rt.Calls())
	}
}

func TestSedInPlace(t *testing.T) {
	h := start(t, fake.New(), nil)
	h.write("web.yaml", pod("web", "busybox:1"))
	h.waitRunning("default/web-node1")
	// GNU sed -i writes a temp file "sedXXXXXX" next to the file, then
	// renames it over.
	h.write("sedAb12Cd", pod("web", "busybox:2"))
	time.Sleep(40 * time.Millisecond)
	os.Rename(h.path("sedAb12Cd"), h.path("web.yaml"))
	h.settle()
	h.waitRunning("default/web-node1")
	if h.calls("start") != 2 || h.calls("stop") != 1 {
		t.Fatalf("calls = %+v, want one replacement", h.rt.Calls())
	}
}

func TestCopyOverAndPartialWrite(t *testing.T) {
	h := start(t, fake.New(), nil)
	h.write("web.yaml", pod("web", "busybox:1"))
	h.waitRunning("default/web-node1")
	// cp truncates then writes; a slow writer leaves a half file for a while.
	full := pod("web", "busybox:2")
	h.write("web.yaml", full[:len(full)/2])
	time.Sleep(100 * time.Millisecond)
	if h.calls("stop") != 0 {
		t.Fatalf("a half-written manifest stopped the pod: %+v", h.rt.Calls())
	}
	h.write("web.yaml", full)
	h.settle()
	h.waitRunning("default/web-node1")
	if h.calls("start") != 2 || h.calls("stop") != 1 {
		t.Fatalf("calls = %+v, want exactly one replacement", h.rt.Calls())
	}
}

func TestAtomicRenameIn(t *testing.T) {
	h := start(t, fake.New(), nil)
	h.write(".web.yaml.tmp", pod("web", "busybox:1"))
	time.Sleep(50 * time.Millisecond)
	if h.calls("start") != 0 {
		t.Fatal("a hidden temp file was started")
	}
	os.Rename(h.path(".web.yaml.tmp"), h.path("web.yaml"))
	h.waitRunning("default/web-node1")
}

func TestInvalidAndBackKeepsPod(t *testing.T) {
	h := start(t, fake.New(), nil)
	good := pod("web", "busybox:1")
	h.write("web.yaml", good)
	h.waitRunning("default/web-node1")
	h.write("web.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: web\n")
	h.settle()
	h.waitRunning("default/web-node1")
	st := h.fileStatus("web.yaml")
	if st.Verdict != admission.Rejected || !st.Stale || !strings.Contains(fmt.Sprint(st.Reasons), "syntax error") {
		t.Fatalf("file status = %+v, want rejected, stale, with the syntax error", st)
	}
	h.write("web.yaml", good)
	h.settle()
	if h.calls("start") != 1 || h.calls("stop") != 0 {
		t.Fatalf("calls = %+v, want the pod untouched", h.rt.Calls())
	}
	if st := h.fileStatus("web.yaml"); st.Verdict != admission.Accepted || st.Stale {
		t.Fatalf("file status after fix = %+v", st)
	}
}

func TestDuplicateNamesAndRename(t *testing.T) {
	h := start(t, fake.New(), nil)
	h.write("a.yaml", pod("web", "busybox:1"))
	h.waitRunning("default/web-node1")
	h.write("b.yaml", pod("web", "busybox:2"))
	h.settle()
	st := h.fileStatus("b.yaml")
	if st.Verdict != admission.Rejected || !strings.Contains(fmt.Sprint(st.Reasons), "a.yaml") {
		t.Fatalf("duplicate: %+v", st)
	}
	os.Remove(h.path("b.yaml"))
	os.Rename(h.path("a.yaml"), h.path("renamed.yaml"))
	h.settle()
	h.waitRunning("default/web-node1")
	if h.calls("start") != 1 || h.calls("stop") != 0 {
		t.Fatalf("calls = %+v, want no restart on rename", h.rt.Calls())
	}
	if st := h.fileStatus("renamed.yaml"); st.Verdict != admission.Accepted {
		t.Fatalf("renamed file: %+v", st)
	}
}

func TestRestartAdoptsAndStopsOrphansAfterListing(t *testing.T) {
	// A first agent starts the pod; a second agent on the same runtime (an
	// agent restart) adopts it and stops the pod whose manifest is gone.
	rt := fake.New()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(pod("web", "busybox:1")), 0o644)
	os.WriteFile(filepath.Join(dir, "old.yaml"), []byte(pod("old", "busybox:1")), 0o644)
	first := start(t, rt, func(d string) {
		os.Rename(filepath.Join(dir, "web.yaml"), filepath.Join(d, "web.yaml"))
		os.Rename(filepath.Join(dir, "old.yaml"), filepath.Join(d, "old.yaml"))
	})
	first.waitRunning("default/old-node1", "default/web-node1")
	web, _ := os.ReadFile(first.path("web.yaml"))

	second := start(t, rt, func(d string) { os.WriteFile(filepath.Join(d, "web.yaml"), web, 0o644) })
	second.waitRunning("default/web-node1")
	second.settle()
	starts := 0
	for _, c := range rt.Calls() {
		if c.Op == "start" {
			starts++
		}
	}
	if starts != 2 {
		t.Fatalf("calls = %+v, want the adopted pod not restarted", rt.Calls())
	}
	if !second.status().Synced {
		t.Fatal("status not synced")
	}
}

func TestStartFailureIsRetried(t *testing.T) {
	rt := fake.New()
	h := start(t, rt, nil)
	h.write("web.yaml", pod("web", "busybox:1"))
	// Learn the UID from the status, then make its next start fail.
	h.waitRunning("default/web-node1")
	os.Remove(h.path("web.yaml"))
	h.waitRunning()
	uid := h.rt.Calls()[0].UID
	rt.FailNext(uid, fmt.Errorf("image not present"))
	h.write("web.yaml", pod("web", "busybox:1"))
	h.waitRunning("default/web-node1") // after a 1 s back-off
	if h.calls("start") != 3 {
		t.Fatalf("calls = %+v, want a failed start and a retry", h.rt.Calls())
	}
}
