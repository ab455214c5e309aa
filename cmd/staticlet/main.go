// Command staticlet is the node agent for Kubernetes static pods: `run` the
// agent, `check` manifests as the agent would, and more. See README.md.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes shared by all subcommands.
const (
	exitOK       = 0
	exitRejected = 1
	exitUsage    = 2
)

// exitError carries a specific exit code out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "staticlet",
		Short:         "Node agent for Kubernetes static pods with Wasm admission plugins",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(newCheckCommand(), newRunCommand(), newStatusCommand(), newLogsCommand(), newPluginCommand(), newVersionCommand())
	return root
}

func main() {
	if isShimLogger(os.Args[1:]) {
		os.Exit(runShimLogger(os.Args[2]))
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "staticlet:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "staticlet:", err)
	// Unknown commands and bad arguments are usage errors.
	return exitUsage
}
