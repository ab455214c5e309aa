package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// This file runs OPA-compiled Wasm modules (`opa build -t wasm`, OPA's Wasm
// ABI 1.2 or newer) as validate plugins: a plugin spec with `abi: opa` names
// the module and an entrypoint. The module runs in the same runtime, under
// the same rewrite, deadlines and memory cap as every plugin; only the
// guest interface differs. The input is shaped as Gatekeeper gives it
// (input.review.object is the pod, input.parameters the plugin's settings)
// and the entrypoint's result becomes the verdict (opaVerdict).

// ABI selects a plugin's guest interface.
type ABI string

// Guest interfaces.
const (
	// ABIStaticlet is staticlet's own plugin ABI (docs/plugin-abi.md); the
	// default.
	ABIStaticlet ABI = "staticlet"
	// ABIOPA is an OPA-compiled Wasm module evaluated at Spec.Entrypoint.
	ABIOPA ABI = "opa"
)

// ErrOPABuiltin marks an OPA module that needs a built-in function the host
// does not implement; the error names it.
var ErrOPABuiltin = errors.New("OPA built-in not provided")

// opaEnvModule is the import module of OPA's Wasm ABI.
const opaEnvModule = "env"

// OPA's exports this host uses.
const (
	opaExportEval        = "opa_eval"
	opaExportMalloc      = "opa_malloc"
	opaExportJSONParse   = "opa_json_parse"
	opaExportJSONDump    = "opa_json_dump"
	opaExportHeapPtrGet  = "opa_heap_ptr_get"
	opaExportBuiltins    = "builtins"
	opaExportEntrypoints = "entrypoints"
	opaGlobalABIVersion  = "opa_wasm_abi_version"
	opaGlobalABIMinor    = "opa_wasm_abi_minor_version"
)

// opaBuiltin is a host implementation of an OPA built-in: JSON arguments in,
// a JSON result out.
type opaBuiltin func(args []json.RawMessage) (any, error)

// opaHostBuiltins are the built-ins a module may import. The Gatekeeper
// library's pod-security templates call sprintf, count, startswith,
// endswith, concat, object.get, trim_suffix, contains, split, regex and glob
// matching and set operations: OPA compiles all of these into the module
// except sprintf, which it imports.
var opaHostBuiltins = map[string]opaBuiltin{
	"sprintf": opaSprintf,
}

// opaModule is what LoadChain learned about an OPA plugin's module.
type opaModule struct {
	entrypoint   int32
	builtins     map[int32]string // id -> name, from the module's builtins()
	abiMinor     uint64
	dataDocument []byte // the data document: "{}"
}

// opaInstance is one instance's state: where the data document and the
// heap base are, after its initialisation.
type opaInstance struct {
	eval, malloc, jsonParse, jsonDump api.Function
	dataAddr, heapBase                uint32
}

// localizeOPAMemory turns the module's `env.memory` import into a memory the
// module defines with the same limits, so each instance gets its own memory
// in the host's private mapping under the plugin's memoryLimit (wazero's
// host modules cannot export a memory, and a shared one would be shared by
// every instance). The result has a digest of its own, so its compiled code
// is cached apart from the uploaded module's.
func localizeOPAMemory(info moduleInfo) (moduleInfo, error) {
	sections, err := splitSections(info.bytes)
	if err != nil {
		return info, err
	}
	importAt := slices.IndexFunc(sections, func(s section) bool { return s.id == sectionImport })
	if importAt < 0 {
		return info, fmt.Errorf("%w: not an OPA module: it imports nothing (OPA modules import env.memory)", ErrInvalidModule)
	}
	if slices.ContainsFunc(sections, func(s section) bool { return s.id == sectionMemory }) {
		return info, fmt.Errorf("%w: not an OPA module: it defines its own memory (OPA modules import env.memory)", ErrInvalidModule)
	}
	body, limits, err := removeMemoryImport(sections[importAt].body)
	if err != nil {
		return info, err
	}
	if limits == nil {
		return info, fmt.Errorf("%w: not an OPA module: no env.memory import", ErrInvalidModule)
	}
	sections[importAt].body = body
	memory := section{id: sectionMemory, body: append([]byte{1}, limits...)}
	// The memory section goes before the first known section that follows it.
	at := slices.IndexFunc(sections, func(s section) bool { return s.id > sectionMemory && s.id != sectionCustom })
	if at < 0 {
		at = len(sections)
	}
	sections = slices.Insert(sections, at, memory)
	out := joinSections(sections)
	sum := sha256.Sum256(out)
	return moduleInfo{bytes: out, digest: hex.EncodeToString(sum[:]), metadata: info.metadata}, nil
}

// removeMemoryImport drops the env.memory entry of an import section and
// returns its limits as encoded.
func removeMemoryImport(body []byte) (_ []byte, limits []byte, err error) {
	r := reader{b: body}
	count, err := r.u32()
	if err != nil {
		return nil, nil, err
	}
	var kept [][]byte
	for range count {
		start := r.i
		module, err := r.name()
		if err != nil {
			return nil, nil, err
		}
		name, err := r.name()
		if err != nil {
			return nil, nil, err
		}
		kind, err := r.byte()
		if err != nil {
			return nil, nil, err
		}
		switch kind {
		case 0x00:
			_, err = r.u32()
		case 0x01:
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 0x02:
			limitsAt := r.i
			if err = r.limits(); err == nil {
				if module != opaEnvModule || name != "memory" {
					return nil, nil, fmt.Errorf("%w: imports memory %s.%s (OPA modules import env.memory)", ErrInvalidModule, module, name)
				}
				limits = slices.Clone(r.b[limitsAt:r.i])
				continue
			}
		case 0x03:
			_, err = r.bytes(2)
		default:
			err = fmt.Errorf("%w: import kind %#x", errUnsupportedOpcode, kind)
		}
		if err != nil {
			return nil, nil, err
		}
		kept = append(kept, r.b[start:r.i])
	}
	out := binary.AppendUvarint(nil, uint64(len(kept)))
	for _, k := range kept {
		out = append(out, k...)
	}
	return out, limits, nil
}

// instantiateOPAHost adds the `env` functions of OPA's ABI to a plugin's
// runtime: opa_abort traps with the module's message, opa_println logs, and
// opa_builtin0..4 run the host built-ins of opaHostBuiltins by the ids the
// module assigned (p.opa.builtins, known once the first instance answered
// builtins()).
func instantiateOPAHost(ctx context.Context, rt wazero.Runtime, p *loaded) error {
	abort := func(ctx context.Context, mod api.Module, addr uint32) {
		trapIfInterrupted(ctx)
		msg, _ := readCString(mod.Memory(), addr, MaxTextBytes)
		panic(fmt.Errorf("opa_abort: %s", SanitizeText(msg, MaxTextBytes)))
	}
	println := func(ctx context.Context, mod api.Module, addr uint32) {
		trapIfInterrupted(ctx)
		msg, _ := readCString(mod.Memory(), addr, DefaultLogMessageBytes)
		p.logger.Log(hclog.Info, SanitizeText(msg, 0))
	}
	call := func(ctx context.Context, mod api.Module, stack []uint64) {
		trapIfInterrupted(ctx)
		id := int32(uint32(stack[0]))
		args := make([]uint32, 0, 4)
		for _, v := range stack[2:] { // stack[1] is the built-in context, unused
			args = append(args, uint32(v))
		}
		stack[0] = uint64(p.runBuiltin(ctx, mod, id, args))
	}
	b := rt.NewHostModuleBuilder(opaEnvModule).
		NewFunctionBuilder().WithFunc(abort).Export("opa_abort").
		NewFunctionBuilder().WithFunc(println).Export("opa_println")
	for n := range 5 {
		params := make([]api.ValueType, 2+n)
		for i := range params {
			params[i] = api.ValueTypeI32
		}
		b = b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(call), params, []api.ValueType{api.ValueTypeI32}).
			Export(fmt.Sprintf("opa_builtin%d", n))
	}
	_, err := b.Instantiate(ctx)
	return err
}

// runBuiltin runs one host built-in for the guest: the arguments are dumped
// to JSON with the guest's opa_json_dump, the result parsed back with
// opa_json_parse. Any failure traps the call (OPA's own runtimes raise it as
// an evaluation error too).
func (p *loaded) runBuiltin(ctx context.Context, mod api.Module, id int32, argAddrs []uint32) uint32 {
	name, ok := p.opa.builtins[id]
	impl := opaHostBuiltins[name]
	if !ok || impl == nil {
		panic(fmt.Errorf("%w: the module called built-in id %d (%q)", ErrOPABuiltin, id, name))
	}
	args := make([]json.RawMessage, len(argAddrs))
	for i, addr := range argAddrs {
		raw, err := opaDump(ctx, mod, addr, int(p.maxResponse))
		if err != nil {
			panic(fmt.Errorf("built-in %s: argument %d: %w", name, i, err))
		}
		args[i] = raw
	}
	result, err := impl(args)
	if err != nil {
		panic(fmt.Errorf("built-in %s: %w", name, err))
	}
	data, err := json.Marshal(result)
	if err != nil {
		panic(fmt.Errorf("built-in %s: encode result: %w", name, err))
	}
	addr, err := opaLoadJSON(ctx, mod, data)
	if err != nil {
		panic(fmt.Errorf("built-in %s: %w", name, err))
	}
	return addr
}

// opaDump returns the JSON of the guest value at addr.
func opaDump(ctx context.Context, mod api.Module, addr uint32, limit int) (json.RawMessage, error) {
	res, err := mod.ExportedFunction(opaExportJSONDump).Call(ctx, uint64(addr))
	if err != nil {
		return nil, err
	}
	s, err := readCString(mod.Memory(), uint32(res[0]), limit)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(s), nil
}

// opaLoadJSON copies a JSON document into the guest and parses it there,
// returning the value's address.
func opaLoadJSON(ctx context.Context, mod api.Module, data []byte) (uint32, error) {
	res, err := mod.ExportedFunction(opaExportMalloc).Call(ctx, uint64(len(data)))
	if err != nil {
		return 0, err
	}
	addr := uint32(res[0])
	if !mod.Memory().Write(addr, data) {
		return 0, fmt.Errorf("%w: opa_malloc(%d) returned unusable address %#x", ErrBadResponse, len(data), addr)
	}
	res, err = mod.ExportedFunction(opaExportJSONParse).Call(ctx, uint64(addr), uint64(len(data)))
	if err != nil {
		return 0, err
	}
	if res[0] == 0 {
		return 0, fmt.Errorf("%w: opa_json_parse refused %d bytes", ErrBadResponse, len(data))
	}
	return uint32(res[0]), nil
}

// readCString reads the NUL-terminated string at addr, at most limit bytes.
func readCString(mem api.Memory, addr uint32, limit int) (string, error) {
	var out []byte
	for chunk := uint32(4096); ; {
		size := mem.Size()
		if addr >= size {
			return string(out), fmt.Errorf("%w: string at %#x is outside the guest's memory", ErrBadResponse, addr)
		}
		n := min(chunk, size-addr)
		data, _ := mem.Read(addr, n)
		if i := bytes.IndexByte(data, 0); i >= 0 {
			out = append(out, data[:i]...)
			if len(out) > limit {
				return string(out[:limit]), fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
			}
			return string(out), nil
		}
		out = append(out, data...)
		if len(out) > limit {
			return string(out[:limit]), fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
		}
		addr += n
	}
}

// loadOPA checks an OPA module's ABI version, exports, imported built-ins
// and entrypoint on a first instance, and leaves that instance in the pool.
func (p *loaded) loadOPA(ctx context.Context) error {
	exports := p.compiled.ExportedFunctions()
	for _, name := range []string{opaExportEval, opaExportMalloc, opaExportJSONParse, opaExportJSONDump,
		opaExportHeapPtrGet, opaExportBuiltins, opaExportEntrypoints} {
		if _, ok := exports[name]; !ok {
			return fmt.Errorf("%w: %s (is this a module built by `opa build -t wasm`, OPA Wasm ABI 1.2 or newer?)", ErrMissingExport, name)
		}
	}
	for _, fn := range p.compiled.ImportedFunctions() {
		module, name, _ := fn.Import()
		if module == opaEnvModule && (name == "opa_abort" || name == "opa_println" || strings.HasPrefix(name, "opa_builtin")) {
			continue
		}
		return fmt.Errorf("%w: the OPA module imports %s.%s, which the host does not provide", ErrInvalidModule, module, name)
	}
	p.opa = &opaModule{dataDocument: []byte("{}")}
	inst, err := p.newInstance(ctx)
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if keep {
			p.slots <- struct{}{}
			p.idle <- inst
		} else {
			inst.close(ctx)
		}
	}()
	major, minor, err := opaABIVersion(inst.mod)
	if err != nil {
		return err
	}
	if major != 1 || minor < 2 {
		return fmt.Errorf("%w: the module speaks OPA Wasm ABI %d.%d, this host needs 1.2 or newer (opa_eval)", ErrABIVersion, major, minor)
	}
	p.opa.abiMinor = minor
	builtins, entrypoints, err := p.readOPATables(ctx, inst)
	if err != nil {
		return err
	}
	p.opa.builtins = map[int32]string{}
	var missing []string
	for name, id := range builtins {
		p.opa.builtins[id] = name
		if opaHostBuiltins[name] == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%w: the module needs %s, which staticlet does not implement (it provides %s; the others OPA compiles into the module)",
			ErrOPABuiltin, strings.Join(missing, ", "), strings.Join(sortedKeys(opaHostBuiltins), ", "))
	}
	id, ok := entrypoints[p.spec.Entrypoint]
	if !ok {
		return fmt.Errorf("%w: entrypoint: the module has no entrypoint %q (it has %s)",
			ErrInvalidSpec, p.spec.Entrypoint, strings.Join(sortedKeys(entrypoints), ", "))
	}
	p.opa.entrypoint = id
	p.ops[OpValidate] = true
	keep = true
	return nil
}

// readOPATables asks an instance for the module's imported built-ins and
// its entrypoints (name -> id).
func (p *loaded) readOPATables(ctx context.Context, inst *instance) (builtins, entrypoints map[string]int32, err error) {
	_, err = inst.guard(ctx, p, func(c context.Context) ([]uint64, error) {
		for name, into := range map[string]*map[string]int32{opaExportBuiltins: &builtins, opaExportEntrypoints: &entrypoints} {
			res, err := inst.mod.ExportedFunction(name).Call(c)
			if err != nil {
				return nil, err
			}
			raw, err := opaDump(c, inst.mod, uint32(res[0]), int(p.maxResponse))
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(raw, into); err != nil {
				return nil, fmt.Errorf("%w: %s(): %w", ErrBadResponse, name, err)
			}
		}
		return nil, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read the module's built-ins and entrypoints: %w", err)
	}
	return builtins, entrypoints, nil
}

// IsOPAModule reports whether a module looks like `opa build -t wasm`
// output: it imports env.memory and exports opa_eval.
func IsOPAModule(module []byte) bool {
	sections, err := splitSections(module)
	if err != nil {
		return false
	}
	imports, exports := false, false
	for _, s := range sections {
		switch s.id {
		case sectionImport:
			imports = bytes.Contains(s.body, []byte("\x03env\x06memory"))
		case sectionExport:
			exports = bytes.Contains(s.body, []byte("\x08opa_eval"))
		}
	}
	return imports && exports
}

// OPAModuleInfo is what `plugin inspect` shows of an OPA module.
type OPAModuleInfo struct {
	ABIVersion  string   `json:"abiVersion"`
	Entrypoints []string `json:"entrypoints"`
	// Builtins are the built-ins the module imports; Unsupported those of
	// them the host does not implement (LoadChain refuses the module).
	Builtins    []string `json:"builtins"`
	Unsupported []string `json:"unsupported,omitempty"`
}

// inspectOPA loads an OPA module as LoadChain would (memory localised,
// instrumented, OPA host functions) in the interpreter and reads its ABI
// version, entrypoints and built-ins, each call bounded as a plugin call.
func inspectOPA(ctx context.Context, module []byte) (OPAModuleInfo, error) {
	var out OPAModuleInfo
	info, err := localizeOPAMemory(moduleInfo{bytes: module})
	if err != nil {
		return out, err
	}
	code, err := instrument(info.bytes)
	if err != nil {
		return out, fmt.Errorf("cannot be bounded by a deadline: %w", err)
	}
	p := &loaded{timeout: 2 * time.Second, memoryLimit: DefaultMemoryLimit, interruptible: true,
		logger: hclog.NewNullLogger(), maxResponse: DefaultMaxResponseBytes, opa: &opaModule{dataDocument: []byte("{}")}}
	p.runtime = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(DefaultMemoryLimit/wasmPageSize))
	defer p.runtime.Close(ctx)
	if err := instantiateOPAHost(ctx, p.runtime, p); err != nil {
		return out, err
	}
	if p.compiled, err = p.runtime.CompileModule(ctx, code); err != nil {
		return out, fmt.Errorf("compile: %w", err)
	}
	inst, err := p.newInstance(ctx)
	if err != nil {
		return out, fmt.Errorf("cannot instantiate: %w", err)
	}
	defer inst.close(ctx)
	major, minor, err := opaABIVersion(inst.mod)
	if err != nil {
		return out, err
	}
	out.ABIVersion = fmt.Sprintf("%d.%d", major, minor)
	builtins, entrypoints, err := p.readOPATables(ctx, inst)
	if err != nil {
		return out, err
	}
	out.Entrypoints, out.Builtins = sortedKeys(entrypoints), sortedKeys(builtins)
	for _, b := range out.Builtins {
		if opaHostBuiltins[b] == nil {
			out.Unsupported = append(out.Unsupported, b)
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func opaABIVersion(mod api.Module) (major, minor uint64, err error) {
	g := mod.ExportedGlobal(opaGlobalABIVersion)
	if g == nil {
		return 0, 0, fmt.Errorf("%w: no %s global (is this a module built by `opa build -t wasm`?)", ErrMissingExport, opaGlobalABIVersion)
	}
	if m := mod.ExportedGlobal(opaGlobalABIMinor); m != nil {
		minor = uint64(uint32(m.Get()))
	}
	return uint64(uint32(g.Get())), minor, nil
}

// initOPAInstance loads the data document into a new instance and records
// the heap base: each evaluation writes its input there and passes the heap
// pointer past it to opa_eval, so nothing of a call outlives it.
func (p *loaded) initOPAInstance(ctx context.Context, inst *instance) error {
	mod := inst.mod
	st := &opaInstance{
		eval:      mod.ExportedFunction(opaExportEval),
		malloc:    mod.ExportedFunction(opaExportMalloc),
		jsonParse: mod.ExportedFunction(opaExportJSONParse),
		jsonDump:  mod.ExportedFunction(opaExportJSONDump),
	}
	_, err := inst.guard(ctx, p, func(c context.Context) ([]uint64, error) {
		addr, err := opaLoadJSON(c, mod, p.opa.dataDocument)
		if err != nil {
			return nil, err
		}
		st.dataAddr = addr
		res, err := mod.ExportedFunction(opaExportHeapPtrGet).Call(c)
		if err != nil {
			return nil, err
		}
		st.heapBase = uint32(res[0])
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("load the data document: %w", err)
	}
	inst.opa = st
	return nil
}

// opaInput is the input document: Gatekeeper's shape for a pod under
// admission review.
type opaInput struct {
	Review     opaReview       `json:"review"`
	Parameters json.RawMessage `json:"parameters"`
}

type opaReview struct {
	Object    json.RawMessage `json:"object"`
	Kind      opaGVK          `json:"kind"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Operation string          `json:"operation"`
}

type opaGVK struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// OPAInput returns the input document an OPA plugin evaluates for a pod
// manifest (JSON) and the plugin's settings: {"review": {"object": pod,
// "kind": {"group": "", "version": "v1", "kind": "Pod"}, "name", "namespace",
// "operation": "CREATE"}, "parameters": settings}. Tests hand the same
// document to `opa eval`.
func OPAInput(manifest, settings json.RawMessage) ([]byte, error) {
	var meta struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(manifest, &meta); err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", ErrBadResponse, err)
	}
	params := settings
	if len(bytes.TrimSpace(params)) == 0 || bytes.Equal(bytes.TrimSpace(params), []byte("null")) {
		params = json.RawMessage("{}")
	}
	return json.Marshal(opaInput{
		Review: opaReview{
			Object:    manifest,
			Kind:      opaGVK{Version: "v1", Kind: "Pod"},
			Name:      meta.Metadata.Name,
			Namespace: meta.Metadata.Namespace,
			Operation: "CREATE",
		},
		Parameters: params,
	})
}

// exchangeOPA evaluates the entrypoint for a validate request and returns
// the verdict as a staticlet response, under one timeout.
func (inst *instance) exchangeOPA(ctx context.Context, p *loaded, op Operation, request []byte) ([]byte, error) {
	if op != OpValidate {
		return nil, fmt.Errorf("%w: OPA plugins only validate, not %s", ErrMissingExport, op)
	}
	var req wireRequest
	if err := json.Unmarshal(request, &req); err != nil {
		return nil, fmt.Errorf("decode request: %w", err)
	}
	input, err := OPAInput(req.Manifest, req.Settings)
	if err != nil {
		return nil, err
	}
	st := inst.opa
	var result string
	_, err = inst.guard(ctx, p, func(c context.Context) ([]uint64, error) {
		mem := inst.mod.Memory()
		end := uint64(st.heapBase) + uint64(len(input))
		if end > uint64(mem.Size()) {
			pages := (end - uint64(mem.Size()) + wasmPageSize - 1) / wasmPageSize
			if _, ok := mem.Grow(uint32(pages)); !ok {
				return nil, fmt.Errorf("%w (limit %d bytes): the input is %d bytes", ErrOutOfMemory, p.memoryLimit, len(input))
			}
		}
		if !mem.Write(st.heapBase, input) {
			return nil, fmt.Errorf("%w: input at %#x does not fit the guest's memory", ErrBadResponse, st.heapBase)
		}
		// opa_eval(reserved, entrypoint, data, input, input_len, heap_ptr, format=JSON)
		res, err := st.eval.Call(c, 0, uint64(uint32(p.opa.entrypoint)), uint64(st.dataAddr), uint64(st.heapBase),
			uint64(len(input)), end, 0)
		if err != nil {
			return nil, err
		}
		result, err = readCString(mem, uint32(res[0]), int(p.maxResponse))
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	return opaVerdict([]byte(result))
}

// opaVerdict turns the result set of an evaluation ([{"result": value}],
// empty when the entrypoint is undefined) into a validate response:
//   - a set or array of objects with "msg" (Gatekeeper's violation): one
//     denial each, code Violation (or the object's "code"), field from the
//     object's "field" when it is a string;
//   - a set or array of strings (deny[msg]): one denial each, code Denied;
//   - a boolean (allow): false denies with code Denied;
//   - undefined: allowed.
func opaVerdict(result []byte) ([]byte, error) {
	var set []struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(result, &set); err != nil {
		return nil, fmt.Errorf("%w: opa_eval result: %w", ErrBadResponse, err)
	}
	resp := wireResponse{Denials: []wireDenial{}}
	allowed := true
	resp.Allowed = &allowed
	if len(set) == 0 {
		return json.Marshal(resp)
	}
	if len(set) > 1 {
		return nil, fmt.Errorf("%w: opa_eval returned %d results, want one", ErrBadResponse, len(set))
	}
	value := set[0].Result
	var b bool
	if err := json.Unmarshal(value, &b); err == nil {
		if !b {
			resp.Denials = append(resp.Denials, wireDenial{Code: "Denied", Message: "the policy's entrypoint is false"})
		}
	} else {
		var items []json.RawMessage
		if err := json.Unmarshal(value, &items); err != nil {
			return nil, fmt.Errorf("%w: the entrypoint's value is not a boolean, set or array: %s", ErrBadResponse, abbreviate(value, 200))
		}
		for i, item := range items {
			var msg string
			if err := json.Unmarshal(item, &msg); err == nil {
				resp.Denials = append(resp.Denials, wireDenial{Code: "Denied", Message: msg})
				continue
			}
			var v struct {
				Msg   *string         `json:"msg"`
				Code  json.RawMessage `json:"code"`
				Field json.RawMessage `json:"field"`
			}
			if err := json.Unmarshal(item, &v); err != nil || v.Msg == nil {
				return nil, fmt.Errorf("%w: violation %d has no string \"msg\": %s", ErrBadResponse, i, abbreviate(item, 200))
			}
			d := wireDenial{Code: "Violation", Message: *v.Msg}
			var s string
			if json.Unmarshal(v.Code, &s) == nil && s != "" {
				d.Code = s
			}
			if json.Unmarshal(v.Field, &s) == nil {
				d.Field = s
			}
			resp.Denials = append(resp.Denials, d)
		}
	}
	allowed = len(resp.Denials) == 0
	return json.Marshal(resp)
}
