package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/staticlet/staticlet/host/plugin/oci"
)

// Defaults of ManagerOptions.
const (
	DefaultReloadDebounce = 200 * time.Millisecond
	DefaultResyncPeriod   = time.Minute
)

// Update tells the agent what a reload did: Chain is the chain now in force
// (new on success, the old one on failure) and Err why a new chain was
// refused.
type Update struct {
	Chain *Chain
	Err   error
}

// ManagerOptions tune a Manager.
type ManagerOptions struct {
	Options
	// Debounce is the quiet time after a file event before reloading.
	Debounce time.Duration
	// Resync re-hashes the plugin files periodically, in case an event
	// was missed (e.g. a bind mount swapped underneath).
	Resync time.Duration
	// OnUpdate, when set, is called from Run's goroutine after every
	// reload attempt; it must not block for long.
	OnUpdate func(Update)
}

// Manager owns the chain in force: it watches the plugins' .wasm files and
// swaps in a new chain when they change, keeping the old one when the new
// one fails to load. Chain is safe for concurrent use; everything else
// happens on Run's goroutine.
type Manager struct {
	opts    ManagerOptions
	current atomic.Pointer[Chain]
	specs   chan []Spec
	updates chan Update
	// initialSpecs is read once by Run.
	initialSpecs []Spec
}

// NewManager loads the first chain; it fails if that chain does.
func NewManager(ctx context.Context, specs []Spec, opts ManagerOptions) (*Manager, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultReloadDebounce
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResyncPeriod
	}
	chain, err := LoadChain(ctx, specs, opts.Options)
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, specs: make(chan []Spec, 1), updates: make(chan Update, 1)}
	m.current.Store(chain)
	m.initialSpecs = slices.Clone(specs)
	return m, nil
}

// Chain returns the chain in force. A chain replaced by a reload is closed
// once its calls in flight finish; a call that gets ErrChainClosed should
// fetch the chain again.
func (m *Manager) Chain() *Chain { return m.current.Load() }

// Updates delivers reload outcomes; only the latest undelivered one is kept.
func (m *Manager) Updates() <-chan Update { return m.updates }

// SetSpecs hands the Manager a new plugin list (the agent's configuration
// changed); Run reloads with it.
func (m *Manager) SetSpecs(specs []Spec) {
	specs = slices.Clone(specs)
	for {
		select {
		case m.specs <- specs:
			return
		default:
			select {
			case <-m.specs: // drop the older pending list
			default:
			}
		}
	}
}

// Run watches the plugin files until ctx is canceled, then closes the chain
// in force.
func (m *Manager) Run(ctx context.Context) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("plugin manager: %w", err)
	}
	defer watcher.Close()
	specs := m.initialSpecs
	watched := map[string]bool{}
	watch := func() {
		// Editors and `install` replace files by rename, so watch the
		// folders, not the files.
		want := map[string]bool{}
		for _, s := range specs {
			if oci.IsReference(s.Path) {
				continue // pinned by digest: its content never changes
			}
			want[filepath.Dir(m.resolve(s.Path))] = true
		}
		for dir := range watched {
			if !want[dir] {
				_ = watcher.Remove(dir)
				delete(watched, dir)
			}
		}
		for dir := range want {
			if watched[dir] {
				continue
			}
			if err := watcher.Add(dir); err != nil {
				m.opts.logger().Warn("cannot watch plugin folder; relying on periodic resync", "dir", dir, "error", err)
				continue
			}
			watched[dir] = true
		}
	}
	watch()
	files := func() map[string]bool {
		out := map[string]bool{}
		for _, s := range specs {
			out[filepath.Clean(m.resolve(s.Path))] = true
		}
		return out
	}
	relevant := files()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	resync := time.NewTicker(m.opts.Resync)
	defer resync.Stop()
	digests := fileDigests(m, specs)
	reload := func() {
		now := fileDigests(m, specs)
		if sameDigests(now, digests) {
			return
		}
		digests = now
		m.reload(ctx, specs)
	}
	for {
		select {
		case <-ctx.Done():
			err := m.Chain().Close(context.WithoutCancel(ctx))
			if err != nil {
				return fmt.Errorf("plugin manager: %w", err)
			}
			return nil
		case specs = <-m.specs:
			watch()
			relevant = files()
			digests = fileDigests(m, specs)
			m.reload(ctx, specs)
		case ev, ok := <-watcher.Events:
			if !ok {
				return errors.New("plugin manager: watcher closed")
			}
			if relevant[filepath.Clean(ev.Name)] {
				debounce.Reset(m.opts.Debounce)
			}
		case err, ok := <-watcher.Errors:
			if !ok {
				return errors.New("plugin manager: watcher closed")
			}
			m.opts.logger().Warn("plugin file watcher error; rescanning", "error", err)
			debounce.Reset(m.opts.Debounce)
		case <-debounce.C:
			reload()
		case <-resync.C:
			reload()
		}
	}
}

func (m *Manager) resolve(p string) string {
	if !filepath.IsAbs(p) && m.opts.BaseDir != "" {
		return filepath.Join(m.opts.BaseDir, p)
	}
	return p
}

// reload builds a new chain and swaps it in, or reports why not.
func (m *Manager) reload(ctx context.Context, specs []Spec) {
	old := m.Chain()
	chain, err := LoadChain(ctx, specs, m.opts.Options)
	var u Update
	switch {
	case err != nil:
		m.opts.logger().Error("refusing new plugin chain; the previous one stays in force", "error", err)
		u = Update{Chain: old, Err: fmt.Errorf("reload plugin chain: %w", err)}
	case chain.Fingerprint() == old.Fingerprint():
		_ = chain.Close(ctx)
		return
	default:
		m.current.Store(chain)
		m.opts.logger().Info("new plugin chain in force", "fingerprint", chain.Fingerprint()[:12], "plugins", chain.Len())
		// Close waits for the old chain's calls in flight.
		go func() { _ = old.Close(context.WithoutCancel(ctx)) }()
		u = Update{Chain: chain}
	}
	if m.opts.OnUpdate != nil {
		m.opts.OnUpdate(u)
	}
	select {
	case <-m.updates:
	default:
	}
	m.updates <- u
}

// fileDigests hashes the plugin files; unreadable files hash as their error,
// so a file that appears or vanishes counts as a change.
func fileDigests(m *Manager, specs []Spec) map[string]string {
	out := map[string]string{}
	for _, s := range specs {
		if oci.IsReference(s.Path) {
			out[s.Path] = s.Path // the digest is in the reference
			continue
		}
		p := m.resolve(s.Path)
		data, err := os.ReadFile(p)
		if err != nil {
			out[p] = "error: " + err.Error()
			continue
		}
		sum := sha256.Sum256(data)
		out[p] = hex.EncodeToString(sum[:])
	}
	return out
}

func sameDigests(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
