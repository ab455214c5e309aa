package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond every 10 ms until it returns nil, and fails the test
// with cond's last error when it has not within the given time. Tests wait
// with it for what another goroutine does instead of sleeping for a guessed
// while; a wait for something that must not happen has no place here (drive
// the code deterministically instead).
func Eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
