package plugin

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// The OPA module's figures for docs/benchmarks.md, beside the Go plugin's
// (BenchmarkValidateWarm, BenchmarkCachedLoad, BenchmarkColdCompile in the
// same run):
//
//	go test ./host/plugin/ -run '^$' -bench 'OPA|^BenchmarkValidateWarm$|CachedLoad|ColdCompile' -benchtime 10x
//	go test ./host/plugin/ -run '^$' -bench 'OPAValidate|^BenchmarkValidateWarm$' -benchtime 3000x

func opaPrivilegedSpec(b testing.TB) Spec {
	root := plugintest.ModuleRoot(b)
	policies := filepath.Join(root, "plugins", "opa-psp", "policies")
	wasm := plugintest.BuildOPA(b, "k8spspprivileged/violation", filepath.Join(policies, "privileged.rego"), filepath.Join(policies, "lib"))
	return opaSpec("psp-privileged", wasm, "k8spspprivileged/violation", json.RawMessage(`{"exemptImages":["registry.k8s.io/*"]}`))
}

// BenchmarkOPAColdCompile: a first load of the OPA module on a node, into
// an empty cache folder.
func BenchmarkOPAColdCompile(b *testing.B) {
	spec := opaPrivilegedSpec(b)
	b.ResetTimer()
	for range b.N {
		dir := filepath.Join(b.TempDir(), "cache")
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		benchChain(b, Options{cacheOverride: cache, CacheDir: dir}, spec).Close(context.Background())
	}
}

// BenchmarkOPACachedLoad: an agent restart's load of the OPA module.
func BenchmarkOPACachedLoad(b *testing.B) { benchCachedLoad(b, opaPrivilegedSpec(b)) }

// BenchmarkOPAValidateWarm: the seed manifest through the OPA module's
// violation rule (allowed), on a warm instance, timeouts enforced.
func BenchmarkOPAValidateWarm(b *testing.B) {
	c := benchChain(b, Options{CacheDir: plugintest.CacheDir()}, opaPrivilegedSpec(b))
	ctx := context.Background()
	reportLatency(b, func() {
		res, err := c.Validate(ctx, seedRequest)
		if err != nil || !res.Allowed {
			b.Fatalf("validate: %+v %v", res, err)
		}
	})
}

// BenchmarkOPAValidateWarmDenied: a privileged pod, so sprintf runs in the
// host for the violation's message.
func BenchmarkOPAValidateWarmDenied(b *testing.B) {
	c := benchChain(b, Options{CacheDir: plugintest.CacheDir()}, opaPrivilegedSpec(b))
	ctx := context.Background()
	req := seedRequest
	req.Manifest = []byte(privilegedManifest)
	reportLatency(b, func() {
		res, err := c.Validate(ctx, req)
		if err != nil || res.Allowed || len(res.Denials) != 1 {
			b.Fatalf("validate: %+v %v", res, err)
		}
	})
}
