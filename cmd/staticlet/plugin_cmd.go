package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/plugin/cases"
)

// pluginFlags are the flags shared by `plugin run|test|bench`.
type pluginFlags struct {
	path        string
	settings    string
	op          string
	nodeName    string
	nodeLabels  []string
	file        string
	output      string
	timeout     time.Duration
	memoryLimit string
	cacheDir    string
	verbose     bool
}

func (f *pluginFlags) registerPlugin(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.path, "plugin", "", "the plugin's .wasm file (required)")
	fs.StringVar(&f.settings, "settings", "", "the plugin's settings, a YAML or JSON file")
	fs.DurationVar(&f.timeout, "timeout", plugin.DefaultTimeout, "per-call timeout")
	fs.StringVar(&f.memoryLimit, "memory-limit", "16Mi", "the plugin's memory cap")
	fs.StringVar(&f.cacheDir, "cache-dir", defaultPluginCacheDir(), "compilation cache folder (empty: none)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "show the plugin's log messages")
	_ = cmd.MarkFlagRequired("plugin")
}

func (f *pluginFlags) registerRequest(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.op, "op", "validate", "operation: validate, mutate or name")
	fs.StringVar(&f.nodeName, "node-name", "worker-1", "the node name the plugin sees")
	fs.StringSliceVar(&f.nodeLabels, "node-label", nil, "a node label the plugin sees, key=value (repeatable)")
	fs.StringVar(&f.file, "file", "", "the manifest path the plugin sees (default: MANIFEST's absolute path)")
}

// defaultPluginCacheDir keeps compiled plugins between runs of the CLI.
func defaultPluginCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "staticlet", "wasm")
}

func (f *pluginFlags) options(stderr io.Writer) plugin.Options {
	level := hclog.Off
	if f.verbose {
		level = hclog.Trace
	}
	return plugin.Options{
		CacheDir: f.cacheDir,
		Logger:   hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: stderr, Level: level}),
	}
}

func (f *pluginFlags) spec() (plugin.Spec, error) {
	name := strings.TrimSuffix(filepath.Base(f.path), filepath.Ext(f.path))
	s := plugin.Spec{Name: dnsLabel(name), Path: f.path, Timeout: &metav1.Duration{Duration: f.timeout}}
	q, err := resource.ParseQuantity(f.memoryLimit)
	if err != nil {
		return s, usageError(fmt.Errorf("--memory-limit: %w", err))
	}
	s.MemoryLimit = &q
	if f.settings != "" {
		if s.Settings, err = readYAMLAsJSON(f.settings); err != nil {
			return s, usageError(fmt.Errorf("--settings: %w", err))
		}
	}
	return s, nil
}

func (f *pluginFlags) operation() (plugin.Operation, error) {
	op := plugin.Operation(f.op)
	switch op {
	case plugin.OpValidate, plugin.OpMutate, plugin.OpName:
		return op, nil
	}
	return "", usageError(fmt.Errorf("--op: %q is not validate, mutate or name", f.op))
}

func (f *pluginFlags) request(manifestPath string) (plugin.Request, error) {
	req := plugin.Request{Source: "file", Node: plugin.Node{Name: f.nodeName, Labels: map[string]string{}}}
	for _, kv := range f.nodeLabels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return req, usageError(fmt.Errorf("--node-label: %q is not key=value", kv))
		}
		req.Node.Labels[k] = v
	}
	var err error
	if req.Manifest, err = readYAMLAsJSON(manifestPath); err != nil {
		return req, usageError(fmt.Errorf("manifest: %w", err))
	}
	req.File = f.file
	if req.File == "" && manifestPath != "-" {
		req.File, _ = filepath.Abs(manifestPath)
	}
	return req, nil
}

func readYAMLAsJSON(path string) ([]byte, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	out, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// dnsLabel turns a file name into a valid plugin name.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.Trim(out[:63], "-")
	}
	if out == "" {
		return "plugin"
	}
	return out
}

// loadOne loads a one-plugin chain; a load failure is a plugin error (2).
func loadOne(ctx context.Context, f *pluginFlags, stderr io.Writer) (*plugin.Chain, error) {
	spec, err := f.spec()
	if err != nil {
		return nil, err
	}
	chain, err := plugin.LoadChain(ctx, []plugin.Spec{spec}, f.options(stderr))
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return chain, nil
}

func newPluginCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Run, test, measure and inspect Wasm admission plugins",
	}
	cmd.AddCommand(newPluginRunCommand(), newPluginTestCommand(), newPluginBenchCommand(), newPluginInspectCommand())
	return cmd
}

// runOutput is `plugin run -o json`.
type runOutput struct {
	Operation plugin.Operation      `json:"operation"`
	Allowed   bool                  `json:"allowed"`
	Name      string                `json:"name,omitempty"`
	Changes   []plugin.PluginChange `json:"changes,omitempty"`
	Manifest  json.RawMessage       `json:"manifest,omitempty"`
	plugin.Report
}

func newPluginRunCommand() *cobra.Command {
	f := &pluginFlags{}
	cmd := &cobra.Command{
		Use:   "run --plugin F.wasm [--settings F] [--op validate|mutate|name] [--node-name N] [-o json] MANIFEST",
		Short: "Run one operation of a plugin on a manifest and print the result",
		Long: "Run one operation of a plugin on a manifest (YAML or JSON, - for stdin) and print the result.\n" +
			"Exit status: 0 allowed, 1 denied, 2 plugin or usage error.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output != "text" && f.output != "json" {
				return usageError(fmt.Errorf("-o: %q is not text or json", f.output))
			}
			op, err := f.operation()
			if err != nil {
				return err
			}
			req, err := f.request(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			chain, err := loadOne(ctx, f, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer chain.Close(context.Background())
			if !slices.Contains(chain.Plugins()[0].Operations, op) {
				return usageError(fmt.Errorf("%s does not offer the %s operation (it offers %v)", f.path, op, chain.Plugins()[0].Operations))
			}
			out := runOutput{Operation: op}
			switch op {
			case plugin.OpValidate:
				res, err := chain.Validate(ctx, req)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				out.Allowed, out.Report = res.Allowed, res.Report
			case plugin.OpMutate:
				res, err := chain.Mutate(ctx, req)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				out.Allowed, out.Report, out.Changes, out.Manifest = res.Allowed(), res.Report, res.Changes, res.Manifest
			case plugin.OpName:
				res, err := chain.Name(ctx, req)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				out.Allowed, out.Report, out.Name = res.Allowed(), res.Report, res.Name
			}
			if err := printRun(cmd.OutOrStdout(), f.output, out, req.Node.Name); err != nil {
				return err
			}
			switch {
			case len(out.Errors) > 0:
				return &exitError{code: exitUsage, err: out.Errors[0]}
			case !out.Allowed:
				return &exitError{code: exitRejected}
			}
			return nil
		},
	}
	f.registerPlugin(cmd)
	f.registerRequest(cmd)
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func printRun(w io.Writer, format string, out runOutput, node string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	switch {
	case len(out.Errors) > 0:
		fmt.Fprintln(w, "ERROR")
	case out.Allowed:
		fmt.Fprintln(w, "ALLOWED")
	default:
		fmt.Fprintln(w, "DENIED")
	}
	for _, d := range out.Denials {
		if d.Code == "PluginFailed" {
			continue
		}
		fmt.Fprintf(w, "  deny  %s: %s", d.Code, d.Message)
		if d.Field != "" {
			fmt.Fprintf(w, " (%s)", d.Field)
		}
		fmt.Fprintln(w)
	}
	for _, e := range out.Errors {
		fmt.Fprintf(w, "  error %v\n", e.Err)
	}
	for _, wn := range out.Warnings {
		fmt.Fprintf(w, "  warn  %s\n", wn.Message)
	}
	switch out.Operation {
	case plugin.OpMutate:
		if len(out.Changes) == 0 {
			fmt.Fprintln(w, "unchanged")
			break
		}
		for _, c := range out.Changes {
			fmt.Fprintf(w, "patch: %s\n", c.Patch)
		}
		y, err := yaml.JSONToYAML(out.Manifest)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "---\n%s", y)
	case plugin.OpName:
		if out.Name == "" {
			fmt.Fprintf(w, "name: (default rule: <name>-%s)\n", node)
		} else {
			fmt.Fprintf(w, "name: %s\n", out.Name)
		}
	}
	return nil
}

func newPluginTestCommand() *cobra.Command {
	f := &pluginFlags{}
	cmd := &cobra.Command{
		Use:   "test --plugin F.wasm [--settings F] CASES...",
		Short: "Run a plugin against case folders (manifest + settings + expected verdict/patch/name)",
		Long: "Run a plugin against case folders. A case folder holds manifest.yaml, case.yaml and optionally\n" +
			"settings.yaml; a folder without case.yaml runs every sub-folder that has one. See docs/plugin-authoring.md.\n" +
			"Exit status: 0 all cases pass, 1 some fail, 2 plugin or usage error.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.spec()
			if err != nil {
				return err
			}
			r := &cases.Runner{Path: f.path, DefaultSettings: spec.Settings, Options: f.options(cmd.ErrOrStderr())}
			defer r.Close(context.Background())
			w := cmd.OutOrStdout()
			passed, failed := 0, 0
			for _, dir := range args {
				list, err := cases.Load(dir)
				if err != nil {
					return usageError(err)
				}
				for _, c := range list {
					out, err := r.Run(cmd.Context(), c)
					if err != nil {
						return &exitError{code: exitUsage, err: fmt.Errorf("case %s: %w", c.Dir, err)}
					}
					if out.Pass {
						passed++
						fmt.Fprintf(w, "PASS %s\n", c.Dir)
						continue
					}
					failed++
					fmt.Fprintf(w, "FAIL %s\n%s\n", c.Dir, indent(out.Diff, "    "))
				}
			}
			fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
			if failed > 0 {
				return &exitError{code: exitRejected}
			}
			return nil
		},
	}
	f.registerPlugin(cmd)
	return cmd
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

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
			req, err := f.request(args[0])
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

func newPluginInspectCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "inspect [-o json] F.wasm",
		Short: "Show a plugin's metadata, operations, exports and imports without running it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError(fmt.Errorf("-o: %q is not text or json", output))
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageError(err)
			}
			info, err := plugin.Inspect(cmd.Context(), data)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", args[0], err)}
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			printInspect(w, args[0], info)
			if len(info.Problems) > 0 {
				return &exitError{code: exitRejected}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func printInspect(w io.Writer, path string, info plugin.ModuleInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "file\t%s\n", path)
	fmt.Fprintf(tw, "size\t%d bytes\n", info.Size)
	fmt.Fprintf(tw, "sha256\t%s\n", info.SHA256)
	if m := info.Metadata; m != nil {
		fmt.Fprintf(tw, "name\t%s\n", m.Name)
		fmt.Fprintf(tw, "version\t%s\n", m.Version)
		fmt.Fprintf(tw, "description\t%s\n", m.Description)
		fmt.Fprintf(tw, "abi version (metadata)\t%d\n", m.ABIVersion)
		if len(m.Operations) > 0 {
			fmt.Fprintf(tw, "declared operations\t%s\n", strings.Join(m.Operations, ", "))
		}
	} else if info.MetadataError != "" {
		fmt.Fprintf(tw, "metadata\tunreadable: %s\n", info.MetadataError)
	} else {
		fmt.Fprintf(tw, "metadata\tnone (no %s section)\n", plugin.MetadataSection)
	}
	var ops []string
	for _, op := range info.Operations {
		ops = append(ops, string(op))
	}
	fmt.Fprintf(tw, "operations\t%s\n", strings.Join(ops, ", "))
	if info.ABIVersion != 0 {
		fmt.Fprintf(tw, "abi version (run)\t%d\n", info.ABIVersion)
	}
	fmt.Fprintf(tw, "settings check\t%v\n", info.SettingsCheck)
	mem := fmt.Sprintf("%d pages (%d KiB) minimum", info.MemoryMin, info.MemoryMin*64)
	if info.MemoryMax != nil {
		mem += fmt.Sprintf(", %d maximum", *info.MemoryMax)
	}
	fmt.Fprintf(tw, "memory\t%s\n", mem)
	tw.Flush()
	if m := info.Metadata; m != nil && len(m.SettingsSchema) > 0 {
		y, err := yaml.JSONToYAML(m.SettingsSchema)
		if err == nil {
			fmt.Fprintf(w, "settings schema:\n%s", indent(string(y), "  ")+"\n")
		}
	}
	fmt.Fprintln(w, "exports:")
	for _, e := range info.Exports {
		fmt.Fprintf(w, "  %s %s\n", e.Name, e.Signature)
	}
	fmt.Fprintln(w, "imports:")
	for _, i := range info.Imports {
		fmt.Fprintf(w, "  %s.%s %s\n", i.Module, i.Name, i.Signature)
	}
	for _, p := range info.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}
