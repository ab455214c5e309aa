package agent_test

import (
	"context"
	"errors"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/runtime/fake"
	"github.com/staticlet/staticlet/host/source"
	staticurl "github.com/staticlet/staticlet/host/source/http"
	"github.com/staticlet/staticlet/internal/testenv"
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
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(pod("web", "busybox:file")), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &staticurl.Source{URL: srv.URL, Interval: 100 * time.Millisecond, Timeout: time.Second}
	urls := source.NewMailbox()
	fetched := make(chan struct{})
	go func() { u.Run(ctx, urls); close(fetched) }()
	defer func() { cancel(); <-fetched }()
	h := startConfigured(t, rt, dir, func(cfg *agent.Config) { cfg.Sources[source.NameHTTP] = urls })

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
	// The server fails for a while (the agent takes two failed fetches):
	// nothing stops.
	urlFeed := h.feeds[source.NameHTTP]
	_, before := urlFeed.latest()
	failing.Store(true)
	var failed uint64
	testenv.Eventually(t, 5*time.Second, func() error {
		if l, n := urlFeed.latest(); !l.Complete && n >= before+2 {
			failed = n
			return nil
		}
		return errors.New("the agent has not taken two failed fetches yet")
	})
	failing.Store(false)
	testenv.Eventually(t, 5*time.Second, func() error {
		if l, n := urlFeed.latest(); !l.Complete || n <= failed {
			return errors.New("the agent has not taken an answer since the server recovered")
		}
		return nil
	})
	h.quiesce()
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
