package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// ModuleInfo is what `staticlet plugin inspect` shows: static facts read
// from the module without running it.
type ModuleInfo struct {
	Size     int       `json:"size"`
	SHA256   string    `json:"sha256"`
	Metadata *Metadata `json:"metadata,omitempty"`
	// MetadataError says why a present metadata section is unreadable.
	MetadataError string `json:"metadataError,omitempty"`
	// ABIVersion is what staticlet_abi_version returned (0: not run).
	ABIVersion int `json:"abiVersion"`
	// Operations are the exported operations the module says it offers
	// (staticlet_operations narrows the exports).
	Operations    []Operation    `json:"operations"`
	SettingsCheck bool           `json:"settingsCheck"`
	Exports       []FunctionInfo `json:"exports"`
	Imports       []FunctionInfo `json:"imports"`
	MemoryMin     uint32         `json:"memoryMinPages"`
	MemoryMax     *uint32        `json:"memoryMaxPages,omitempty"`
	// Problems are reasons LoadChain would refuse the module.
	Problems []string `json:"problems,omitempty"`
	// OPA is set for a module built by `opa build -t wasm` (a plugin with
	// abi: opa); the staticlet ABI's fields then stay empty.
	OPA *OPAModuleInfo `json:"opa,omitempty"`
}

// FunctionInfo is an exported or imported function and its signature.
type FunctionInfo struct {
	Module    string `json:"module,omitempty"`
	Name      string `json:"name"`
	Signature string `json:"signature"`
}

// Inspect compiles module with wazero's interpreter and reports its
// exports, imports, memory and metadata. It runs only _initialize,
// staticlet_abi_version and staticlet_operations, sandboxed as a plugin is
// (16 MiB, 2 s).
func Inspect(ctx context.Context, module []byte) (ModuleInfo, error) {
	sum := sha256.Sum256(module)
	info := ModuleInfo{Size: len(module), SHA256: hex.EncodeToString(sum[:])}
	if raw, ok := customSection(module, MetadataSection); ok {
		var m Metadata
		if err := json.Unmarshal(raw, &m); err != nil {
			info.MetadataError = err.Error()
		} else {
			info.Metadata = &m
		}
	}
	if len(module) > DefaultMaxModuleBytes {
		info.Problems = append(info.Problems, fmt.Sprintf("%d bytes, more than the default maxModuleBytes (%d)", len(module), DefaultMaxModuleBytes))
	}
	// The loader's verdict on validity: the uploaded module, validated
	// before any rewrite (validateUploaded).
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().
		WithMemoryLimitPages(DefaultMemoryLimit/wasmPageSize))
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, module)
	if err != nil {
		return info, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	for name, def := range cm.ExportedFunctions() {
		info.Exports = append(info.Exports, FunctionInfo{Name: name, Signature: signature(def)})
	}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		info.Imports = append(info.Imports, FunctionInfo{Module: mod, Name: name, Signature: signature(def)})
	}
	sort.Slice(info.Exports, func(i, j int) bool { return info.Exports[i].Name < info.Exports[j].Name })
	sort.Slice(info.Imports, func(i, j int) bool {
		return info.Imports[i].Module+"."+info.Imports[i].Name < info.Imports[j].Module+"."+info.Imports[j].Name
	})
	for _, mem := range cm.ExportedMemories() {
		info.MemoryMin = mem.Min()
		if max, ok := mem.Max(); ok {
			info.MemoryMax = &max
		}
	}
	if IsOPAModule(module) {
		opa, err := inspectOPA(ctx, module)
		if err != nil {
			info.Problems = append(info.Problems, "as an OPA module: "+err.Error())
		}
		info.OPA = &opa
		info.Operations = []Operation{OpValidate}
		for _, b := range opa.Unsupported {
			info.Problems = append(info.Problems, fmt.Sprintf("imports the OPA built-in %s, which the host does not implement", b))
		}
		return info, nil
	}
	exports := cm.ExportedFunctions()
	offered, version := uint32(1<<32-1), uint64(0)
	if instrumented, err := instrument(module); err != nil {
		info.Problems = append(info.Problems, "cannot be bounded by a deadline: "+err.Error())
	} else if offered, version, err = probe(ctx, instrumented); err != nil {
		info.Problems = append(info.Problems, err.Error())
	}
	info.ABIVersion = int(version)
	if version != 0 && version != ABIVersion {
		info.Problems = append(info.Problems, fmt.Sprintf("ABI version %d, this host speaks %d", version, ABIVersion))
	}
	for _, op := range chainOperations {
		if _, ok := exports[exportPrefix+string(op)]; ok && offered&op.bit() != 0 {
			info.Operations = append(info.Operations, op)
		}
	}
	_, info.SettingsCheck = exports[exportPrefix+string(OpValidateSettings)]
	for _, name := range []string{exportABIVersion, exportAlloc} {
		if _, ok := exports[name]; !ok {
			info.Problems = append(info.Problems, "missing required export "+name)
		}
	}
	if len(info.Operations) == 0 {
		info.Problems = append(info.Problems, "exports no operation")
	}
	for _, imp := range info.Imports {
		if imp.Module != hostModule && imp.Module != "wasi_snapshot_preview1" {
			info.Problems = append(info.Problems, fmt.Sprintf("imports %s.%s, which the host does not provide", imp.Module, imp.Name))
		}
	}
	return info, nil
}

func signature(def api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		var out []string
		for _, t := range ts {
			out = append(out, api.ValueTypeName(t))
		}
		return strings.Join(out, ", ")
	}
	return fmt.Sprintf("(%s) -> (%s)", names(def.ParamTypes()), names(def.ResultTypes()))
}

// probe instantiates the instrumented module as the loader does (start
// function and _initialize under the deadline) in wazero's interpreter, and
// asks for its ABI version and offered operations, each call sandboxed as
// a plugin call is (DefaultMemoryLimit, 2 s).
func probe(ctx context.Context, instrumented []byte) (ops uint32, version uint64, err error) {
	ops = 1<<32 - 1
	p := &loaded{timeout: 2 * time.Second, memoryLimit: DefaultMemoryLimit, interruptible: true, logger: hclog.NewNullLogger()}
	p.runtime = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().
		WithMemoryLimitPages(DefaultMemoryLimit/wasmPageSize))
	defer p.runtime.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.runtime); err != nil {
		return ops, 0, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, p.runtime, p.logger, newLogLimiter(1, 1, 1)); err != nil {
		return ops, 0, fmt.Errorf("instantiate host functions: %w", err)
	}
	if p.compiled, err = p.runtime.CompileModule(ctx, instrumented); err != nil {
		return ops, 0, fmt.Errorf("compile: %w", err)
	}
	inst, err := p.newInstance(ctx)
	if err != nil {
		return ops, 0, fmt.Errorf("cannot instantiate: %w", err)
	}
	defer inst.close(ctx)
	if inst.mod.ExportedFunction(exportABIVersion) != nil {
		if version, err = inst.callScalar(ctx, p, exportABIVersion); err != nil {
			return ops, 0, fmt.Errorf("%s failed: %w", exportABIVersion, err)
		}
	}
	if inst.mod.ExportedFunction(exportOperations) != nil {
		bits, err := inst.callScalar(ctx, p, exportOperations)
		if err != nil {
			return ops, version, fmt.Errorf("%s failed: %w", exportOperations, err)
		}
		ops = uint32(bits)
	}
	return ops, version, nil
}
