package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/policy"
)

// pluginOptions are the plugin host options the settings ask for. The
// compile cache is used when its folder can be created (root on a node);
// otherwise, e.g. `check` run by a normal user, compiled code stays in
// memory.
func pluginOptions(s config.Settings, log hclog.Logger) plugin.Options {
	opts := plugin.Options{BaseDir: s.PluginBaseDir, Logger: log.Named("plugin"),
		MaxModuleBytes: s.PluginMaxModuleBytes, CompileTimeout: s.PluginCompileTimeout, CompileMemoryBytes: s.PluginCompileMemoryBytes}
	if s.PluginCacheDir != "" && os.MkdirAll(s.PluginCacheDir, 0o700) == nil {
		opts.CacheDir = s.PluginCacheDir
	}
	if len(s.PluginPublicKeys) > 0 {
		fetch, err := ociFetcher(s.PluginStoreDir, s.PluginPublicKeys)
		if err != nil {
			// An oci:// plugin then fails to load, naming the key.
			err = fmt.Errorf("pluginLoading.publicKeys: %w", err)
			fetch = func(context.Context, string) (string, error) { return "", err }
		}
		opts.FetchModule = fetch
	}
	return opts
}

// loadPolicy loads the configured chain once (for `check`). It returns a nil
// policy when no plugins are configured.
func loadPolicy(ctx context.Context, s config.Settings, log hclog.Logger) (admission.Policy, func(), error) {
	if len(s.Plugins) == 0 {
		return nil, func() {}, nil
	}
	chain, err := plugin.LoadChain(ctx, s.Plugins, pluginOptions(s, log))
	if err != nil {
		return nil, nil, fmt.Errorf("load plugins: %w", err)
	}
	closeChain := func() { _ = chain.Close(context.Background()) }
	return policy.New(policy.Static{C: chain}, plugin.Node{Name: s.NodeName, Labels: s.NodeLabels}), closeChain, nil
}

// policyManager is the plugin chain in force while the agent runs.
type policyManager struct {
	Policy  admission.Policy
	Changed <-chan struct{}
	manager *plugin.Manager
}

// SetSpecs asks for a new chain (SIGHUP with a changed plugins list); a
// chain that fails to load is refused and the current one keeps serving.
func (p *policyManager) SetSpecs(specs []plugin.Spec) { p.manager.SetSpecs(specs) }

// Chain is the chain in force.
func (p *policyManager) Chain() *plugin.Chain { return p.manager.Chain() }

// startPolicyManager loads the chain (possibly empty, so a reload can add
// plugins later) and keeps it current while ctx lives: when a plugin's .wasm
// changes or SetSpecs is called, a new chain is loaded and the agent is
// signalled; a chain that fails to load is refused and the old one keeps
// serving.
func startPolicyManager(ctx context.Context, s config.Settings, log hclog.Logger, observe func(plugin string, op plugin.Operation, outcome string, took time.Duration),
	onQuarantine func(plugin string, until time.Time, cause error)) (*policyManager, error) {
	changed := make(chan struct{}, 1)
	plog := log.Named("plugins")
	opts := pluginOptions(s, log)
	opts.ObserveCall = observe
	opts.OnQuarantine = onQuarantine
	manager, err := plugin.NewManager(ctx, s.Plugins, plugin.ManagerOptions{
		Options: opts,
		OnUpdate: func(u plugin.Update) {
			if u.Err != nil {
				plog.Error("new plugin chain refused; the previous chain keeps serving", "error", u.Err)
				return
			}
			plog.Info("plugin chain reloaded", "plugins", u.Chain.Len(), "fingerprint", u.Chain.Fingerprint())
			select {
			case changed <- struct{}{}:
			default: // a signal is already pending; one re-evaluation covers both
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load plugins: %w", err)
	}
	go func() {
		if err := manager.Run(ctx); err != nil {
			plog.Error("plugin watch stopped", "error", err)
		}
	}()
	for _, p := range manager.Chain().Plugins() {
		plog.Info("plugin loaded", "plugin", p.Name, "operations", p.Operations)
	}
	return &policyManager{Policy: policy.New(manager, plugin.Node{Name: s.NodeName, Labels: s.NodeLabels}), Changed: changed, manager: manager}, nil
}
