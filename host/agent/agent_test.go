package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/runtime/fake"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
	"github.com/staticlet/staticlet/internal/testenv"
)

const removalDelay = 300 * time.Millisecond

func pod(name, image string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: main\n    image: %s\n", name, image)
}

type harness struct {
	t     *testing.T
	dir   string
	rt    *fake.Runtime
	a     *agent.Agent
	feeds map[string]*feed
}

// feed records what a source delivered to the agent.
type feed struct {
	mu    sync.Mutex
	last  source.Listing
	count uint64
}

func (f *feed) latest() (source.Listing, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last, f.count
}

// start runs an agent with the real file watcher on a temp folder and the
// fake runtime.
func start(t *testing.T, rt *fake.Runtime, setup func(dir string)) *harness {
	t.Helper()
	dir := t.TempDir()
	if setup != nil {
		setup(dir)
	}
	return startConfigured(t, rt, dir, func(*agent.Config) {})
}

// startConfigured is start on a given folder, with a hook to adjust the
// agent's Config (for more sources, add them to cfg.Sources: the harness
// relays each one).
func startConfigured(t *testing.T, rt *fake.Runtime, dir string, adjust func(*agent.Config)) *harness {
	t.Helper()
	h := &harness{t: t, dir: dir, rt: rt, feeds: map[string]*feed{}}
	ctx, cancel := context.WithCancel(context.Background())
	files := source.NewMailbox()
	w := &file.Watcher{Root: dir, Resync: time.Hour, Debounce: 20 * time.Millisecond}
	cfg := agent.Config{
		Runtime:  rt,
		Pipeline: admission.New(admission.Options{NodeName: "node1"}),
		Builder:  desired.NewBuilder(removalDelay),
		Sources:  map[string]*source.Mailbox{source.NameFile: files},
	}
	adjust(&cfg)
	// Each source delivers to the agent through a relay, so the test knows
	// what the agent has been given.
	produced := cfg.Sources
	cfg.Sources = map[string]*source.Mailbox{}
	for name := range produced {
		cfg.Sources[name] = source.NewMailbox()
		h.feeds[name] = &feed{}
	}
	h.a = agent.New(cfg)
	for name, from := range produced {
		go h.relay(ctx, name, h.feeds[name], from, cfg.Sources[name])
	}
	done := make(chan struct{}, 2)
	go func() { w.Run(ctx, files); done <- struct{}{} }()
	go func() { h.a.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return h
}

// relay passes each listing on to the agent and returns to the next one
// only once the agent has taken it, so none is replaced unread and the
// agent's count of listings matches the feed's.
func (h *harness) relay(ctx context.Context, name string, f *feed, from, to *source.Mailbox) {
	for {
		l, err := from.Wait(ctx)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.last, f.count = l, f.count+1
		want := f.count
		f.mu.Unlock()
		to.Put(l)
		for ctx.Err() == nil {
			st, err := h.a.Status(ctx)
			if err == nil && sourceStatus(st, name).Listings >= want {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func sourceStatus(st agent.Status, name string) agent.SourceStatus {
	for _, s := range st.Sources {
		if s.Name == name {
			return s
		}
	}
	return agent.SourceStatus{}
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

// waitDelivered waits until the file source delivered a listing for which
// cond holds (an editor's intermediate state seen by a scan).
func (h *harness) waitDelivered(what string, cond func(source.Listing) bool) {
	h.t.Helper()
	testenv.Eventually(h.t, 5*time.Second, func() error {
		if l, _ := h.feeds[source.NameFile].latest(); !cond(l) {
			return fmt.Errorf("the watcher has not delivered a listing where %s", what)
		}
		return nil
	})
}

func has(l source.Listing, name string) bool {
	for _, f := range l.Files {
		if filepath.Base(f.Path) == name {
			return true
		}
	}
	return false
}

// quiesce waits until the agent has done all it will do about the folder
// as it is now: the watcher delivered the folder's content, the agent took
// and admitted every listing of every source, and no start, stop, retry or
// removal is pending. What the runtime was asked is then final, with no
// sleep for a guessed while.
func (h *harness) quiesce() {
	h.t.Helper()
	testenv.Eventually(h.t, 10*time.Second, func() error {
		if l, _ := h.feeds[source.NameFile].latest(); !sameContent(l, file.NewScanner().Scan(h.dir)) {
			return errors.New("the watcher has not delivered the folder's content yet")
		}
		st := h.status()
		for name, f := range h.feeds {
			_, count := f.latest()
			if s := sourceStatus(st, name); s.Listings != count || s.Admitting != nil {
				return fmt.Errorf("source %s: %+v, %d listings delivered", name, s, count)
			}
		}
		for _, p := range st.Pods {
			if p.Phase != "Active" && p.Phase != agent.PhaseWaiting {
				return fmt.Errorf("pod %s is %s", p.Key, p.Phase)
			}
		}
		for _, f := range st.Files {
			if f.Removing {
				return fmt.Errorf("%s is being removed", f.File)
			}
		}
		return nil
	})
}

// sameContent compares listings by their files' paths and digests.
func sameContent(a, b source.Listing) bool {
	digests := func(l source.Listing) string {
		var out []string
		for _, f := range l.Files {
			out = append(out, f.Path+"="+f.Digest+"="+f.Ignored)
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	return a.Complete == b.Complete && digests(a) == digests(b)
}

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
	h.quiesce()
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
	h.waitDelivered("web.yaml is gone", func(l source.Listing) bool { return !has(l, "web.yaml") }) // a slow save
	h.write("web.yaml", pod("web", "busybox:1"))
	os.Remove(h.path("web.yaml~"))
	h.quiesce()
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
	h.waitDelivered("web.yaml is gone", func(l source.Listing) bool { return !has(l, "web.yaml") }) // a slow save
	h.write("web.yaml", pod("web", "busybox:2"))
	os.Remove(h.path("web.yaml~"))
	h.quiesce()
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
	h.waitDelivered("sed's temp file is there", func(l source.Listing) bool { return has(l, "sedAb12Cd") })
	os.Rename(h.path("sedAb12Cd"), h.path("web.yaml"))
	h.quiesce()
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
	h.quiesce()
	if h.calls("stop") != 0 {
		t.Fatalf("a half-written manifest stopped the pod: %+v", h.rt.Calls())
	}
	h.write("web.yaml", full)
	h.quiesce()
	h.waitRunning("default/web-node1")
	if h.calls("start") != 2 || h.calls("stop") != 1 {
		t.Fatalf("calls = %+v, want exactly one replacement", h.rt.Calls())
	}
}

func TestAtomicRenameIn(t *testing.T) {
	h := start(t, fake.New(), nil)
	h.write(".web.yaml.tmp", pod("web", "busybox:1"))
	h.quiesce()
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
	h.quiesce()
	h.waitRunning("default/web-node1")
	st := h.fileStatus("web.yaml")
	if st.Verdict != admission.Rejected || !st.Stale || !strings.Contains(fmt.Sprint(st.Reasons), "syntax error") {
		t.Fatalf("file status = %+v, want rejected, stale, with the syntax error", st)
	}
	h.write("web.yaml", good)
	h.quiesce()
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
	h.quiesce()
	st := h.fileStatus("b.yaml")
	if st.Verdict != admission.Rejected || !strings.Contains(fmt.Sprint(st.Reasons), "a.yaml") {
		t.Fatalf("duplicate: %+v", st)
	}
	os.Remove(h.path("b.yaml"))
	os.Rename(h.path("a.yaml"), h.path("renamed.yaml"))
	h.quiesce()
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
	second.quiesce()
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
