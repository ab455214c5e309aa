package agent_test

import (
	"context"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/runtime/fake"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
	staticurl "github.com/staticlet/staticlet/host/source/http"
)

// TestURLSourceFlappingAndCollisions runs the file and URL sources together
// against a server that fails for a while.
func TestURLSourceFlappingAndCollisions(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if failing.Load() {
			w.WriteHeader(nethttp.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, `{"apiVersion":"v1","kind":"PodList","items":[%s,%s]}`,
			`{"metadata":{"name":"from-url"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`,
			`{"metadata":{"name":"web"},"spec":{"containers":[{"name":"c","image":"busybox:url"}]}}`)
	}))
	defer srv.Close()

	rt := fake.New()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	files, urls := source.NewMailbox(), source.NewMailbox()
	a := agent.New(agent.Config{
		Runtime:  rt,
		Pipeline: admission.New(admission.Options{NodeName: "node1"}),
		Builder:  desired.NewBuilder(removalDelay),
		Sources:  map[string]*source.Mailbox{source.NameFile: files, source.NameHTTP: urls},
	})
	h := &harness{t: t, dir: dir, rt: rt, a: a}
	h.write("web.yaml", pod("web", "busybox:file"))
	w := &file.Watcher{Root: dir, Resync: time.Hour, Debounce: 20 * time.Millisecond}
	u := &staticurl.Source{URL: srv.URL, Interval: 100 * time.Millisecond, Timeout: time.Second}
	done := make(chan struct{}, 3)
	go func() { w.Run(ctx, files); done <- struct{}{} }()
	go func() { u.Run(ctx, urls); done <- struct{}{} }()
	go func() { a.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done; <-done }()

	h.waitRunning("default/from-url-node1", "default/web-node1")
	// The file source came first by name order on first sight: it keeps
	// "web"; the URL's web is rejected naming both.
	var urlWeb desired.FileStatus
	for _, f := range h.status().Files {
		if strings.HasSuffix(f.File, "#default/web") {
			urlWeb = f
		}
	}
	if urlWeb.Verdict != admission.Rejected || !strings.Contains(fmt.Sprint(urlWeb.Reasons), "web.yaml") {
		t.Fatalf("URL duplicate: %+v", urlWeb)
	}
	// The server fails for a while: nothing stops.
	failing.Store(true)
	time.Sleep(500 * time.Millisecond)
	failing.Store(false)
	h.settle()
	h.waitRunning("default/from-url-node1", "default/web-node1")
	if h.calls("stop") != 0 || h.calls("start") != 2 {
		t.Fatalf("calls = %+v, want two starts and no stop while the URL failed", rt.Calls())
	}
	for _, f := range h.status().Files {
		if strings.HasSuffix(f.File, "#default/from-url") && (f.Verdict != admission.Accepted || f.Source != source.NameHTTP) {
			t.Fatalf("from-url: %+v", f)
		}
	}
}
