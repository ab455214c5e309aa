package http

import (
	"context"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/manifest"
	"github.com/staticlet/staticlet/host/source"
)

const podYAML = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: busybox}]\n"

const podList = `{"apiVersion":"v1","kind":"PodList","items":[
 {"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"busybox"}]}},
 {"metadata":{"name":"b","namespace":"kube-system"},"spec":{"containers":[{"name":"c","image":"busybox"}]}},
 {"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}]}`

func TestPodAndPodList(t *testing.T) {
	body := podYAML
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.Header.Get("Authorization") != "Bearer t" {
			w.WriteHeader(nethttp.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	s := &Source{URL: srv.URL, Header: map[string][]string{"Authorization": {"Bearer t"}}}
	l := s.Fetch(context.Background())
	if !l.Complete || len(l.Files) != 1 || l.Files[0].Path != srv.URL || l.Files[0].Source != "http" {
		t.Fatalf("pod: %+v", l)
	}
	if _, err := manifest.Decode(l.Files[0].Content); err != nil {
		t.Fatalf("entry does not decode: %v", err)
	}
	body = podList
	l = s.Fetch(context.Background())
	if !l.Complete || len(l.Files) != 3 {
		t.Fatalf("list: %+v", l)
	}
	want := []string{srv.URL + "#default/a", srv.URL + "#kube-system/b", srv.URL + "#items[2]"}
	for i, f := range l.Files {
		if f.Path != want[i] {
			t.Errorf("entry %d path %s, want %s", i, f.Path, want[i])
		}
		doc, err := manifest.Decode(f.Content)
		if err != nil || doc.Pod.Kind != "Pod" {
			t.Errorf("entry %d: %v", i, err)
		}
	}
}

func TestETagAndUnchangedBody(t *testing.T) {
	var full, notModified atomic.Int32
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			notModified.Add(1)
			w.WriteHeader(nethttp.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", `"v1"`)
		fmt.Fprint(w, podYAML)
	}))
	defer srv.Close()
	s := &Source{URL: srv.URL}
	first := s.Fetch(context.Background())
	second := s.Fetch(context.Background())
	if full.Load() != 1 || notModified.Load() != 1 {
		t.Fatalf("full %d, 304 %d", full.Load(), notModified.Load())
	}
	if !second.Complete || second.Files[0].Digest != first.Files[0].Digest {
		t.Fatalf("304 must give the previous listing: %+v", second)
	}
}

func TestFailuresAreIncomplete(t *testing.T) {
	huge := strings.Repeat("#", manifest.MaxSize+10)
	cases := map[string]struct {
		handler func(w nethttp.ResponseWriter, r *nethttp.Request)
		note    string
	}{
		"500":        {func(w nethttp.ResponseWriter, r *nethttp.Request) { w.WriteHeader(500) }, "500"},
		"404":        {func(w nethttp.ResponseWriter, r *nethttp.Request) { w.WriteHeader(404) }, "404"},
		"huge":       {func(w nethttp.ResponseWriter, r *nethttp.Request) { fmt.Fprint(w, huge) }, "larger than"},
		"garbage":    {func(w nethttp.ResponseWriter, r *nethttp.Request) { fmt.Fprint(w, "{{{{") }, "not a Kubernetes object"},
		"deployment": {func(w nethttp.ResponseWriter, r *nethttp.Request) { fmt.Fprint(w, `{"kind":"Deployment"}`) }, "not a Pod or PodList"},
		"slow": {func(w nethttp.ResponseWriter, r *nethttp.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}, "deadline"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(nethttp.HandlerFunc(tc.handler))
			defer srv.Close()
			timeout := 300 * time.Millisecond
			if name == "huge" {
				timeout = 10 * time.Second // the body must arrive whole to be measured
			}
			s := &Source{URL: srv.URL, Timeout: timeout}
			start := time.Now()
			l := s.Fetch(context.Background())
			if l.Complete || !strings.Contains(l.Note, tc.note) {
				t.Fatalf("listing %+v, want incomplete mentioning %q", l, tc.note)
			}
			if name != "huge" && time.Since(start) > 2*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
	s := &Source{URL: "http://127.0.0.1:1/pods", Timeout: time.Second}
	if l := s.Fetch(context.Background()); l.Complete {
		t.Fatal("connection refused must be incomplete")
	}
}

// TestSetInterval: a running source with a long interval fetches again
// soon after SetInterval shortens it.
func TestSetInterval(t *testing.T) {
	fetched := make(chan struct{}, 16)
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprint(w, podYAML)
		fetched <- struct{}{}
	}))
	defer srv.Close()
	s := &Source{URL: srv.URL, Interval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, source.NewMailbox()) }()
	defer func() { cancel(); <-done }()
	<-fetched // the fetch at start
	s.SetInterval(10 * time.Millisecond)
	select {
	case <-fetched:
	case <-time.After(30 * time.Second):
		t.Fatal("no fetch after the interval was shortened to 10ms")
	}
}
