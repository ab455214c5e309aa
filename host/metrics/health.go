package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition: nil when it holds, else why not.
type Check func(ctx context.Context) error

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	Address string
	Metrics *Metrics

	mu     sync.Mutex
	checks []namedCheck
}

type namedCheck struct {
	name  string
	check Check
}

// AddReadyCheck adds a condition /readyz reports on.
func (s *Server) AddReadyCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, namedCheck{name, c})
}

// Handler returns the HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		// The process answers: that is all liveness means here. A stuck
		// agent loop shows in /readyz.
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", s.readyz)
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	s.mu.Lock()
	checks := append([]namedCheck(nil), s.checks...)
	s.mu.Unlock()
	var b strings.Builder
	ok := true
	for _, c := range checks {
		if err := c.check(ctx); err != nil {
			ok = false
			fmt.Fprintf(&b, "[-] %s: %v\n", c.name, err)
		} else {
			fmt.Fprintf(&b, "[+] %s ok\n", c.name)
		}
	}
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, b.String())
		fmt.Fprintln(w, "readyz check failed")
		return
	}
	fmt.Fprint(w, b.String())
	fmt.Fprintln(w, "ok")
}

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Address)
	if err != nil {
		return fmt.Errorf("metrics: listen %s: %w", s.Address, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve: %w", err)
	}
	return nil
}
