package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

const wasmPageSize = 64 << 10

// loaded is one plugin of a chain: its own wazero runtime (memory caps are
// per runtime), the compiled module and a pool of warm instances. Instances
// are not safe for concurrent use, so each call takes one from the pool; an
// instance that failed is closed, never returned, and the next call builds a
// fresh one.
type loaded struct {
	spec        Spec
	index       int
	digest      string
	settings    json.RawMessage
	ops         map[Operation]bool
	metadata    *Metadata
	timeout     time.Duration
	memoryLimit int64
	maxResponse uint32
	// interruptible: the module was instrumented (see instrument) and calls
	// are stopped by setting its interrupt global; otherwise the runtime
	// uses WithCloseOnContextDone.
	interruptible bool
	noTimeouts    bool // benchmarks only

	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	logger   hclog.Logger

	idle  chan *instance
	slots chan struct{} // one token per live instance

	// opa is set for an OPA module (Spec.ABI opa, opa.go).
	opa *opaModule
}

type instance struct {
	mod       api.Module
	alloc     api.Function
	ops       map[Operation]api.Function
	interrupt api.MutableGlobal
	output    *outputBuffer
	opa       *opaInstance // an OPA module's state (opa.go)
}

// moduleInfo is what LoadChain learns about a module before running it.
type moduleInfo struct {
	bytes    []byte
	digest   string
	metadata *Metadata
}

func readModule(spec Spec, baseDir string, maxBytes int64) (moduleInfo, error) {
	path := spec.Path
	if !filepath.IsAbs(path) && baseDir != "" {
		path = filepath.Join(baseDir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return moduleInfo{}, fmt.Errorf("%w: %w", ErrReadModule, err)
	}
	defer f.Close()
	data, err := readCapped(f, maxBytes)
	if errors.Is(err, ErrModuleTooLarge) {
		return moduleInfo{}, fmt.Errorf("%w: %s is larger than %d bytes (maxModuleBytes)", ErrModuleTooLarge, path, maxBytes)
	} else if err != nil {
		return moduleInfo{}, fmt.Errorf("%w: %w", ErrReadModule, err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if spec.SHA256 != "" && !strings.EqualFold(spec.SHA256, digest) {
		return moduleInfo{}, fmt.Errorf("%w: %s has sha256 %s, the config requires %s", ErrChecksum, path, digest, strings.ToLower(spec.SHA256))
	}
	info := moduleInfo{bytes: data, digest: digest}
	if raw, ok := customSection(data, MetadataSection); ok {
		var m Metadata
		if err := json.Unmarshal(raw, &m); err != nil {
			return moduleInfo{}, fmt.Errorf("%w: %s section: %w", ErrInvalidModule, MetadataSection, err)
		}
		info.metadata = &m
	}
	return info, nil
}

func (o *Options) maxInstances() int {
	return positiveOr(o.MaxInstancesPerPlugin, 1)
}

func (o *Options) budget() loadBudget {
	return loadBudget{
		maxModuleBytes: positiveOr(o.MaxModuleBytes, DefaultMaxModuleBytes),
		timeout:        positiveOr(o.CompileTimeout, DefaultCompileTimeout),
		memoryBytes:    positiveOr(o.CompileMemoryBytes, DefaultCompileMemoryBytes),
	}
}

// loadPlugin compiles and checks one module: required exports, ABI version,
// operations, memory floor, settings. It leaves one warm instance in the
// pool.
func loadPlugin(ctx context.Context, spec Spec, index int, info moduleInfo, opts *Options, cache wazero.CompilationCache) (_ *loaded, err error) {
	p := &loaded{
		spec:        spec,
		index:       index,
		digest:      info.digest,
		settings:    spec.Settings,
		metadata:    info.metadata,
		timeout:     spec.EffectiveTimeout(),
		memoryLimit: spec.EffectiveMemoryLimit(),
		maxResponse: uint32(opts.maxResponseBytes()),
		logger:      opts.logger().Named(spec.Name),
		idle:        make(chan *instance, opts.maxInstances()),
		slots:       make(chan struct{}, opts.maxInstances()),
		ops:         map[Operation]bool{},
	}
	p.noTimeouts = opts.noTimeouts
	// Every module is instrumented (wasmbin.go): the injected checks are
	// what bounds a call by its deadline. Only benchmarks turn them off.
	p.interruptible = !opts.DisableInterruptInstrumentation && !opts.noTimeouts
	if spec.ABI == ABIOPA {
		// OPA modules import their memory; it becomes the module's own.
		if info, err = localizeOPAMemory(info); err != nil {
			return nil, err
		}
	}
	if pages, err := minMemoryPages(info.bytes); err != nil {
		return nil, err
	} else if need := int64(pages) * wasmPageSize; need > p.memoryLimit {
		return nil, fmt.Errorf("%w: memoryLimit %d bytes is below the module's minimum memory of %d bytes (%d pages)",
			ErrInvalidSpec, p.memoryLimit, need, pages)
	}
	code, err := prepareModule(ctx, info, opts.CacheDir, opts.Interpreter, !p.interruptible, opts.budget())
	if err != nil {
		return nil, err
	}
	cfg := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(uint32(p.memoryLimit / wasmPageSize)).
		WithCloseOnContextDone(opts.DisableInterruptInstrumentation && !p.noTimeouts)
	if opts.Interpreter {
		cfg = wazero.NewRuntimeConfigInterpreter().
			WithMemoryLimitPages(uint32(p.memoryLimit / wasmPageSize)).
			WithCloseOnContextDone(opts.DisableInterruptInstrumentation && !p.noTimeouts)
	}
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache)
	}
	p.runtime = wazero.NewRuntimeWithConfig(ctx, cfg)
	defer func() {
		if err != nil {
			p.runtime.Close(ctx)
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.runtime); err != nil {
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	limiter := newLogLimiter(opts.logPerSecond(), opts.logBurst(), opts.logMessageBytes())
	if err := instantiateHostModule(ctx, p.runtime, p.logger, limiter); err != nil {
		return nil, fmt.Errorf("instantiate host functions: %w", err)
	}
	if spec.ABI == ABIOPA {
		if err := instantiateOPAHost(ctx, p.runtime, p); err != nil {
			return nil, fmt.Errorf("instantiate OPA host functions: %w", err)
		}
	}
	p.compiled, err = p.runtime.CompileModule(ctx, code)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	if spec.ABI == ABIOPA {
		if err := p.loadOPA(ctx); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err := checkImports(p.compiled); err != nil {
		return nil, err
	}
	exports := p.compiled.ExportedFunctions()
	for _, name := range []string{exportABIVersion, exportAlloc} {
		if _, ok := exports[name]; !ok {
			return nil, fmt.Errorf("%w: %s (is this a staticlet plugin?)", ErrMissingExport, name)
		}
	}

	inst, err := p.newInstance(ctx)
	if err != nil {
		return nil, err
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
	version, err := inst.callScalar(ctx, p, exportABIVersion)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", exportABIVersion, err)
	}
	if version != ABIVersion {
		return nil, fmt.Errorf("%w: the module speaks ABI version %d, this host speaks %d", ErrABIVersion, version, ABIVersion)
	}
	offered := uint32(1<<32 - 1)
	if _, ok := exports[exportOperations]; ok {
		bits, err := inst.callScalar(ctx, p, exportOperations)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", exportOperations, err)
		}
		offered = uint32(bits)
	}
	for _, op := range chainOperations {
		if _, ok := exports[exportPrefix+string(op)]; ok && offered&op.bit() != 0 {
			p.ops[op] = true
		}
	}
	if len(p.ops) == 0 {
		return nil, fmt.Errorf("%w: export at least one of staticlet_validate, staticlet_mutate, staticlet_name", ErrNoOperation)
	}
	if _, ok := exports[exportPrefix+string(OpValidateSettings)]; ok {
		resp, _, err := p.callOn(ctx, inst, OpValidateSettings, wireRequest{ABIVersion: ABIVersion, Operation: string(OpValidateSettings), Settings: p.settings})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", OpValidateSettings, err)
		}
		if resp.Valid == nil {
			return nil, fmt.Errorf("%s: %w: no \"valid\" field", OpValidateSettings, ErrBadResponse)
		}
		if !*resp.Valid {
			return nil, fmt.Errorf("%w: %s", ErrSettingsRejected, resp.Message)
		}
	}
	keep = true
	return p, nil
}

// newInstance instantiates the module and runs its start function and
// _initialize, each under the call timeout. Instantiation itself runs no
// guest code: instrument turned a start section into an export, and
// WithStartFunctions() keeps wazero from calling _initialize unguarded.
func (p *loaded) newInstance(ctx context.Context) (*instance, error) {
	out := &outputBuffer{max: 2048}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(out).
		WithStderr(out)
	instantiateCtx := experimental.WithMemoryAllocator(ctx, guestMemory{})
	if !p.interruptible && !p.noTimeouts {
		// Uninstrumented (benchmarks only): a start section runs inside
		// InstantiateModule, where only wazero's own check can stop it.
		var cancel context.CancelFunc
		instantiateCtx, cancel = context.WithTimeout(instantiateCtx, p.timeout)
		defer cancel()
	}
	mod, err := p.runtime.InstantiateModule(instantiateCtx, p.compiled, cfg)
	if err != nil {
		if !p.interruptible && errors.Is(instantiateCtx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("start function: %w after %s", ErrTimeout, p.timeout)
		}
		return nil, fmt.Errorf("%w: instantiate: %w", ErrInvalidModule, err)
	}
	inst := &instance{mod: mod, alloc: mod.ExportedFunction(exportAlloc), ops: map[Operation]api.Function{}, output: out}
	for _, op := range append(chainOperations, OpValidateSettings) {
		if fn := mod.ExportedFunction(exportPrefix + string(op)); fn != nil {
			inst.ops[op] = fn
		}
	}
	if p.interruptible {
		g, ok := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
		if !ok {
			mod.Close(ctx)
			return nil, fmt.Errorf("%w: instrumented interrupt global missing", ErrInvalidModule)
		}
		inst.interrupt = g
	}
	for _, name := range []string{startExport, exportInitialize} {
		fn := mod.ExportedFunction(name)
		if fn == nil {
			continue
		}
		if _, err := inst.guard(ctx, p, func(callCtx context.Context) ([]uint64, error) { return fn.Call(callCtx) }); err != nil {
			inst.close(ctx)
			if name == startExport {
				name = "start function"
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if p.opa != nil {
		if err := p.initOPAInstance(ctx, inst); err != nil {
			inst.close(ctx)
			return nil, err
		}
	}
	return inst, nil
}

func (inst *instance) close(ctx context.Context) {
	_ = inst.mod.Close(ctx)
}

// guard runs fn under the plugin's timeout and classifies its failure. The
// caller discards the instance whenever guard returns an error.
func (inst *instance) guard(ctx context.Context, p *loaded, fn func(context.Context) ([]uint64, error)) ([]uint64, error) {
	if p.noTimeouts {
		results, err := fn(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTrap, err)
		}
		return results, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	interrupted := new(atomic.Bool)
	guestCtx := callCtx
	settle := func() {}
	if p.interruptible {
		// The runtime does not watch the context; a timer flips the
		// module's interrupt global instead, and host functions see the
		// flag and trap at once (a guest in a host call is not in a loop).
		guestCtx = withInterrupt(context.WithoutCancel(callCtx), interrupted)
		fired := make(chan struct{})
		stop := context.AfterFunc(callCtx, func() {
			interrupted.Store(true)
			inst.interrupt.Set(1)
			close(fired)
		})
		// settle waits out an interrupt that fired as the guest returned,
		// so that no flag set after the call outlives it in a pooled
		// instance (the next call would trap at its first check).
		settle = func() {
			if !stop() {
				<-fired
			}
		}
	}
	results, err := fn(guestCtx)
	settle()
	if err == nil {
		if interrupted.Load() {
			inst.interrupt.Set(0) // the guest finished before it reached a check
		}
		return results, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("call abandoned: %w", ctx.Err())
	}
	if errors.Is(err, ErrBadResponse) || errors.Is(err, ErrResponseTooLarge) {
		return nil, err // the guest misbehaved without trapping; err says how
	}
	if interrupted.Load() || errors.Is(callCtx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w after %s", ErrTimeout, p.timeout)
	}
	summary := inst.output.summary()
	var exit *sys.ExitError
	memSize := int64(0)
	if mem := inst.mod.Memory(); mem != nil && !inst.mod.IsClosed() {
		memSize = int64(mem.Size())
	}
	// A Go guest's heap grows by 4 MiB arenas, so "near the limit" is
	// generous.
	if strings.Contains(summary, "out of memory") || (memSize > 0 && memSize+4<<20 > p.memoryLimit) {
		return nil, fmt.Errorf("%w (limit %d bytes): %w%s", ErrOutOfMemory, p.memoryLimit, err, outputSuffix(summary))
	}
	if errors.As(err, &exit) {
		return nil, fmt.Errorf("%w: exited with code %d%s", ErrTrap, exit.ExitCode(), outputSuffix(summary))
	}
	return nil, fmt.Errorf("%w: %w%s", ErrTrap, err, outputSuffix(summary))
}

func outputSuffix(summary string) string {
	if summary == "" {
		return ""
	}
	return "; guest output: " + summary
}

func (inst *instance) callScalar(ctx context.Context, p *loaded, export string) (uint64, error) {
	fn := inst.mod.ExportedFunction(export)
	res, err := inst.guard(ctx, p, func(c context.Context) ([]uint64, error) { return fn.Call(c) })
	if err != nil {
		return 0, err
	}
	if len(res) != 1 {
		return 0, fmt.Errorf("%w: %s returns %d values, want 1", ErrInvalidModule, export, len(res))
	}
	return res[0], nil
}

// exchange writes the request into a guest buffer from staticlet_alloc,
// calls the operation and copies the response out, under one timeout.
func (inst *instance) exchange(ctx context.Context, p *loaded, op Operation, request []byte) ([]byte, error) {
	if inst.opa != nil {
		return inst.exchangeOPA(ctx, p, op, request)
	}
	fn := inst.ops[op]
	if fn == nil {
		return nil, fmt.Errorf("%w: %s%s", ErrMissingExport, exportPrefix, op)
	}
	var response []byte
	_, err := inst.guard(ctx, p, func(c context.Context) ([]uint64, error) {
		res, err := inst.alloc.Call(c, uint64(len(request)))
		if err != nil {
			return nil, err
		}
		ptr := uint32(res[0])
		if ptr == 0 || !inst.mod.Memory().Write(ptr, request) {
			return nil, fmt.Errorf("%w: staticlet_alloc(%d) returned unusable pointer %#x", ErrBadResponse, len(request), ptr)
		}
		res, err = fn.Call(c, uint64(ptr), uint64(len(request)))
		if err != nil {
			return nil, err
		}
		respPtr, respLen := uint32(res[0]>>32), uint32(res[0])
		if respLen > p.maxResponse {
			return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrResponseTooLarge, respLen, p.maxResponse)
		}
		data, ok := inst.mod.Memory().Read(respPtr, respLen)
		if !ok {
			return nil, fmt.Errorf("%w: response [%#x, +%d) is outside the guest's memory", ErrBadResponse, respPtr, respLen)
		}
		response = bytes.Clone(data)
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return response, nil
}

// callOn runs one operation on a given instance and decodes the response.
// broken says the instance must be discarded: the failure happened inside
// the guest (a malformed JSON document or an error the plugin reported do
// not count).
func (p *loaded) callOn(ctx context.Context, inst *instance, op Operation, req wireRequest) (resp wireResponse, broken bool, err error) {
	data, err := json.Marshal(req)
	if err != nil {
		return resp, false, fmt.Errorf("encode request: %w", err)
	}
	raw, err := inst.exchange(ctx, p, op, data)
	if err != nil {
		return resp, true, err
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return resp, false, fmt.Errorf("%w: %w: %q", ErrBadResponse, err, abbreviate(raw, 200))
	}
	if resp.Error != "" {
		return resp, false, fmt.Errorf("%w: %s", ErrPluginReported, resp.Error)
	}
	return resp, false, nil
}

func abbreviate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// call runs one operation on a pooled instance. A failed instance is
// discarded; the next call builds a new one.
func (p *loaded) call(ctx context.Context, op Operation, req wireRequest) (wireResponse, error) {
	inst, err := p.acquire(ctx)
	if err != nil {
		return wireResponse{}, err
	}
	resp, broken, err := p.callOn(ctx, inst, op, req)
	if broken {
		p.logger.Debug("discarding plugin instance", "operation", op, "error", SanitizeText(err.Error(), MaxErrorBytes))
		inst.close(ctx)
		<-p.slots
		return resp, err
	}
	p.idle <- inst
	return resp, err
}

func (p *loaded) acquire(ctx context.Context) (*instance, error) {
	select {
	case inst := <-p.idle:
		return inst, nil
	default:
	}
	select {
	case inst := <-p.idle:
		return inst, nil
	case p.slots <- struct{}{}:
		inst, err := p.newInstance(ctx)
		if err != nil {
			<-p.slots
			return nil, err
		}
		return inst, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a plugin instance: %w", ctx.Err())
	}
}

func (p *loaded) close(ctx context.Context) error {
	return p.runtime.Close(ctx)
}

// outputBuffer keeps the first bytes written to a guest's stdout and stderr
// (a Go guest prints "panic: ..." or "fatal error: out of memory" there
// before its goroutine dump), to quote in error messages; the rest is
// dropped.
type outputBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (o *outputBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := o.max - len(o.buf); room > 0 {
		o.buf = append(o.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// summary is the first few lines of output.
func (o *outputBuffer) summary() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	lines := strings.SplitN(strings.TrimSpace(string(o.buf)), "\n", 4)
	if len(lines) > 3 {
		lines = lines[:3]
	}
	return strings.Join(lines, " | ")
}
