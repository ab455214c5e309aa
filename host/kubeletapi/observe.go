package kubeletapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/felixge/httpsnoop"
)

// routeOf names a request's route for metrics by its path's first segment, so a label never carries a
// pod's name.
func routeOf(r *http.Request) (route string, longRunning bool) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	if path == "metrics/resource" {
		return path, false
	}
	first, _, _ := strings.Cut(path, "/")
	switch first {
	case "exec", "attach", "portForward":
		return first, true
	case "containerLogs":
		return first, queryBool(r.URL.Query(), "follow")
	case "healthz", "pods", "run":
		return first, false
	}
	return "other", false
}

// observed reports each request to cfg.ObserveRequest when it ends. httpsnoop keeps the writer's
// Hijacker and Flusher, which the streams and followed logs need.
func (s *Server) observed(next http.Handler) http.Handler {
	observe := s.cfg.ObserveRequest
	if observe == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := 0
		w = httpsnoop.Wrap(w, httpsnoop.Hooks{
			WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
				return func(c int) {
					if code == 0 {
						code = c
					}
					next(c)
				}
			},
			Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
				return func(p []byte) (int, error) {
					if code == 0 {
						code = http.StatusOK
					}
					return next(p)
				}
			},
		})
		next.ServeHTTP(w, r)
		if code == 0 {
			code = http.StatusOK
		}
		route, longRunning := routeOf(r)
		observe(route, code, longRunning, time.Since(start))
	})
}
