package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// TestImportsTheHostLacks: a module importing env.abort (an AssemblyScript
// module built without the SDK's abort mapping) is refused at load, naming
// the import and the fix.
func TestImportsTheHostLacks(t *testing.T) {
	wasm := plugintest.BuildWat(t, "host/plugin/testdata/imports/env-abort.wat")
	_, err := LoadChain(context.Background(), []Spec{{Name: "as", Path: wasm}}, testOpts)
	if !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("LoadChain: %v, want ErrInvalidModule", err)
	}
	for _, want := range []string{"imports env.abort", "--use abort=staticletAbort"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
