package podlogs

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// ShimLoggerCommand is the first argument containerd's shim passes to the
// logging binary: the runtime builds the log URI
// binary://<staticlet>?shim-logger=<log file>, which the shim turns into the
// command line `<staticlet> shim-logger <log file>`.
const ShimLoggerCommand = "shim-logger"

// RunShimLogger is the body of the logging process: it appends the records of
// file descriptors 3 (stdout) and 4 (stderr) to path, after telling the shim
// it is ready by closing descriptor 5. It returns when both streams end,
// which is when the container's processes are gone.
func RunShimLogger(path string) error {
	// The shim sends SIGTERM when the task is deleted; the streams are closed
	// by then, so finishing the copy is both safe and what keeps the tail.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	stdout, stderr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	if stdout == nil || stderr == nil || ready == nil {
		return errors.New("shim logger: file descriptors 3, 4 and 5 must be open (run by containerd's shim only)")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		ready.Close()
		return fmt.Errorf("shim logger: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		ready.Close()
		return fmt.Errorf("shim logger: %w", err)
	}
	defer f.Close()
	if err := ready.Close(); err != nil {
		return fmt.Errorf("shim logger: signal ready: %w", err)
	}
	w := NewWriter(f, nil)
	errs := make(chan error, 2)
	go func() { errs <- w.CopyStream(Stdout, stdout) }()
	go func() { errs <- w.CopyStream(Stderr, stderr) }()
	return errors.Join(<-errs, <-errs)
}
