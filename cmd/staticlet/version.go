package main

import (
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set by release builds:
// -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

// buildInfo is what `staticlet version` reports.
type buildInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	Go         string `json:"go"`
	Wazero     string `json:"wazero"`
	Containerd string `json:"containerdClient"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: "unknown", Wazero: "unknown", Containerd: "unknown"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Go = info.GoVersion
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && b.Commit == "" {
			b.Commit = s.Value
		}
	}
	for _, dep := range info.Deps {
		switch dep.Path {
		case "github.com/tetratelabs/wazero":
			b.Wazero = dep.Version
		case "github.com/containerd/containerd/v2":
			b.Containerd = dep.Version
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print staticlet's version, commit, and Go, wazero and containerd client versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b := readBuildInfo()
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			case "text":
				fmt.Fprintf(cmd.OutOrStdout(), "staticlet %s\ncommit: %s\ngo: %s\nwazero: %s\ncontainerd client: %s\n", b.Version, b.Commit, b.Go, b.Wazero, b.Containerd)
				return nil
			}
			return usageError(fmt.Errorf("-o %q: must be text or json", output))
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
