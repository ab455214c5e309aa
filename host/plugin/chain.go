package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Chain is an immutable loaded chain, safe for concurrent use.
type Chain struct {
	plugins     []*loaded
	fingerprint string
	logger      hclog.Logger
	observe     func(plugin string, op Operation, outcome string, took time.Duration)
	// quarantines are the plugins' timeout records, by plugin name.
	quarantines  map[string]*quarantine
	onQuarantine func(plugin string, until time.Time, cause error)
	now          func() time.Time

	mu     sync.RWMutex // calls hold it shared; Close exclusively
	closed bool
}

// LoadChain compiles, instantiates and checks every plugin. It fails, naming
// the plugin, on a bad spec, a missing file, a sha256 mismatch, an invalid
// module, a wrong ABI version, missing exports or settings the plugin
// rejects; nothing is left running then.
func LoadChain(ctx context.Context, specs []Spec, opts Options) (*Chain, error) {
	if err := ValidateSpecs(specs, "plugins"); err != nil {
		return nil, err
	}
	cache := opts.cacheOverride
	if cache == nil {
		var err error
		if cache, err = compilationCache(opts.CacheDir); err != nil {
			return nil, err
		}
	}
	c := &Chain{logger: opts.logger(), observe: opts.ObserveCall, onQuarantine: opts.OnQuarantine,
		quarantines: map[string]*quarantine{}, now: opts.now}
	policy := opts.quarantinePolicy()
	fp := sha256.New()
	for i, spec := range specs {
		info, err := readModuleAt(ctx, spec, &opts)
		if err == nil {
			var p *loaded
			if p, err = loadPlugin(ctx, spec, i, info, &opts, cache); err == nil {
				c.plugins = append(c.plugins, p)
				c.quarantines[spec.Name] = &quarantine{policy: policy}
			}
		}
		if err != nil {
			_ = c.Close(ctx)
			// The error may quote the plugin (a settings message, its
			// output): printable and capped.
			return nil, fmt.Errorf("plugins[%d] (%s): %w", i, spec.Name, sanitizeError(err, MaxErrorBytes))
		}
		specJSON, _ := json.Marshal(spec)
		fmt.Fprintf(fp, "%s\n%s\n", info.digest, specJSON)
	}
	c.fingerprint = hex.EncodeToString(fp.Sum(nil))
	return c, nil
}

// Fingerprint changes whenever any plugin's module bytes or spec (settings,
// mode, match, ...) change.
func (c *Chain) Fingerprint() string { return c.fingerprint }

// Len is the number of plugins.
func (c *Chain) Len() int { return len(c.plugins) }

// PluginInfo describes a loaded plugin.
type PluginInfo struct {
	Name       string
	Digest     string
	Operations []Operation
	Metadata   *Metadata
	// Interruptible says timeouts use the injected interrupt check.
	Interruptible bool
	// Quarantine says whether repeated timeouts keep the plugin from being
	// called, and until when.
	Quarantine QuarantineState
}

// Plugins describes the loaded plugins, in chain order.
func (c *Chain) Plugins() []PluginInfo {
	var out []PluginInfo
	for _, p := range c.plugins {
		info := PluginInfo{Name: p.spec.Name, Digest: p.digest, Metadata: p.metadata, Interruptible: p.interruptible,
			Quarantine: c.quarantines[p.spec.Name].state(c.now())}
		for _, op := range chainOperations {
			if p.ops[op] {
				info.Operations = append(info.Operations, op)
			}
		}
		out = append(out, info)
	}
	return out
}

// Close releases every plugin's runtime; it waits for calls in flight.
func (c *Chain) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, p := range c.plugins {
		if err := p.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close plugin %s: %w", p.spec.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Chain) enter() error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrChainClosed
	}
	return nil
}
