package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/staticlet/staticlet/host/plugin"
)

func newPluginBenchCommand() *cobra.Command {
	f := &pluginFlags{}
	var calls int
	cmd := &cobra.Command{
		Use:   "bench --plugin F.wasm [--settings F] [--op validate|mutate|name] [-n CALLS] MANIFEST",
		Short: "Measure a plugin's load time and per-call latency",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if calls < 1 {
				return usageError(errors.New("-n: must be at least 1"))
			}
			op, err := f.operation()
			if err != nil {
				return err
			}
			file, node, err := f.manifestFile(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			start := time.Now()
			chain, err := loadOne(ctx, f, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			load := time.Since(start)
			defer chain.Close(context.Background())
			// The agent's pipeline builds the request once; the timed
			// calls repeat it without the pipeline around them.
			first, err := runOperation(ctx, chain, op, file, node)
			if err != nil {
				return err
			}
			req := first.Request
			call := func() error {
				var rep plugin.Report
				switch op {
				case plugin.OpValidate:
					res, err := chain.Validate(ctx, req)
					if err != nil {
						return err
					}
					rep = res.Report
				case plugin.OpMutate:
					res, err := chain.Mutate(ctx, req)
					if err != nil {
						return err
					}
					rep = res.Report
				case plugin.OpName:
					res, err := chain.Name(ctx, req)
					if err != nil {
						return err
					}
					rep = res.Report
				}
				if len(rep.Errors) > 0 {
					return rep.Errors[0]
				}
				return nil
			}
			if err := call(); err != nil { // the first call also warms up
				return &exitError{code: exitUsage, err: err}
			}
			durations := make([]time.Duration, 0, calls)
			var total time.Duration
			for range calls {
				t := time.Now()
				if err := call(); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				d := time.Since(t)
				durations = append(durations, d)
				total += d
			}
			slices.Sort(durations)
			pct := func(p int) time.Duration { return durations[min(len(durations)-1, len(durations)*p/100)] }
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "plugin\t%s\n", f.path)
			fmt.Fprintf(tw, "operation\t%s\n", op)
			fmt.Fprintf(tw, "load (compile or cache hit, instantiate, checks)\t%s\n", load.Round(time.Microsecond))
			fmt.Fprintf(tw, "calls\t%d\n", calls)
			fmt.Fprintf(tw, "mean\t%s\n", (total / time.Duration(calls)).Round(time.Microsecond))
			fmt.Fprintf(tw, "p50\t%s\n", pct(50).Round(time.Microsecond))
			fmt.Fprintf(tw, "p90\t%s\n", pct(90).Round(time.Microsecond))
			fmt.Fprintf(tw, "p99\t%s\n", pct(99).Round(time.Microsecond))
			fmt.Fprintf(tw, "max\t%s\n", durations[len(durations)-1].Round(time.Microsecond))
			return tw.Flush()
		},
	}
	f.registerPlugin(cmd)
	f.registerRequest(cmd)
	cmd.Flags().IntVarP(&calls, "calls", "n", 1000, "number of timed calls")
	return cmd
}
