// Package statelock owns the exclusive lock that makes an agent the only one
// on its state dir: two agents sharing one would adopt, start and stop each
// other's pods.
//
// IO: creates the state dir when missing, and an flock(2) on <stateDir>/lock,
// into which the holder writes its PID so a refused agent can name it.
package statelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FileName is the lock file's name in the state dir.
const FileName = "lock"

// ErrHeld is wrapped when another process holds the lock.
var ErrHeld = errors.New("another staticlet agent holds the state dir")

// Lock is a held state-dir lock. The kernel releases it when the process
// ends, however it ends.
type Lock struct {
	file *os.File
}

// Acquire takes the lock on stateDir at once or fails: with ErrHeld,
// naming the holder's PID, when another agent has it.
func Acquire(stateDir string) (*Lock, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	path := filepath.Join(stateDir, FileName)
	// os.OpenFile opens with O_CLOEXEC: shims and log writers this agent
	// starts must not inherit the lock and keep it after the agent ends.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := holderOf(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock state dir: %s: %w (pid %s); one agent per state dir", path, ErrHeld, holder)
		}
		return nil, fmt.Errorf("lock state dir: %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state dir: write pid: %w", err)
	}
	if _, err := f.WriteAt(pid, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state dir: write pid: %w", err)
	}
	return &Lock{file: f}, nil
}

// holderOf reads the PID the holder wrote; "unknown" in the moment between
// its flock and its write.
func holderOf(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	if pid := strings.TrimSpace(string(buf[:n])); pid != "" {
		return pid
	}
	return "unknown"
}

// Release gives the lock up. The file stays: removing it would let a
// third agent lock a new file while a second still waits on the old one.
func (l *Lock) Release() error {
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("unlock state dir: %w", err)
	}
	return nil
}
