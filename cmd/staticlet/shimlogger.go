package main

import (
	"fmt"
	"os"

	"github.com/staticlet/staticlet/host/podlogs"
)

// isShimLogger reports whether containerd's shim started this process to
// write a container's logs: `staticlet shim-logger FILE[?ROTATION]`
// (podlogs.ShimLoggerArg). main checks it before anything else, since the
// shim waits for the logger to be ready before it starts the container.
func isShimLogger(args []string) bool {
	return len(args) == 2 && args[0] == podlogs.ShimLoggerCommand
}

func runShimLogger(arg string) int {
	if err := podlogs.RunShimLogger(arg); err != nil {
		// The shim discards our stderr; the kernel log is no better. The
		// agent notices a missing log file in `staticlet logs`.
		fmt.Fprintln(os.Stderr, "staticlet:", err)
		return 1
	}
	return 0
}
