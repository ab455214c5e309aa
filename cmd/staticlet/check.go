package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/logging"
	"github.com/staticlet/staticlet/host/plan"
	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
)

type checkOutput struct {
	Manifests []checkEntry `json:"manifests"`
}

type checkEntry struct {
	File      string             `json:"file"`
	Verdict   admission.Verdict  `json:"verdict"`
	Name      string             `json:"name,omitempty"`
	Namespace string             `json:"namespace,omitempty"`
	UID       string             `json:"uid,omitempty"`
	Reasons   []string           `json:"reasons"`
	Details   []admission.Reason `json:"details,omitempty"`
	Warnings  []string           `json:"warnings,omitempty"`
	Audit     []string           `json:"audit,omitempty"`
	Mutations []string           `json:"mutations,omitempty"`
	// StartAfter says what the staticlet.dev/start-after annotation will
	// make the pod wait for that no manifest checked provides, or the cycle
	// it is on (then StartAfterCycle is set and check fails).
	StartAfter      string      `json:"startAfter,omitempty"`
	StartAfterCycle bool        `json:"startAfterCycle,omitempty"`
	Pod             *corev1.Pod `json:"pod,omitempty"`
}

func newCheckCommand() *cobra.Command {
	var flags settingsFlags
	var output string
	cmd := &cobra.Command{
		Use:   "check [PATH...]",
		Short: "Read manifests exactly as the agent would and print each file's verdict",
		Long: `check reads the given files and folders (default: staticPodPath) with the agent's own code
path (file rules, decoding, defaulting, validation, what the containerd runtime cannot run on this
host, duplicate names) and prints per file the verdict
and the resulting pod, and what staticlet.dev/start-after annotations wait for that no manifest
checked provides. Exit status: 0 when every manifest is accepted, 1 when any is rejected or on a
start-after cycle (those pods would never start), 2 on a usage or configuration error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "table", "json", "yaml":
			default:
				return usageError(fmt.Errorf("-o %q: must be table, json or yaml", output))
			}
			settings, err := flags.resolve()
			if err != nil {
				return err
			}
			roots := args
			if len(roots) == 0 {
				roots = []string{settings.PodManifestPath}
			}
			log, err := logging.New(cmd.ErrOrStderr(), settings.LogFormat, "warn")
			if err != nil {
				return usageError(err)
			}
			policy, closePolicy, err := loadPolicy(cmd.Context(), settings, log)
			if err != nil {
				return usageError(err)
			}
			defer closePolicy()
			caps, err := runtimeCapabilities(settings)
			if err != nil {
				return usageError(err)
			}
			result := checkPaths(cmd.Context(), roots, admission.Options{NodeName: settings.NodeName, Policy: policy, Runtime: caps}, time.Now())
			if err := printCheck(cmd.OutOrStdout(), output, result); err != nil {
				return err
			}
			for _, m := range result.Manifests {
				if m.Verdict == admission.Rejected || m.StartAfterCycle {
					return &exitError{code: exitRejected}
				}
			}
			return nil
		},
	}
	flags.register(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

// runtimeCapabilities probes this host for what the containerd runtime can
// run, as the runtime itself does at start, without connecting to
// containerd: check and the agent refuse the same pods. An allowlist the
// runtime would refuse to start with is an error here too.
func runtimeCapabilities(settings config.Settings) (containerd.Capabilities, error) {
	sysctls := containerd.SysctlPolicy{AllowedUnsafe: settings.AllowedUnsafeSysctls}
	if err := sysctls.Validate(); err != nil {
		return containerd.Capabilities{}, fmt.Errorf("runtime capabilities: %w", err)
	}
	return containerd.DetectCapabilities(sysctls), nil
}

// checkPaths runs the agent's pipeline once over roots, as one desired set.
func checkPaths(ctx context.Context, roots []string, opts admission.Options, now time.Time) checkOutput {
	pipeline := admission.New(opts)
	scanner := file.NewScanner()
	var results []admission.Result
	var notes []checkEntry
	for _, root := range roots {
		listing := scanner.Scan(root)
		if len(listing.Files) == 0 && listing.Note != "" {
			notes = append(notes, checkEntry{File: root, Verdict: admission.Ignored, Reasons: []string{listing.Note}})
		}
		// Each root is its own listing so the pipeline's cache pruning per
		// source does not drop the other roots' results.
		listing.Source = source.NameFile
		results = append(results, pipeline.AdmitListing(ctx, listing, now)...)
	}
	snap := desired.NewBuilder(0).Build(results, now)
	pods := map[string]*corev1.Pod{}
	var desiredPods []plan.Desired
	for _, p := range snap.Pods {
		pods[p.Key] = p.Pod
		desiredPods = append(desiredPods, plan.Desired{Key: p.Key, UID: p.UID, Pod: p.Pod, ManifestName: p.ManifestName})
	}
	ordering := map[string]plan.Waiting{}
	for _, w := range plan.DependencyProblems(desiredPods) {
		ordering[w.Key] = w
	}
	byFile := map[string]admission.Result{}
	for _, r := range results {
		byFile[r.File] = r
	}
	out := checkOutput{Manifests: []checkEntry{}}
	for _, f := range snap.Files {
		e := checkEntry{File: f.File, Verdict: f.Verdict, UID: string(f.UID), Reasons: []string{}, Details: f.Reasons, Warnings: f.Warnings, Audit: f.Audit, Mutations: f.Mutations}
		for _, r := range f.Reasons {
			e.Reasons = append(e.Reasons, r.String())
		}
		if f.PodKey != "" {
			e.Namespace, e.Name, _ = strings.Cut(f.PodKey, "/")
			e.Pod = pods[f.PodKey]
			if w, ok := ordering[f.PodKey]; ok && w.UID == f.UID {
				e.StartAfter, e.StartAfterCycle = w.Message, w.Reason == plan.ReasonDependencyCycle
			}
		} else if r, ok := byFile[f.File]; ok && r.Pod != nil {
			e.Namespace, e.Name = r.Pod.Namespace, r.Pod.Name
		}
		out.Manifests = append(out.Manifests, e)
	}
	out.Manifests = append(out.Manifests, notes...)
	return out
}

func printCheck(w io.Writer, format string, out checkOutput) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "yaml":
		data, err := yaml.Marshal(out)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	rows := [][]string{{"FILE", "VERDICT", "POD", "UID"}}
	for _, m := range out.Manifests {
		pod, uid := "-", "-"
		if m.Name != "" {
			pod = m.Namespace + "/" + m.Name
		}
		if m.UID != "" {
			uid = m.UID
		}
		rows = append(rows, []string{displayPath(m.File), string(m.Verdict), pod, uid})
	}
	widths := make([]int, 4)
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	line := func(row []string) {
		for i, cell := range row[:3] {
			fmt.Fprintf(w, "%-*s  ", widths[i], cell)
		}
		fmt.Fprintln(w, row[3])
	}
	line(rows[0])
	for i, m := range out.Manifests {
		line(rows[i+1])
		for _, r := range m.Reasons {
			fmt.Fprintf(w, "    %s\n", r)
		}
		for _, warn := range m.Warnings {
			fmt.Fprintf(w, "    warning: %s\n", warn)
		}
		for _, a := range m.Audit {
			fmt.Fprintf(w, "    audit: %s\n", a)
		}
		for _, c := range m.Mutations {
			fmt.Fprintf(w, "    mutated: %s\n", c)
		}
		if m.StartAfterCycle {
			fmt.Fprintf(w, "    error: %s\n", m.StartAfter)
		} else if m.StartAfter != "" {
			fmt.Fprintf(w, "    start-after: %s\n", m.StartAfter)
		}
	}
	return nil
}

func displayPath(p string) string {
	if rel, err := filepath.Rel(".", p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}
