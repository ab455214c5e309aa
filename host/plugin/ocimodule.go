package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/staticlet/staticlet/host/plugin/oci"
)

// ErrNoPluginStore: a plugin names an OCI artifact but the chain has no
// store to pull and verify it into (Options.FetchModule).
var ErrNoPluginStore = errors.New("no plugin store for oci:// plugins")

// readModuleAt reads the spec's module; an oci:// path is first fetched
// (pulled and verified, or found in the store) by Options.FetchModule. A
// fetch that fails fails the load, so a reload keeps the running chain.
func readModuleAt(ctx context.Context, spec Spec, opts *Options) (moduleInfo, error) {
	if oci.IsReference(spec.Path) {
		if opts.FetchModule == nil {
			return moduleInfo{}, fmt.Errorf("%w: %s (configure public keys to verify it with)", ErrNoPluginStore, spec.Path)
		}
		path, err := opts.FetchModule(ctx, spec.Path)
		if err != nil {
			return moduleInfo{}, err
		}
		spec.Path = path
	}
	return readModule(spec, opts.BaseDir, opts.budget().maxModuleBytes)
}
