package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/statusapi"
)

// localFlags are the few settings status and logs need, from --config or
// their own flags.
type localFlags struct {
	configFile   string
	statusSocket string
	podLogDir    string
}

func (f *localFlags) settings() (statusSocket, podLogDir string, err error) {
	statusSocket, podLogDir = config.DefaultStatusSocket, config.DefaultPodLogDir
	if f.configFile != "" {
		sc, err := config.LoadStaticletConfig(f.configFile)
		if err != nil {
			return "", "", usageError(err)
		}
		if sc.StatusSocket != "" {
			statusSocket = sc.StatusSocket
		}
		if sc.PodLogDir != "" {
			podLogDir = sc.PodLogDir
		}
	}
	if f.statusSocket != "" {
		statusSocket = f.statusSocket
	}
	if f.podLogDir != "" {
		podLogDir = f.podLogDir
	}
	return statusSocket, podLogDir, nil
}

func newStatusCommand() *cobra.Command {
	var flags localFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running agent's pods and manifest verdicts",
		Long: `Show the running agent's pods and manifest verdicts, asked over its status socket.

-o json prints {"pods": [{"name", "namespace", "uid", "file", "phase", "ready",
"restarts", "containers": [{"name", "state", "restartCount", "exitCode",
"reason"}]}], "files": [{"file", "verdict", "reasons"}]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usageError(fmt.Errorf("-o %q: want table or json", output))
			}
			socket, _, err := flags.settings()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := statusapi.Fetch(ctx, socket)
			if err != nil {
				return &exitError{code: exitRejected, err: err}
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return printStatusTable(cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().StringVar(&flags.configFile, "config", "", "StaticletConfiguration file to take statusSocket from")
	cmd.Flags().StringVar(&flags.statusSocket, "status-socket", "", "the agent's status socket (default "+config.DefaultStatusSocket+")")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func printStatusTable(out io.Writer, st statusapi.Status) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tPHASE\tREADY\tRESTARTS\tCONTAINERS\tFILE")
	for _, p := range st.Pods {
		var cs []string
		for _, c := range p.Containers {
			s := c.Name + "=" + c.State
			if c.Reason != "" {
				s += "(" + c.Reason
				if c.ExitCode != nil {
					s += fmt.Sprintf(", exit %d", *c.ExitCode)
				}
				s += ")"
			}
			cs = append(cs, s)
		}
		phase := p.Phase
		if p.AgentState != "" && p.AgentState != "Active" {
			phase += "/" + p.AgentState
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%v\t%d\t%s\t%s\n", p.Namespace, p.Name, phase, p.Ready, p.Restarts, strings.Join(cs, ","), p.File)
		if p.LastError != "" {
			fmt.Fprintf(tw, "  last error: %s\t\t\t\t\t\n", p.LastError)
		} else if p.Message != "" {
			fmt.Fprintf(tw, "  %s: %s\t\t\t\t\t\n", p.Reason, p.Message)
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "FILE\tVERDICT\tREASONS")
	for _, f := range st.Files {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.File, f.Verdict, strings.Join(f.Reasons, "; "))
	}
	if !st.Synced {
		fmt.Fprintln(tw, "\n(the agent has not finished its first listing yet)")
	}
	return tw.Flush()
}
