package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/policy"
	"github.com/staticlet/staticlet/host/source"
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
	abi         string
	entrypoint  string
	publicKeys  []string
	storeDir    string
	// fetch pulls and verifies oci:// plugins; spec() sets it from
	// publicKeys and storeDir.
	fetch func(context.Context, string) (string, error)
}

func (f *pluginFlags) registerPlugin(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.path, "plugin", "", "the plugin's .wasm file (required)")
	fs.StringVar(&f.settings, "settings", "", "the plugin's settings, a YAML or JSON file")
	fs.DurationVar(&f.timeout, "timeout", plugin.DefaultTimeout, "per-call timeout")
	fs.StringVar(&f.memoryLimit, "memory-limit", "16Mi", "the plugin's memory cap")
	fs.StringVar(&f.cacheDir, "cache-dir", defaultPluginCacheDir(), "compilation cache folder (empty: none)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "show the plugin's log messages")
	fs.StringVar(&f.abi, "abi", "", "the module's interface: staticlet (default) or opa (a module built by opa build -t wasm)")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "with --abi opa: the entrypoint to evaluate, e.g. k8spspprivileged/violation")
	fs.StringSliceVar(&f.publicKeys, "public-key", nil, "for an oci://...@sha256 plugin: a PEM public key its signature must verify with (repeatable)")
	fs.StringVar(&f.storeDir, "store", defaultPluginStoreDir(), "for an oci:// plugin: the folder pulled and verified plugins are kept in")
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
	opts := plugin.Options{
		CacheDir: f.cacheDir,
		Logger:   hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: stderr, Level: level}),
	}
	opts.FetchModule = f.fetch
	return opts
}

func (f *pluginFlags) spec() (plugin.Spec, error) {
	name := strings.TrimSuffix(filepath.Base(f.path), filepath.Ext(f.path))
	s := plugin.Spec{Name: dnsLabel(name), Path: f.path, Timeout: &metav1.Duration{Duration: f.timeout}}
	q, err := resource.ParseQuantity(f.memoryLimit)
	if err != nil {
		return s, usageError(fmt.Errorf("--memory-limit: %w", err))
	}
	s.MemoryLimit = &q
	s.ABI, s.Entrypoint = plugin.ABI(f.abi), f.entrypoint
	if err := s.Validate("flags"); err != nil {
		return s, usageError(err)
	}
	if len(f.publicKeys) > 0 {
		if f.fetch, err = ociFetcher(f.storeDir, f.publicKeys); err != nil {
			return s, usageError(fmt.Errorf("--public-key: %w", err))
		}
	}
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

// manifestFile reads the manifest as the agent's file source would, and
// the node the flags describe: what policy.RunOperation takes to build the
// plugin's request as the agent does.
func (f *pluginFlags) manifestFile(manifestPath string) (source.File, plugin.Node, error) {
	node := plugin.Node{Name: f.nodeName, Labels: map[string]string{}}
	for _, kv := range f.nodeLabels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return source.File{}, node, usageError(fmt.Errorf("--node-label: %q is not key=value", kv))
		}
		node.Labels[k] = v
	}
	file := source.File{Source: source.NameFile, Path: f.file}
	var err error
	if manifestPath == "-" {
		file.Content, err = io.ReadAll(os.Stdin)
	} else {
		file.Content, err = os.ReadFile(manifestPath)
		if file.Path == "" {
			file.Path, _ = filepath.Abs(manifestPath)
		}
	}
	if err != nil {
		return file, node, usageError(fmt.Errorf("manifest: %w", err))
	}
	return file, node, nil
}

// runOperation runs op on the manifest as the agent would; a manifest the
// agent rejects before the plugin is reached is a rejection (1).
func runOperation(ctx context.Context, chain *plugin.Chain, op plugin.Operation, file source.File, node plugin.Node) (policy.OperationResult, error) {
	res, err := policy.RunOperation(ctx, chain, op, file, node, time.Now())
	if err != nil {
		return res, &exitError{code: exitUsage, err: err}
	}
	if !res.Called {
		var reasons []string
		for _, r := range res.Admission.Reasons {
			reasons = append(reasons, r.String())
		}
		return res, &exitError{code: exitRejected, err: fmt.Errorf("the agent rejects %s before the plugin's %s is called: %s", file.Path, op, strings.Join(reasons, "; "))}
	}
	return res, nil
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
	cmd.AddCommand(newPluginRunCommand(), newPluginTestCommand(), newPluginBenchCommand(), newPluginInspectCommand(),
		newPluginKeygenCommand(), newPluginPushCommand(), newPluginSignCommand(), newPluginResolveCommand(),
		newPluginGatekeeperCommand())
	return cmd
}
