// Package probe owns the Kubernetes semantics of container probes: when the
// startup, liveness and readiness probes of one container run (initial
// delay, period, startup gating the others) and how their results become
// verdicts (success and failure thresholds), in Machine; and the network
// checks (httpGet, tcpSocket, grpc) in check.go.
//
// Machine is pure: no IO, no clock, no goroutines; callers pass the time.
// The checks do network IO only through the dial function they are given,
// so a caller decides which network namespace a probe sees.
package probe

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Kind is which of a container's probes.
type Kind int

// The three probes, in the order the kubelet gates them.
const (
	Startup Kind = iota
	Liveness
	Readiness
)

func (k Kind) String() string {
	switch k {
	case Startup:
		return "startup"
	case Liveness:
		return "liveness"
	}
	return "readiness"
}

// Result is one probe run's outcome.
type Result struct {
	OK bool
	// Message says why a run failed (output, status, error).
	Message string
	// StatusCode is an httpGet check's response status, 0 without a
	// response. Lifecycle hooks use it: the kubelet fails an httpGet hook
	// only when no response came.
	StatusCode int
}

// Spec is one probe's timing and thresholds, from a defaulted corev1.Probe.
type Spec struct {
	InitialDelay, Period, Timeout      time.Duration
	SuccessThreshold, FailureThreshold int32
}

// SpecOf reads p's timing, applying the API server's defaults to zeros.
func SpecOf(p *corev1.Probe) Spec {
	s := Spec{
		InitialDelay:     time.Duration(p.InitialDelaySeconds) * time.Second,
		Period:           time.Duration(p.PeriodSeconds) * time.Second,
		Timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		SuccessThreshold: p.SuccessThreshold,
		FailureThreshold: p.FailureThreshold,
	}
	if s.Period <= 0 {
		s.Period = 10 * time.Second
	}
	if s.Timeout <= 0 {
		s.Timeout = time.Second
	}
	if s.SuccessThreshold <= 0 {
		s.SuccessThreshold = 1
	}
	if s.FailureThreshold <= 0 {
		s.FailureThreshold = 3
	}
	return s
}

// State is what the probes say about the container's current run.
type State struct {
	// Started: the startup probe succeeded, or there is none.
	Started bool
	// Ready: started, and the readiness probe's verdict is success (or
	// there is none).
	Ready bool
	// Kill is set when the startup or liveness probe failed its threshold:
	// the container must be killed and its restart policy applied.
	Kill bool
	// Message explains Kill.
	Message string
}

type tracker struct {
	spec                Spec
	ok                  bool
	successes, failures int32
	next                time.Time
}

// observe applies one result; it reports whether the verdict flipped.
func (t *tracker) observe(r Result) bool {
	if r.OK {
		t.failures = 0
		t.successes++
		if !t.ok && t.successes >= t.spec.SuccessThreshold {
			t.ok = true
			return true
		}
		return false
	}
	t.successes = 0
	t.failures++
	if t.ok && t.failures >= t.spec.FailureThreshold {
		t.ok = false
		return true
	}
	return false
}

// Machine schedules one container run's probes and turns their results
// into a State. Zero-value Machines are not usable; see New.
type Machine struct {
	probes [3]*tracker
	state  State
	done   bool
}

// New returns the machine of a run that started at start, with the probes
// that specs has (nil: none of that kind).
func New(start time.Time, startup, liveness, readiness *Spec) *Machine {
	m := &Machine{}
	for kind, s := range [3]*Spec{startup, liveness, readiness} {
		if s == nil {
			continue
		}
		t := &tracker{spec: *s, next: start.Add(s.InitialDelay)}
		// Liveness counts as passing until it fails its threshold;
		// startup and readiness as failing until they pass theirs.
		t.ok = Kind(kind) == Liveness
		m.probes[kind] = t
	}
	m.state.Started = startup == nil
	m.state.Ready = m.state.Started && readiness == nil
	if startup != nil {
		// The others begin once startup succeeded.
		for _, k := range []Kind{Liveness, Readiness} {
			if t := m.probes[k]; t != nil {
				t.next = time.Time{}
			}
		}
	}
	return m
}

// State is the current verdict.
func (m *Machine) State() State { return m.state }

// Due returns the probe to run next and when; ok is false once no probe is
// left to run (none configured, or the container is to be killed).
func (m *Machine) Due() (kind Kind, at time.Time, ok bool) {
	if m.done {
		return 0, time.Time{}, false
	}
	for k, t := range m.probes {
		if t == nil || t.next.IsZero() {
			continue
		}
		if !ok || t.next.Before(at) {
			kind, at, ok = Kind(k), t.next, true
		}
	}
	return kind, at, ok
}

// Timeout is how long one run of kind may take.
func (m *Machine) Timeout(kind Kind) time.Duration {
	if t := m.probes[kind]; t != nil {
		return t.spec.Timeout
	}
	return time.Second
}

// Record applies the result of a run of kind that ended at now and
// schedules its next run; changed reports a new State.
func (m *Machine) Record(kind Kind, r Result, now time.Time) (st State, changed bool) {
	t := m.probes[kind]
	if t == nil || m.done {
		return m.state, false
	}
	t.next = now.Add(t.spec.Period)
	flipped := t.observe(r)
	old := m.state
	switch kind {
	case Startup:
		switch {
		case flipped && t.ok:
			m.state.Started = true
			t.next = time.Time{} // startup runs until it succeeds once
			for _, k := range []Kind{Liveness, Readiness} {
				if o := m.probes[k]; o != nil {
					o.next = now.Add(o.spec.InitialDelay)
				}
			}
			m.state.Ready = m.probes[Readiness] == nil
		case !t.ok && t.failures >= t.spec.FailureThreshold:
			m.kill(fmt.Sprintf("startup probe failed %d times: %s", t.failures, r.Message))
		}
	case Liveness:
		if flipped && !t.ok {
			m.kill(fmt.Sprintf("liveness probe failed %d times: %s", t.failures, r.Message))
		}
	case Readiness:
		if flipped {
			m.state.Ready = t.ok && m.state.Started
		}
	}
	return m.state, m.state != old
}

func (m *Machine) kill(message string) {
	m.done = true
	m.state.Kill, m.state.Message, m.state.Ready = true, message, false
}

// Resume carries the verdict an earlier agent reached on this same run into a machine New made for it at
// now, as the kubelet does after a restart for a container that ran before it (prober_manager's
// isContainerStarted and setReadyStateOnKubeletRestart): a run that had started stays started and runs no
// startup probe again, its liveness and readiness probes run at once (their initial delays passed long
// ago), and a run that was ready stays ready until its readiness probe fails its threshold. The verdicts
// are confirmed, never invented: a prior state that was not started changes nothing.
func (m *Machine) Resume(prior State, now time.Time) {
	if m.done || !prior.Started {
		return
	}
	if su := m.probes[Startup]; su != nil && !m.state.Started {
		su.ok, su.next = true, time.Time{}
		m.state.Started = true
	}
	for _, k := range []Kind{Liveness, Readiness} {
		if t := m.probes[k]; t != nil {
			t.next = now
		}
	}
	if rd := m.probes[Readiness]; rd != nil {
		rd.ok = prior.Ready
	}
	m.state.Ready = m.probes[Readiness] == nil || prior.Ready
}
