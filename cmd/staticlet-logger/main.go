// Command staticlet-logger is the log writer containerd's shim starts for
// each container staticlet runs: `staticlet-logger shim-logger 'FILE?max-size=N&max-files=M'`
// reads the container's stdout and stderr from file descriptors 3 and 4,
// appends them to FILE in the CRI log format and rotates FILE as the
// kubelet rotates container logs (package podlogs; a plain FILE, as an
// older agent passes it, is never rotated). It is a
// separate, small binary because one runs per container for the container's
// whole life: it imports the standard library and podlogs only, so it
// starts fast and stays at a few MiB of memory, where the full staticlet
// binary would take about 20. `staticlet run` uses it when it sits next to
// the staticlet binary, and falls back to `staticlet shim-logger` otherwise.
//
// IO: reads the shim's pipes, creates and appends to the log file, renames,
// gzips and deletes its rotated files.
package main

import (
	"fmt"
	"os"

	"github.com/staticlet/staticlet/host/podlogs"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != podlogs.ShimLoggerCommand {
		fmt.Fprintln(os.Stderr, "usage: staticlet-logger shim-logger 'FILE[?max-size=BYTES&max-files=N]' (run by containerd's shim, not by hand)")
		os.Exit(2)
	}
	if err := podlogs.RunShimLogger(os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "staticlet-logger:", err)
		os.Exit(1)
	}
}
