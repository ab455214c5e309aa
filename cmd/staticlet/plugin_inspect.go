package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/plugin"
)

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

// printInspect shows what the module declares, which its author chose
// byte by byte: every such string is escaped and capped.
func printInspect(w io.Writer, path string, info plugin.ModuleInfo) {
	text := func(s string) string { return plugin.SanitizeText(s, plugin.MaxTextBytes) }
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "file\t%s\n", path)
	fmt.Fprintf(tw, "size\t%d bytes\n", info.Size)
	fmt.Fprintf(tw, "sha256\t%s\n", info.SHA256)
	if m := info.Metadata; m != nil {
		fmt.Fprintf(tw, "name\t%s\n", text(m.Name))
		fmt.Fprintf(tw, "version\t%s\n", text(m.Version))
		fmt.Fprintf(tw, "description\t%s\n", text(m.Description))
		fmt.Fprintf(tw, "abi version (metadata)\t%d\n", m.ABIVersion)
		if len(m.Operations) > 0 {
			fmt.Fprintf(tw, "declared operations\t%s\n", text(strings.Join(m.Operations, ", ")))
		}
	} else if info.MetadataError != "" {
		fmt.Fprintf(tw, "metadata\tunreadable: %s\n", text(info.MetadataError))
	} else {
		fmt.Fprintf(tw, "metadata\tnone (no %s section)\n", plugin.MetadataSection)
	}
	if o := info.OPA; o != nil {
		fmt.Fprintf(tw, "kind\tOPA module (abi: opa), OPA Wasm ABI %s\n", text(o.ABIVersion))
		fmt.Fprintf(tw, "entrypoints\t%s\n", text(strings.Join(o.Entrypoints, ", ")))
		fmt.Fprintf(tw, "imported built-ins\t%s\n", text(strings.Join(o.Builtins, ", ")))
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
		fmt.Fprintf(w, "  %s %s\n", text(e.Name), e.Signature)
	}
	fmt.Fprintln(w, "imports:")
	for _, i := range info.Imports {
		fmt.Fprintf(w, "  %s.%s %s\n", text(i.Module), text(i.Name), i.Signature)
	}
	for _, p := range info.Problems {
		fmt.Fprintf(w, "problem: %s\n", text(p))
	}
}
