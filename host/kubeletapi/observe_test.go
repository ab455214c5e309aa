package kubeletapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/staticlet/staticlet/internal/testenv"
)

type observation struct {
	route       string
	code        int
	longRunning bool
}

// TestObserveRequestSeesEveryEndedRequest: routes are named without pod names, upgraded streams count
// as 101 and long-running, a followed log as long-running, errors with their codes.
func TestObserveRequestSeesEveryEndedRequest(t *testing.T) {
	var mu sync.Mutex
	var seen []observation
	cfg := openConfig(t, writeLogs(t))
	cfg.ObserveRequest = func(route string, code int, longRunning bool, took time.Duration) {
		if took <= 0 {
			t.Errorf("%s: took %s", route, took)
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, observation{route, code, longRunning})
	}
	s, err := New(cfg, newFakePods(), fakeContainers{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	for _, path := range []string{"/healthz", "/pods", "/containerLogs/default/nobody/app", "/containerLogs/default/web-worker-1/app?follow=false", "/configz"} {
		get(t, ts.Client(), ts.URL+path)
	}
	if _, err := spdyStream(nil, http.MethodPost, ts.URL+"/exec/default/web-worker-1/app?command=echo&command=hi&output=1&error=1", nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	want := []observation{
		{"healthz", 200, false}, {"pods", 200, false}, {"containerLogs", 404, false}, {"containerLogs", 200, false},
		{"other", 404, false}, {"exec", 101, true},
	}
	// The exec's handler ends just after the client has its status.
	testenv.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != len(want) {
			return fmt.Errorf("observed %+v, want %+v", seen, want)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("request %d observed as %+v, want %+v", i, seen[i], want[i])
		}
	}
	if route, _ := routeOf(httptest.NewRequest(http.MethodGet, "/metrics/resource", nil)); route != "metrics/resource" {
		t.Errorf("/metrics/resource is route %s", route)
	}
	if route, long := routeOf(httptest.NewRequest(http.MethodGet, "/containerLogs/ns/p/c?follow=true", nil)); route != "containerLogs" || !long {
		t.Errorf("a followed log is %s, long-running %v", route, long)
	}
}
