package containerd

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Backoff configures a kubelet-style back-off: the first retry is at once,
// then Base, doubling up to Max; a container that ran (or an image that was
// not retried) for Reset starts over.
type Backoff struct {
	Base, Max, Reset time.Duration
}

// Kubelet defaults for crash loops and image pulls.
var (
	DefaultCrashBackoff = Backoff{Base: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute}
	DefaultImageBackoff = Backoff{Base: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute}
)

// backoffState is one container's back-off, as the kubelet keeps it: the
// delay is counted from the last retry, not from the failure.
type backoffState struct {
	delay     time.Duration
	lastRetry time.Time
}

// readyAt is the earliest time of the next retry.
func (s backoffState) readyAt(now time.Time, cfg Backoff) time.Time {
	if s.delay == 0 || now.Sub(s.lastRetry) >= cfg.Reset {
		return now
	}
	if at := s.lastRetry.Add(s.delay); at.After(now) {
		return at
	}
	return now
}

// retried records a retry at now.
func (s *backoffState) retried(now time.Time, cfg Backoff) {
	if s.delay == 0 || now.Sub(s.lastRetry) >= cfg.Reset {
		s.delay = cfg.Base
	} else {
		s.delay = min(2*s.delay, cfg.Max)
	}
	s.lastRetry = now
}

// restartWanted applies the pod's restartPolicy to a container's exit.
func restartWanted(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return true
	}
}

// terminationReason is the kubelet's reason for a terminated container.
func terminationReason(exitCode int32, oomKilled bool) string {
	switch {
	case oomKilled:
		return "OOMKilled"
	case exitCode == 0:
		return "Completed"
	default:
		return "Error"
	}
}
