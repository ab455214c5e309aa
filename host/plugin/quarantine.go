package plugin

import (
	"fmt"
	"sync"
	"time"
)

// quarantinePolicy is the quarantine options with defaults applied.
type quarantinePolicy struct {
	after               int // consecutive timeouts; negative: never
	backoff, maxBackoff time.Duration
}

// quarantine tracks one plugin's consecutive timeouts. It is shared by the
// plugin's concurrent calls, hence the lock.
type quarantine struct {
	policy quarantinePolicy

	mu       sync.Mutex
	timeouts int       // consecutive timed-out calls
	until    time.Time // calls fail at once before this
	// backoff is the length of the last quarantine, 0 when the plugin has
	// not been quarantined since its last good call: a timeout while it is
	// set quarantines again at once, for twice as long.
	backoff time.Duration
}

// QuarantineState is a plugin's quarantine as status shows it.
type QuarantineState struct {
	// Until is when the plugin's calls are tried again; zero when it is
	// not quarantined.
	Until time.Time `json:"until,omitempty"`
	// ConsecutiveTimeouts counts the timed-out calls since the last call
	// that did not time out.
	ConsecutiveTimeouts int `json:"consecutiveTimeouts,omitempty"`
}

// admit returns ErrQuarantined while the plugin is quarantined at now.
func (q *quarantine) admit(now time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Before(q.until) {
		return fmt.Errorf("%w: not called until %s (%d consecutive timeouts)", ErrQuarantined, q.until.UTC().Format(time.RFC3339), q.timeouts)
	}
	return nil
}

// record counts a call's outcome; entered is true when this call put the
// plugin into quarantine, until when it ends.
func (q *quarantine) record(now time.Time, timedOut bool) (entered bool, until time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !timedOut {
		q.timeouts, q.backoff, q.until = 0, 0, time.Time{}
		return false, time.Time{}
	}
	q.timeouts++
	switch {
	case q.policy.after < 0:
		return false, time.Time{}
	case q.backoff > 0:
		q.backoff = min(2*q.backoff, q.policy.maxBackoff)
	case q.timeouts >= q.policy.after:
		q.backoff = q.policy.backoff
	default:
		return false, time.Time{}
	}
	q.until = now.Add(q.backoff)
	return true, q.until
}

func (q *quarantine) state(now time.Time) QuarantineState {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := QuarantineState{ConsecutiveTimeouts: q.timeouts}
	if now.Before(q.until) {
		s.Until = q.until
	}
	return s
}
