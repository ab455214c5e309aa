package containerd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestCrashLoopBackoff walks the kubelet's schedule with an injected clock:
// first restart at once, then 10 s, 20 s, ... capped at 5 min, and a reset
// after 10 min of running.
func TestCrashLoopBackoff(t *testing.T) {
	cfg := DefaultCrashBackoff
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s backoffState
	now := t0
	var delays []time.Duration
	for range 8 {
		// The container crashes one second after each restart.
		now = now.Add(time.Second)
		at := s.readyAt(now, cfg)
		delays = append(delays, at.Sub(s.lastRetry))
		now = at
		s.retried(now, cfg)
	}
	want := []time.Duration{
		t0.Add(time.Second).Sub(time.Time{}), // first: no previous retry, at once
		10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second,
	}
	for i := 1; i < len(want); i++ {
		if delays[i] != want[i] {
			t.Errorf("restart %d after %s since the previous, want %s", i+1, delays[i], want[i])
		}
	}
	// Running for 10 minutes resets the back-off: the next restart is at once.
	now = s.lastRetry.Add(10 * time.Minute)
	if at := s.readyAt(now, cfg); !at.Equal(now) {
		t.Errorf("after 10 min running, restart at %s, want now (%s)", at, now)
	}
	s.retried(now, cfg)
	if s.delay != cfg.Base {
		t.Errorf("after the reset the delay is %s, want %s", s.delay, cfg.Base)
	}
	// Just under the reset time the back-off still holds.
	s2 := backoffState{delay: 40 * time.Second, lastRetry: t0}
	if at := s2.readyAt(t0.Add(9*time.Minute), cfg); !at.Equal(t0.Add(9 * time.Minute)) {
		t.Errorf("readyAt long after the delay = %s", at)
	}
	if at := s2.readyAt(t0.Add(5*time.Second), cfg); !at.Equal(t0.Add(40 * time.Second)) {
		t.Errorf("readyAt within the delay = %s, want %s", at, t0.Add(40*time.Second))
	}
}

func TestRestartPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{
		{corev1.RestartPolicyAlways, 0, true},
		{corev1.RestartPolicyAlways, 1, true},
		{"", 0, true},
		{corev1.RestartPolicyOnFailure, 0, false},
		{corev1.RestartPolicyOnFailure, 137, true},
		{corev1.RestartPolicyNever, 0, false},
		{corev1.RestartPolicyNever, 1, false},
	} {
		if got := restartWanted(tc.policy, tc.code); got != tc.want {
			t.Errorf("restartWanted(%s, %d) = %v, want %v", tc.policy, tc.code, got, tc.want)
		}
	}
	if terminationReason(137, true) != "OOMKilled" || terminationReason(0, false) != "Completed" || terminationReason(2, false) != "Error" {
		t.Error("terminationReason mismatch")
	}
}

func TestPodPhase(t *testing.T) {
	now := time.Now()
	done := func(code int32) *corev1.ContainerStateTerminated {
		return &corev1.ContainerStateTerminated{ExitCode: code}
	}
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		views  []containerStatusView
		want   corev1.PodPhase
		ready  bool
	}{
		{"creating", corev1.RestartPolicyAlways, []containerStatusView{{name: "a"}}, corev1.PodPending, false},
		{"running", corev1.RestartPolicyAlways, []containerStatusView{{name: "a", running: true, started: true, ready: true}}, corev1.PodRunning, true},
		{"running not ready", corev1.RestartPolicyAlways, []containerStatusView{{name: "a", running: true, started: true}}, corev1.PodRunning, false},
		{"initializing", corev1.RestartPolicyAlways, []containerStatusView{{name: "i", kind: initContainer, running: true}, {name: "a"}}, corev1.PodPending, false},
		{"init failed, never", corev1.RestartPolicyNever, []containerStatusView{{name: "i", kind: initContainer, terminated: done(1)}, {name: "a"}}, corev1.PodFailed, false},
		{"initialized, sidecar not ready", corev1.RestartPolicyAlways, []containerStatusView{
			{name: "s", kind: sidecarContainer, running: true, started: true, startedOnce: true},
			{name: "i", kind: initContainer, completed: true, terminated: done(0)},
			{name: "a", running: true, started: true, ready: true}}, corev1.PodRunning, false},
		{"initialized, sidecar ready", corev1.RestartPolicyAlways, []containerStatusView{
			{name: "s", kind: sidecarContainer, running: true, started: true, startedOnce: true, ready: true},
			{name: "a", running: true, started: true, ready: true}}, corev1.PodRunning, true},
		{"crash loop", corev1.RestartPolicyAlways, []containerStatusView{{name: "a", lastTerminated: done(1),
			waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}, corev1.PodRunning, false},
		{"never failed", corev1.RestartPolicyNever, []containerStatusView{{name: "a", terminated: done(3)}}, corev1.PodFailed, false},
		{"never ok", corev1.RestartPolicyNever, []containerStatusView{{name: "a", terminated: done(0)}}, corev1.PodSucceeded, false},
		{"onfailure ok", corev1.RestartPolicyOnFailure, []containerStatusView{{name: "a", terminated: done(0)}}, corev1.PodSucceeded, false},
		{"one of two done", corev1.RestartPolicyNever, []containerStatusView{{name: "a", terminated: done(0)}, {name: "b", running: true}}, corev1.PodRunning, false},
		{"image missing", corev1.RestartPolicyAlways, []containerStatusView{{name: "a", waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull"}}}, corev1.PodPending, false},
	} {
		st := buildPodStatus(tc.policy, now, tc.views)
		if st.Phase != tc.want {
			t.Errorf("%s: phase %s, want %s", tc.name, st.Phase, tc.want)
		}
		var ready bool
		for _, c := range st.Conditions {
			if c.Type == corev1.PodReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		if ready != tc.ready {
			t.Errorf("%s: ready %v, want %v", tc.name, ready, tc.ready)
		}
	}
}

func TestContainerID(t *testing.T) {
	id := containerID("0123abcd", "Web--server_x", 3, "n1")
	if !strings.HasPrefix(id, "Web-server-x-") || !strings.HasSuffix(id, "-3-n1") {
		t.Errorf("containerID = %s, want Web-server-x-<hash>-3-n1", id)
	}
	if containerID("u1", "a", 0, "n") == containerID("u2", "a", 0, "n") || containerID("u1", "a", 0, "n") == containerID("u1", "a", 1, "n") {
		t.Error("containerID collides across pods or runs")
	}
	// Two runs under the same restart count (every run of the container was
	// removed behind the agent's back) still get IDs of their own.
	if a, b := containerID("u1", "a", 0, newRunNonce()), containerID("u1", "a", 0, newRunNonce()); a == b {
		t.Errorf("two runs with restart count 0 share the ID %s", a)
	}
	if got := sanitizeID("---"); got != "c" {
		t.Errorf("sanitizeID(---) = %q", got)
	}
}

func TestRestartCountFromLogs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  int32
	}{
		{"no folder", nil, 0},
		{"empty folder", []string{}, 0},
		{"first run's log", []string{"0.log"}, 1},
		{"kept runs", []string{"3.log", "4.log"}, 5},
		{"rotated and foreign files", []string{"2.log", "7.log.20261128-100000", "notes.txt", "x.log"}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "app")
			if tc.files != nil {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := restartCountFromLogs(dir); got != tc.want {
				t.Errorf("restartCountFromLogs(%v) = %d, want %d", tc.files, got, tc.want)
			}
		})
	}
}
