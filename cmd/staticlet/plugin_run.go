package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/plugin"
)

// runOutput is `plugin run -o json`.
type runOutput struct {
	Operation plugin.Operation      `json:"operation"`
	Allowed   bool                  `json:"allowed"`
	Name      string                `json:"name,omitempty"`
	Changes   []plugin.PluginChange `json:"changes,omitempty"`
	Manifest  json.RawMessage       `json:"manifest,omitempty"`
	// Sent is the manifest the plugin received, as the agent builds it:
	// as read for mutate, mutated for name, the final pod for validate.
	Sent json.RawMessage `json:"sent,omitempty"`
	plugin.Report
}

func newPluginRunCommand() *cobra.Command {
	f := &pluginFlags{}
	cmd := &cobra.Command{
		Use:   "run --plugin F.wasm [--settings F] [--op validate|mutate|name] [--node-name N] [-o json] MANIFEST",
		Short: "Run one operation of a plugin on a manifest and print the result",
		Long: "Run one operation of a plugin on a manifest (YAML or JSON, - for stdin) and print the result.\n" +
			"The plugin receives what the agent would send it as its only plugin: mutate the manifest as read,\n" +
			"name the mutated manifest, validate the final pod (mutated, named, defaulted); -o json shows it as \"sent\".\n" +
			"Exit status: 0 allowed, 1 denied (or rejected by the agent before the plugin), 2 plugin or usage error.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output != "text" && f.output != "json" {
				return usageError(fmt.Errorf("-o: %q is not text or json", f.output))
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
			chain, err := loadOne(ctx, f, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer chain.Close(context.Background())
			if !slices.Contains(chain.Plugins()[0].Operations, op) {
				return usageError(fmt.Errorf("%s does not offer the %s operation (it offers %v)", f.path, op, chain.Plugins()[0].Operations))
			}
			res, err := runOperation(ctx, chain, op, file, node)
			if err != nil {
				return err
			}
			out := runOutput{Operation: op, Sent: res.Request.Manifest}
			switch op {
			case plugin.OpValidate:
				out.Allowed, out.Report = res.Validate.Allowed, res.Validate.Report
			case plugin.OpMutate:
				out.Allowed, out.Report, out.Changes, out.Manifest = res.Mutate.Allowed(), res.Mutate.Report, res.Mutate.Changes, res.Mutate.Manifest
			case plugin.OpName:
				out.Allowed, out.Report, out.Name = res.Name.Allowed(), res.Name.Report, res.Name.Name
			}
			if err := printRun(cmd.OutOrStdout(), f.output, out, node.Name); err != nil {
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
