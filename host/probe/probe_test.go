package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func spec(delay, period time.Duration, success, failure int32) *Spec {
	return &Spec{InitialDelay: delay, Period: period, Timeout: time.Second, SuccessThreshold: success, FailureThreshold: failure}
}

var (
	pass = Result{OK: true}
	fail = Result{Message: "no"}
)

func TestNoProbes(t *testing.T) {
	m := New(t0, nil, nil, nil)
	if st := m.State(); !st.Started || !st.Ready {
		t.Errorf("state %+v, want started and ready", st)
	}
	if _, _, ok := m.Due(); ok {
		t.Error("a machine without probes has something due")
	}
}

func TestReadinessThresholds(t *testing.T) {
	m := New(t0, nil, nil, spec(5*time.Second, 2*time.Second, 2, 3))
	if m.State().Ready {
		t.Fatal("ready before the readiness probe passed")
	}
	kind, at, ok := m.Due()
	if !ok || kind != Readiness || !at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("first run %v at %v (%v), want readiness after the initial delay", kind, at, ok)
	}
	now := at
	step := func(r Result) (State, bool) {
		st, changed := m.Record(Readiness, r, now)
		_, next, _ := m.Due()
		if !next.Equal(now.Add(2 * time.Second)) {
			t.Fatalf("next run at %v, want a period later", next)
		}
		now = next
		return st, changed
	}
	if st, changed := step(pass); changed || st.Ready {
		t.Fatal("one success of two made it ready")
	}
	if st, changed := step(pass); !changed || !st.Ready {
		t.Fatal("two successes did not make it ready")
	}
	step(fail)
	step(fail)
	if st, changed := step(fail); !changed || st.Ready || st.Kill {
		t.Fatalf("three failures: %+v, want not ready and no kill", st)
	}
}

func TestStartupGatesAndLivenessKills(t *testing.T) {
	m := New(t0, spec(0, time.Second, 1, 3), spec(time.Second, time.Second, 1, 2), spec(0, time.Second, 1, 1))
	if st := m.State(); st.Started || st.Ready {
		t.Fatalf("state %+v before startup", st)
	}
	kind, _, _ := m.Due()
	if kind != Startup {
		t.Fatalf("first probe %v, want startup alone", kind)
	}
	now := t0
	m.Record(Startup, fail, now)
	now = now.Add(time.Second)
	st, changed := m.Record(Startup, pass, now)
	if !changed || !st.Started || st.Ready {
		t.Fatalf("after startup: %+v", st)
	}
	kind, at, _ := m.Due()
	if kind != Readiness || !at.Equal(now) {
		t.Fatalf("after startup: %v due at %v, want readiness now", kind, at)
	}
	if st, _ := m.Record(Readiness, pass, now); !st.Ready {
		t.Fatal("readiness passed but not ready")
	}
	now = now.Add(time.Second)
	m.Record(Liveness, fail, now)
	st, changed = m.Record(Liveness, fail, now.Add(time.Second))
	if !changed || !st.Kill || st.Ready {
		t.Fatalf("two liveness failures: %+v, want kill", st)
	}
	if _, _, ok := m.Due(); ok {
		t.Error("probes still due after a kill")
	}
}

func TestStartupFailureKills(t *testing.T) {
	m := New(t0, spec(0, time.Second, 1, 2), nil, nil)
	m.Record(Startup, fail, t0)
	if st, changed := m.Record(Startup, fail, t0.Add(time.Second)); !changed || !st.Kill {
		t.Fatalf("startup failed its threshold: %+v", st)
	}
}

func TestHTTPGetAndTCP(t *testing.T) {
	var gotHost, gotAgent, gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotAgent, gotHeader = r.Host, r.UserAgent(), r.Header.Get("X-Probe")
		if r.URL.Path != "/healthz" {
			http.Error(w, "nope", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tls.Close()
	port := func(s *httptest.Server) int32 { return int32(s.Listener.Addr().(*net.TCPAddr).Port) }
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port(srv)}}}
	var d net.Dialer
	ctx := context.Background()
	a := &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP,
		HTTPHeaders: []corev1.HTTPHeader{{Name: "Host", Value: "example.test"}, {Name: "X-Probe", Value: "1"}}}
	if r := HTTPGet(ctx, d.DialContext, a, c, "127.0.0.1"); !r.OK {
		t.Errorf("httpGet: %s", r.Message)
	}
	if gotHost != "example.test" || gotAgent != UserAgent || gotHeader != "1" {
		t.Errorf("request host %q agent %q header %q", gotHost, gotAgent, gotHeader)
	}
	a.Path = "/other"
	if r := HTTPGet(ctx, d.DialContext, a, c, "127.0.0.1"); r.OK || r.StatusCode != http.StatusInternalServerError {
		t.Errorf("httpGet on a 500: ok %v status %d", r.OK, r.StatusCode)
	}
	https := &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(port(tls)), Scheme: corev1.URISchemeHTTPS}
	if r := HTTPGet(ctx, d.DialContext, https, c, "127.0.0.1"); !r.OK {
		t.Errorf("https without verification: %s", r.Message)
	}
	if r := TCPSocket(ctx, d.DialContext, &corev1.TCPSocketAction{Port: intstr.FromInt32(port(srv))}, c, "127.0.0.1"); !r.OK {
		t.Errorf("tcpSocket: %s", r.Message)
	}
	if _, err := ResolvePort(intstr.FromString("missing"), c); err == nil {
		t.Error("an unknown port name resolved")
	}
}

func TestGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	defer srv.Stop()
	var d net.Dialer
	port := int32(lis.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r := GRPC(ctx, d.DialContext, &corev1.GRPCAction{Port: port}, "127.0.0.1"); !r.OK {
		t.Errorf("grpc health of the server: %s", r.Message)
	}
	db := "db"
	if r := GRPC(ctx, d.DialContext, &corev1.GRPCAction{Port: port, Service: &db}, "127.0.0.1"); r.OK {
		t.Error("a NOT_SERVING service passed")
	}
}

// TestResume: a run adopted after an agent restart keeps the verdicts the earlier agent reached, as the
// kubelet keeps them across its restarts; the probes then confirm or overturn them.
func TestResume(t *testing.T) {
	resumeAt := t0.Add(time.Hour)
	tests := []struct {
		name                         string
		startup, liveness, readiness *Spec
		prior                        State
		want                         State
		firstDue                     Kind
		nothingDue                   bool
	}{
		{name: "started and ready, startup and readiness probes", startup: spec(time.Second, time.Second, 1, 3), readiness: spec(time.Second, time.Second, 1, 3),
			prior: State{Started: true, Ready: true}, want: State{Started: true, Ready: true}, firstDue: Readiness},
		{name: "started, not ready", startup: spec(time.Second, time.Second, 1, 3), readiness: spec(time.Second, time.Second, 1, 3),
			prior: State{Started: true}, want: State{Started: true}, firstDue: Readiness},
		{name: "not started yet: probes start over", startup: spec(time.Second, time.Second, 1, 3), readiness: spec(time.Second, time.Second, 1, 3),
			prior: State{}, want: State{}, firstDue: Startup},
		{name: "liveness only", liveness: spec(30*time.Second, 10*time.Second, 1, 3),
			prior: State{Started: true, Ready: true}, want: State{Started: true, Ready: true}, firstDue: Liveness},
		{name: "startup only: nothing left to run", startup: spec(0, time.Second, 1, 3),
			prior: State{Started: true, Ready: true}, want: State{Started: true, Ready: true}, nothingDue: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(resumeAt, tt.startup, tt.liveness, tt.readiness)
			m.Resume(tt.prior, resumeAt)
			if st := m.State(); st != tt.want {
				t.Errorf("state %+v, want %+v", st, tt.want)
			}
			kind, at, ok := m.Due()
			if ok == tt.nothingDue {
				t.Fatalf("due %v at %v (%v), want nothing due: %v", kind, at, ok, tt.nothingDue)
			}
			if ok && (kind != tt.firstDue || (tt.prior.Started && !at.Equal(resumeAt))) {
				t.Errorf("first due %v at %v, want %v", kind, at, tt.firstDue)
			}
		})
	}

	// A resumed ready run stays ready through failures under the threshold and turns unready at it.
	m := New(resumeAt, nil, nil, spec(0, time.Second, 1, 2))
	m.Resume(State{Started: true, Ready: true}, resumeAt)
	if st, changed := m.Record(Readiness, fail, resumeAt); changed || !st.Ready {
		t.Errorf("one failure of two: %+v", st)
	}
	if st, changed := m.Record(Readiness, fail, resumeAt.Add(time.Second)); !changed || st.Ready {
		t.Errorf("two failures of two: %+v, want not ready", st)
	}
}
