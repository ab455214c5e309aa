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
// binary://<staticlet>?shim-logger=<ShimLoggerArg>, which the shim turns into
// the command line `<staticlet> shim-logger <log file>[?<rotation>]`.
const ShimLoggerCommand = "shim-logger"

// RunShimLogger is the body of the logging process: it appends the records of
// file descriptors 3 (stdout) and 4 (stderr) to the log file arg names
// (ShimLoggerArg), rotating it as arg says, after telling the shim it is
// ready by closing descriptor 5. It returns when both streams end, which is
// when the container's processes are gone, once the rotated files are
// tidied.
func RunShimLogger(arg string) error {
	// The shim sends SIGTERM when the task is deleted; the streams are closed
	// by then, so finishing the copy is both safe and what keeps the tail.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	stdout, stderr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	if stdout == nil || stderr == nil || ready == nil {
		return errors.New("shim logger: file descriptors 3, 4 and 5 must be open (run by containerd's shim only)")
	}
	path, rot, err := ParseShimLoggerArg(arg)
	if err != nil {
		ready.Close()
		return fmt.Errorf("shim logger: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		ready.Close()
		return fmt.Errorf("shim logger: %w", err)
	}
	f, err := OpenRotatingFile(path, rot, nil)
	if err != nil {
		ready.Close()
		return fmt.Errorf("shim logger: %w", err)
	}
	if err := ready.Close(); err != nil {
		f.Close()
		return fmt.Errorf("shim logger: signal ready: %w", err)
	}
	w := NewWriter(f, nil)
	errs := make(chan error, 2)
	go func() { errs <- w.CopyStream(Stdout, stdout) }()
	go func() { errs <- w.CopyStream(Stderr, stderr) }()
	copyErr := errors.Join(<-errs, <-errs)
	if err := f.Close(); err != nil {
		return errors.Join(copyErr, fmt.Errorf("shim logger: %w", err))
	}
	return copyErr
}
