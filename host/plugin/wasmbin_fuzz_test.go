package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzInstrument: the rewriter never panics on any input, and whatever
// valid module it accepts it turns into a valid module that still has the
// uploaded module's exports, plus the interrupt flag (and the start export
// when there was a start section).
func FuzzInstrument(f *testing.F) {
	f.Add(tinyModule{abiVersion: 1, response: `{"allowed":true}`}.bytes())
	f.Add(tinyModule{abiVersion: 1, validate: []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x42, 0x00}}.bytes())
	seeds, _ := filepath.Glob(filepath.Join(os.TempDir(), "staticlet-test-wasm", "*.wasm"))
	for _, path := range seeds {
		if data, err := os.ReadFile(path); err == nil && len(data) < 256<<10 {
			f.Add(data)
		}
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, module []byte) {
		out, err := instrument(module)
		if err != nil {
			return
		}
		if validateUploaded(ctx, module) != nil {
			return // the loader refuses it before the rewrite
		}
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
		defer rt.Close(ctx)
		before, err := rt.CompileModule(ctx, module)
		if err != nil {
			t.Fatal(err)
		}
		after, err := rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("a valid module became invalid: %v", err)
		}
		for name := range before.ExportedFunctions() {
			if _, ok := after.ExportedFunctions()[name]; !ok {
				t.Fatalf("export %s lost", name)
			}
		}
		if bytes.Equal(out, module) {
			t.Fatal("nothing instrumented")
		}
		if _, ok := customSection(out, MetadataSection); ok != hasMetadata(module) {
			t.Fatal("metadata section changed")
		}
	})
}

func hasMetadata(module []byte) bool {
	_, ok := customSection(module, MetadataSection)
	return ok
}
