package plugin

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/staticlet/staticlet/host/plugin/oci"
	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// TestOCIPlugins: a chain whose plugin is oci://...@sha256 pulls, verifies
// and runs it; a reload to an artifact that fails verification, or whose
// registry is unreachable, is refused while the running chain keeps
// serving; a restart with the registry gone loads from the store.
func TestOCIPlugins(t *testing.T) {
	ctx := context.Background()
	server := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer server.Close()
	host := strings.TrimPrefix(server.URL, "http://")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	push := func(path, tag string, signer *ecdsa.PrivateKey) oci.Reference {
		module, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := oci.Push(ctx, "oci://"+host+"/staticlet/"+tag, module)
		if err != nil {
			t.Fatal(err)
		}
		if signer != nil {
			if err := oci.Sign(ctx, ref, signer); err != nil {
				t.Fatal(err)
			}
		}
		return ref
	}
	good := push(plugintest.BuildGo(t, "plugins/deny-privileged", false), "deny-privileged:v1", key)
	wrongKey := push(plugintest.BuildGo(t, "plugins/allowed-registries", false), "allowed-registries:v1", other)
	later := push(plugintest.BuildGo(t, "plugins/require-limits", false), "require-limits:v1", key)

	storeDir := t.TempDir()
	store := &oci.Store{Dir: storeDir, Keys: []crypto.PublicKey{&key.PublicKey}}
	opts := Options{CacheDir: plugintest.CacheDir(), FetchModule: func(ctx context.Context, ref string) (string, error) {
		r, err := oci.ParseReference(ref)
		if err != nil {
			return "", err
		}
		return store.Fetch(ctx, r)
	}}
	m, err := NewManager(ctx, []Spec{{Name: "policy", Path: good.String()}}, ManagerOptions{Options: opts, Debounce: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go m.Run(runCtx)
	first := m.Chain()
	if v, _ := first.Validate(ctx, Request{Manifest: []byte(privilegedManifest)}); v.Allowed || v.Denials[0].Code != "Privileged" {
		t.Fatalf("the pulled plugin is not in force: %+v", v)
	}

	m.SetSpecs([]Spec{{Name: "policy", Path: wrongKey.String(), Settings: []byte(`{"registries":["x"]}`)}})
	if u := waitUpdate(t, m); !errors.Is(u.Err, oci.ErrVerify) || u.Chain != first || m.Chain() != first {
		t.Fatalf("a module signed by another key: %+v", u)
	}

	server.Close()
	m.SetSpecs([]Spec{{Name: "policy", Path: later.String()}})
	if u := waitUpdate(t, m); !errors.Is(u.Err, oci.ErrPull) || m.Chain() != first {
		t.Fatalf("an unreachable registry: %+v", u)
	}
	if v, err := m.Chain().Validate(ctx, Request{Manifest: []byte(privilegedManifest)}); err != nil || v.Allowed {
		t.Fatalf("the running chain stopped serving: %+v %v", v, err)
	}

	// A restart, offline: the verified module is in the store.
	restarted, err := LoadChain(ctx, []Spec{{Name: "policy", Path: good.String()}}, opts)
	if err != nil {
		t.Fatalf("offline restart: %v", err)
	}
	defer restarted.Close(ctx)
	if v, _ := restarted.Validate(ctx, Request{Manifest: []byte(privilegedManifest)}); v.Allowed {
		t.Fatalf("offline restart: %+v", v)
	}

	// No store configured: refused, naming the reason.
	if _, err := LoadChain(ctx, []Spec{{Name: "policy", Path: good.String()}}, Options{CacheDir: plugintest.CacheDir()}); !errors.Is(err, ErrNoPluginStore) {
		t.Fatalf("without a store: %v", err)
	}
	// A tag is not a pinned reference.
	if _, err := LoadChain(ctx, []Spec{{Name: "policy", Path: "oci://" + host + "/staticlet/deny-privileged:v1"}}, opts); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "not pinned") {
		t.Fatalf("a tag: %v", err)
	}
}
