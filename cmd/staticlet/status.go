package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

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
"restarts", "containers": [{"name", "state", "ready", "restartCount", "exitCode",
"reason"}]}], "files": [{"file", "verdict", "reasons"}], "plugins": [{"name",
"sha256", "quarantinedUntil", "consecutiveTimeouts"}], "sources": [{"name",
"complete", "listings", "admittingFiles", "admittingSince"}], "kubeletAPI": {"address",
"certificateSource", "certificateNotAfter", "waiting"}}. The table's READY is
ready/total containers, as kubectl shows it.`,
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
	pods := table{header: []string{"POD", "PHASE", "READY", "RESTARTS", "CONTAINERS", "FILE"}}
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
		ready, total := p.ReadyContainers()
		row := tableRow{cells: []string{p.Namespace + "/" + p.Name, phase, fmt.Sprintf("%d/%d", ready, total), fmt.Sprint(p.Restarts), strings.Join(cs, ","), p.File}}
		if p.LastError != "" {
			row.note = "last error: " + p.LastError
		} else if p.Message != "" {
			row.note = p.Reason + ": " + p.Message
		}
		pods.rows = append(pods.rows, row)
	}
	files := table{header: []string{"FILE", "VERDICT", "REASONS"}}
	for _, f := range st.Files {
		files.rows = append(files.rows, tableRow{cells: []string{f.File, f.Verdict, strings.Join(f.Reasons, "; ")}})
	}
	var b strings.Builder
	pods.write(&b)
	b.WriteString("\n")
	files.write(&b)
	for _, src := range st.Sources {
		if src.AdmittingFiles > 0 {
			fmt.Fprintf(&b, "\nsource %s: admitting %d files since %s (the previous listing's verdicts stay in force)\n", src.Name, src.AdmittingFiles, src.AdmittingSince)
		}
	}
	for _, p := range st.Plugins {
		if p.QuarantinedUntil != "" {
			fmt.Fprintf(&b, "\nplugin %s quarantined until %s (%d consecutive timeouts)\n", p.Name, p.QuarantinedUntil, p.ConsecutiveTimeouts)
		}
	}
	if k := st.KubeletAPI; k != nil {
		if k.Waiting != "" {
			fmt.Fprintf(&b, "\nkubelet API on %s: no serving certificate (%s): %s\n", k.Address, k.CertificateSource, k.Waiting)
		} else {
			fmt.Fprintf(&b, "\nkubelet API on %s: certificate (%s) valid until %s\n", k.Address, k.CertificateSource, k.CertificateNotAfter)
		}
	}
	if !st.Synced {
		b.WriteString("\n(the agent has not finished its first listing yet)\n")
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// table prints columns as wide as their widest cell (header included), two
// spaces apart, the last column unpadded. A row's note goes on its own
// indented line below it and widens no column.
type table struct {
	header []string
	rows   []tableRow
}

type tableRow struct {
	cells []string
	note  string
}

func (t table) write(b *strings.Builder) {
	widths := make([]int, len(t.header))
	for _, cells := range append([][]string{t.header}, t.cells()...) {
		for i, c := range cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var l strings.Builder
		for i, c := range cells {
			l.WriteString(c)
			if i < len(cells)-1 {
				l.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	line(t.header)
	for _, r := range t.rows {
		line(r.cells)
		if r.note != "" {
			b.WriteString("  " + r.note + "\n")
		}
	}
}

func (t table) cells() [][]string {
	out := make([][]string, len(t.rows))
	for i, r := range t.rows {
		out[i] = r.cells
	}
	return out
}
