package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/staticlet/staticlet/host/plugin/cases"
)

func newPluginTestCommand() *cobra.Command {
	f := &pluginFlags{}
	cmd := &cobra.Command{
		Use:   "test --plugin F.wasm [--settings F] CASES...",
		Short: "Run a plugin against case folders (manifest + settings + expected verdict/patch/name)",
		Long: "Run a plugin against case folders. A case folder holds manifest.yaml, case.yaml and optionally\n" +
			"settings.yaml; a folder without case.yaml runs every sub-folder that has one. Each case's plugin receives\n" +
			"what the agent would send it. A case whose settings the plugin rejects is a case like any other\n" +
			"(expect: {settingsRejected: true}). See docs/plugin-authoring.md.\n" +
			"Exit status: 0 all cases pass, 1 some fail, 2 plugin or usage error.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.spec()
			if err != nil {
				return err
			}
			r := &cases.Runner{Path: f.path, DefaultSettings: spec.Settings, Spec: spec, Options: f.options(cmd.ErrOrStderr())}
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
						// The case could not run (the chain failed):
						// a failed case; the others still run.
						out.Diff = fmt.Sprintf("could not run: %v", err)
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
