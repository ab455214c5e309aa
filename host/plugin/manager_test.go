package plugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil { // as install(1) and editors do
		t.Fatal(err)
	}
}

func waitUpdate(t *testing.T, m *Manager) Update {
	t.Helper()
	select {
	case u := <-m.Updates():
		return u
	case <-time.After(20 * time.Second):
		t.Fatal("no update")
	}
	return Update{}
}

// TestManagerHotReload: a changed .wasm brings a new chain into force; a
// broken one is refused, reported, and the old chain keeps serving; the
// goroutine exits on cancel.
func TestManagerHotReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.wasm")
	copyFile(t, plugintest.BuildGo(t, "plugins/deny-privileged", false), path)
	allowedRegistries := plugintest.BuildGo(t, "plugins/allowed-registries", false)
	specs := []Spec{{Name: "policy", Path: "policy.wasm"}}
	var callbacks atomic.Int32
	m, err := NewManager(context.Background(), specs, ManagerOptions{
		Options:  Options{CacheDir: plugintest.CacheDir(), BaseDir: dir},
		Debounce: 50 * time.Millisecond,
		OnUpdate: func(Update) { callbacks.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	first := m.Chain()
	if v, _ := first.Validate(ctx, seedRequest); !v.Allowed {
		t.Fatalf("seed denied: %+v", v)
	}

	// Good change: the file now holds allowed-registries, which needs
	// settings; the config changes at the same time.
	copyFile(t, allowedRegistries, path)
	m.SetSpecs([]Spec{{Name: "policy", Path: "policy.wasm", Settings: []byte(`{"registries":["registry.k8s.io"]}`)}})
	u := waitUpdate(t, m)
	for u.Err != nil || u.Chain == first {
		u = waitUpdate(t, m) // the file event may arrive before the new settings
	}
	second := m.Chain()
	if second == first || second.Fingerprint() == first.Fingerprint() {
		t.Fatal("chain not replaced")
	}
	if v, _ := second.Validate(ctx, seedRequest); v.Allowed || v.Denials[0].Code != "RegistryNotAllowed" {
		t.Fatalf("new policy not in force: %+v", v)
	}

	// Bad change: garbage bytes are refused and the old chain stays.
	if err := os.WriteFile(path, []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	u = waitUpdate(t, m)
	if u.Err == nil || !errors.Is(u.Err, ErrInvalidModule) || u.Chain != second || m.Chain() != second {
		t.Fatalf("bad module: %+v", u)
	}
	if v, err := m.Chain().Validate(ctx, seedRequest); err != nil || v.Allowed {
		t.Fatalf("old chain stopped serving: %+v %v", v, err)
	}
	if callbacks.Load() < 2 {
		t.Fatalf("OnUpdate called %d times", callbacks.Load())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not exit on cancel")
	}
	if _, err := second.Validate(context.Background(), seedRequest); !errors.Is(err, ErrChainClosed) {
		t.Fatalf("chain in force not closed on exit: %v", err)
	}
}
