package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/plugin"
)

// errGatekeeper marks a ConstraintTemplate or Constraint this command cannot
// turn into a plugin.
var errGatekeeper = errors.New("cannot convert the Gatekeeper policy")

// constraintTemplate is the part of a Gatekeeper ConstraintTemplate the
// conversion reads: the Rego and its libraries (the legacy `rego`/`libs`
// fields or `code: [{engine: Rego, source: {rego, libs, version}}]`).
type constraintTemplate struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Targets []struct {
			Rego string   `json:"rego"`
			Libs []string `json:"libs"`
			Code []struct {
				Engine string `json:"engine"`
				Source struct {
					Rego    string   `json:"rego"`
					Libs    []string `json:"libs"`
					Version string   `json:"version"`
				} `json:"source"`
			} `json:"code"`
		} `json:"targets"`
	} `json:"spec"`
}

// constraint is the part of a Constraint the conversion reads.
type constraint struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		EnforcementAction string          `json:"enforcementAction"`
		Parameters        json.RawMessage `json:"parameters"`
		Match             struct {
			Namespaces         []string              `json:"namespaces"`
			ExcludedNamespaces []string              `json:"excludedNamespaces"`
			LabelSelector      *metav1.LabelSelector `json:"labelSelector"`
		} `json:"match"`
	} `json:"spec"`
}

var regoPackage = regexp.MustCompile(`(?m)^package\s+([A-Za-z_][A-Za-z0-9_.]*)`)

// regoV1Keywords tells Rego v1 from v0 source (the Gatekeeper library's
// templates are mostly v0: rules without `if` and `contains`).
var regoV1Keywords = regexp.MustCompile(`(?m)\b(if|contains)\b|^import rego\.v1`)

// gatekeeperPlugin is a converted policy: Rego files and the plugin entry.
type gatekeeperPlugin struct {
	files  map[string]string // file name -> Rego
	v0     bool
	entry  plugin.Spec
	notes  []string
	module string // the .wasm path the entry names
}

// convertGatekeeper maps a ConstraintTemplate (and optionally a Constraint
// of its kind) onto Rego files and a plugin entry, as docs/plugin-authoring.md
// describes ("From a ConstraintTemplate and a Constraint to a plugin entry").
func convertGatekeeper(templateYAML, constraintYAML []byte, wasmPath string) (gatekeeperPlugin, error) {
	var ct constraintTemplate
	if err := yaml.Unmarshal(templateYAML, &ct); err != nil {
		return gatekeeperPlugin{}, fmt.Errorf("%w: template: %w", errGatekeeper, err)
	}
	if ct.Kind != "ConstraintTemplate" || len(ct.Spec.Targets) == 0 {
		return gatekeeperPlugin{}, fmt.Errorf("%w: template: not a ConstraintTemplate with spec.targets (kind %q)", errGatekeeper, ct.Kind)
	}
	target := ct.Spec.Targets[0]
	rego, libs, version := target.Rego, target.Libs, ""
	for _, c := range target.Code {
		if c.Engine == "Rego" {
			rego, libs, version = c.Source.Rego, c.Source.Libs, c.Source.Version
		}
	}
	if strings.TrimSpace(rego) == "" {
		return gatekeeperPlugin{}, fmt.Errorf("%w: template %s: no Rego (spec.targets[0].rego or code[engine: Rego])", errGatekeeper, ct.Metadata.Name)
	}
	m := regoPackage.FindStringSubmatch(rego)
	if m == nil {
		return gatekeeperPlugin{}, fmt.Errorf("%w: template %s: the Rego has no package", errGatekeeper, ct.Metadata.Name)
	}
	out := gatekeeperPlugin{files: map[string]string{"policy.rego": rego}, module: wasmPath}
	for i, l := range libs {
		out.files[fmt.Sprintf("lib%d.rego", i)] = l
	}
	out.v0 = version != "v1" && !regoV1Keywords.MatchString(rego)
	name := ct.Metadata.Name
	out.entry = plugin.Spec{Name: name, Path: wasmPath, ABI: plugin.ABIOPA,
		Entrypoint: strings.ReplaceAll(m[1], ".", "/") + "/violation"}
	if constraintYAML == nil {
		return out, nil
	}
	var c constraint
	if err := yaml.Unmarshal(constraintYAML, &c); err != nil {
		return out, fmt.Errorf("%w: constraint: %w", errGatekeeper, err)
	}
	if c.Metadata.Name != "" {
		out.entry.Name = c.Metadata.Name
	}
	if len(c.Spec.Parameters) > 0 && string(c.Spec.Parameters) != "null" {
		out.entry.Settings = c.Spec.Parameters
	}
	out.entry.Match.Namespaces = c.Spec.Match.Namespaces
	out.entry.Match.LabelSelector = c.Spec.Match.LabelSelector
	if len(c.Spec.Match.ExcludedNamespaces) > 0 {
		out.notes = append(out.notes, fmt.Sprintf("match.excludedNamespaces %v has no equivalent: list the namespaces to match instead", c.Spec.Match.ExcludedNamespaces))
	}
	switch c.Spec.EnforcementAction {
	case "", "deny":
	case "warn":
		out.entry.Mode = plugin.Warn
	case "dryrun":
		out.entry.Mode = plugin.Audit
	default:
		return out, fmt.Errorf("%w: constraint %s: enforcementAction %q is not deny, warn or dryrun", errGatekeeper, c.Metadata.Name, c.Spec.EnforcementAction)
	}
	return out, nil
}

func newPluginGatekeeperCommand() *cobra.Command {
	var templatePath, constraintPath, outDir, opaPath string
	cmd := &cobra.Command{
		Use:   "gatekeeper --template CT.yaml [--constraint C.yaml] --out DIR [--opa PATH]",
		Short: "Turn a Gatekeeper ConstraintTemplate (and a Constraint's parameters and match) into Rego files, an OPA module and a plugin entry",
		Long: "Write the template's Rego and libraries into DIR, compile them with `opa build -t wasm` into DIR/policy.wasm\n" +
			"(with --opa, or an opa on PATH; otherwise print the command), and print the plugin entry for the\n" +
			"configuration: entrypoint <package>/violation, the Constraint's parameters as settings, its match and\n" +
			"enforcementAction as match and mode. See docs/plugin-authoring.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			templateYAML, err := os.ReadFile(templatePath)
			if err != nil {
				return usageError(fmt.Errorf("--template: %w", err))
			}
			var constraintYAML []byte
			if constraintPath != "" {
				if constraintYAML, err = os.ReadFile(constraintPath); err != nil {
					return usageError(fmt.Errorf("--constraint: %w", err))
				}
			}
			abs, err := filepath.Abs(outDir)
			if err != nil {
				return err
			}
			conv, err := convertGatekeeper(templateYAML, constraintYAML, filepath.Join(abs, "policy.wasm"))
			if err != nil {
				return usageError(err)
			}
			if err := os.MkdirAll(abs, 0o755); err != nil {
				return err
			}
			args := []string{"build", "-t", "wasm", "-e", conv.entry.Entrypoint, "-o", filepath.Join(abs, "bundle.tar.gz")}
			if conv.v0 {
				args = append(args, "--v0-compatible")
			}
			for file, src := range conv.files {
				if err := os.WriteFile(filepath.Join(abs, file), []byte(src), 0o644); err != nil {
					return err
				}
				args = append(args, filepath.Join(abs, file))
			}
			stderr := cmd.ErrOrStderr()
			if opaPath == "" {
				opaPath, _ = exec.LookPath("opa")
			}
			if opaPath == "" {
				fmt.Fprintf(stderr, "no opa found (--opa): build the module with\n  opa %s\n  tar -xzf %s -C %s /policy.wasm\n",
					strings.Join(args, " "), filepath.Join(abs, "bundle.tar.gz"), abs)
			} else if err := buildOPABundle(opaPath, args, abs); err != nil {
				return err
			}
			for _, n := range conv.notes {
				fmt.Fprintf(stderr, "note: %s\n", n)
			}
			entry, err := yaml.Marshal([]plugin.Spec{conv.entry})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "plugins:\n%s", entry)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&templatePath, "template", "", "the ConstraintTemplate YAML (required)")
	fs.StringVar(&constraintPath, "constraint", "", "a Constraint of the template's kind: its parameters, match and enforcementAction")
	fs.StringVar(&outDir, "out", "", "the folder for the Rego files and policy.wasm (required)")
	fs.StringVar(&opaPath, "opa", "", "the opa command (default: opa on PATH)")
	_ = cmd.MarkFlagRequired("template")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// buildOPABundle runs opa build and extracts the bundle's policy.wasm into
// dir.
func buildOPABundle(opa string, args []string, dir string) error {
	var stderr bytes.Buffer
	build := exec.Command(opa, args...)
	build.Stderr = &stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("opa build: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	bundle := filepath.Join(dir, "bundle.tar.gz")
	extract := exec.Command("tar", "-xzf", bundle, "-C", dir, "/policy.wasm")
	if out, err := extract.CombinedOutput(); err != nil {
		return fmt.Errorf("extract policy.wasm from %s: %w: %s", bundle, err, out)
	}
	return nil
}
