package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/statelock"
)

// TestRunRefusesAHeldStateDir: `staticlet run` on a state dir another agent
// holds exits at once (before reaching containerd) naming the holder's PID.
func TestRunRefusesAHeldStateDir(t *testing.T) {
	state := t.TempDir()
	held, err := statelock.Acquire(state)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	begin := time.Now()
	code, _, errOut := runCLI(t, "run", "--node-name", "n1", "--pod-manifest-path", t.TempDir(), "--state-dir", state,
		"--containerd-address", filepath.Join(t.TempDir(), "none.sock"), "--status-socket", filepath.Join(t.TempDir(), "s.sock"), "--metrics-address", "off")
	if code != exitUsage || !strings.Contains(errOut, "another staticlet agent holds the state dir (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("refusing took %s", took)
	}
}
