package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
)

// Limits of loading a module, all configurable in Options. Compilation is
// the one step of a plugin's life that a module can make arbitrarily
// expensive without running: wazero's compiler takes time and memory
// roughly linear in the size of the largest function, and it cannot be
// cancelled. So it runs in a child process that is killed when over budget
// (see compileIsolated).
const (
	// DefaultMaxModuleBytes refuses bigger .wasm files before reading
	// them whole. A Go plugin is 3 to 4 MB.
	DefaultMaxModuleBytes = 32 << 20
	// DefaultCompileTimeout bounds validating, instrumenting and compiling
	// one module (a Go plugin takes 2 to 3 s on a loaded 2-core machine).
	DefaultCompileTimeout = 60 * time.Second
	// DefaultCompileMemoryBytes bounds the resident memory of the compiler
	// process (a Go plugin needs about 250 MiB).
	DefaultCompileMemoryBytes = 1 << 30
)

// compilerEnv in the environment turns any binary that links this package
// (staticlet, and test binaries) into the module compiler: init runs it
// before main and exits. The value is the JSON of compileJob.
const compilerEnv = "STATICLET_PLUGIN_COMPILER"

// Exit codes of the compiler process.
const (
	compileExitInvalid = 2 // the module is invalid or cannot be instrumented
	compileExitMemory  = 3 // over the memory budget
)

// compileJob is what the parent tells the compiler process; the module
// comes on its standard input.
type compileJob struct {
	// CacheDir receives the compiled code and, last, the instrumented
	// module: its presence means the module passed (see
	// instrumentedPath). Empty: the process only proves the budget holds.
	CacheDir      string `json:"cacheDir,omitempty"`
	Digest        string `json:"digest"`
	Interpreter   bool   `json:"interpreter,omitempty"`
	NoInstrument  bool   `json:"noInstrument,omitempty"`
	MemoryBytes   int64  `json:"memoryBytes"`
	ModuleMaxSize int64  `json:"moduleMaxSize"`
}

func init() {
	if spec := os.Getenv(compilerEnv); spec != "" {
		os.Exit(runCompiler(spec))
	}
}

// runCompiler is the compiler process: validate the module as uploaded,
// instrument it, compile the result into the cache, then record the
// instrumented module. It writes one error line on stderr when it fails.
func runCompiler(spec string) int {
	fail := func(code int, err error) int {
		fmt.Fprintln(os.Stderr, err.Error())
		return code
	}
	var job compileJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		return fail(1, fmt.Errorf("decode job: %w", err))
	}
	go watchMemory(job.MemoryBytes)
	module, err := readCapped(os.Stdin, job.ModuleMaxSize)
	if err != nil {
		return fail(1, err)
	}
	ctx := context.Background()
	if err := validateUploaded(ctx, module); err != nil {
		return fail(compileExitInvalid, err)
	}
	code := module
	if !job.NoInstrument {
		if code, err = instrument(module); err != nil {
			return fail(compileExitInvalid, err)
		}
	}
	cfg := wazero.NewRuntimeConfig()
	if job.Interpreter {
		cfg = wazero.NewRuntimeConfigInterpreter()
	}
	if job.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(job.CacheDir)
		if err != nil {
			return fail(1, fmt.Errorf("compilation cache %s: %w", job.CacheDir, err))
		}
		cfg = cfg.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := rt.CompileModule(ctx, code); err != nil {
		return fail(compileExitInvalid, fmt.Errorf("%w: %w", ErrInvalidModule, err))
	}
	if job.CacheDir != "" && !job.NoInstrument {
		if err := writeFileAtomic(instrumentedPath(job.CacheDir, job.Digest), code); err != nil {
			return fail(1, err)
		}
	}
	return 0
}

// watchMemory ends the compiler process when its resident set exceeds
// limit. It polls: an allocation burst can overshoot by what the compiler
// allocates in a few milliseconds, which docs/plugin-abi.md allows for.
func watchMemory(limit int64) {
	if limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit * 3 / 4) // the GC works harder before the hard stop
	page := int64(os.Getpagesize())
	for {
		if data, err := os.ReadFile("/proc/self/statm"); err == nil {
			if fields := strings.Fields(string(data)); len(fields) > 1 {
				if pages, err := strconv.ParseInt(fields[1], 10, 64); err == nil && pages*page > limit {
					fmt.Fprintf(os.Stderr, "compilation used more than %d bytes of memory\n", limit)
					os.Exit(compileExitMemory)
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readCapped reads at most limit bytes, and refuses a longer input without
// reading the rest.
func readCapped(f io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrModuleTooLarge, limit)
	}
	return data, nil
}

// validateUploaded validates the module exactly as uploaded, with wazero's
// decoder and validator (the interpreter's compile does nothing else of
// note), before any rewrite: `staticlet plugin inspect` runs the same
// check, so the two never disagree, and nothing the rewrite adds can make
// an invalid module valid.
func validateUploaded(ctx context.Context, module []byte) error {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, module); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	return nil
}

// instrumentedPath is where the compiler process leaves the instrumented
// module once it has validated and compiled it; the file's presence is the
// record that the module passed, so a restart loads it without a compiler
// process (the folder is the agent's own, mode 0700, like the native code
// next to it). instrumentVersion names the rewrite: bump it when
// instrument's output changes.
func instrumentedPath(cacheDir, digest string) string {
	return filepath.Join(cacheDir, instrumentVersion+"-"+digest+".wasm")
}

const instrumentVersion = "interrupt-v5"

func writeFileAtomic(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// passedInProcess remembers modules this process already had compiled
// within budget when there is no cache folder, so a second load of the same
// module (tests, `plugin test` over many cases) does not start another
// compiler process; the in-memory compilation cache then answers.
var passedInProcess sync.Map // digest+mode -> struct{}

// loadBudget is the compile budget of one LoadChain.
type loadBudget struct {
	maxModuleBytes int64
	timeout        time.Duration
	memoryBytes    int64
}

// prepareModule returns the code to compile in-process: the instrumented
// module (or the module itself when instrumentation is off), after a
// compiler process validated, instrumented and compiled it within budget.
// With a cache folder the compiled code is then in the cache, and the
// in-process compile only loads it.
func prepareModule(ctx context.Context, info moduleInfo, cacheDir string, interpreter, noInstrument bool, budget loadBudget) ([]byte, error) {
	if cacheDir != "" && !noInstrument && !interpreter {
		if data, err := os.ReadFile(instrumentedPath(cacheDir, info.digest)); err == nil {
			return data, nil
		}
	}
	// With a cache folder the compiled code must be in it for the
	// in-process compile to be a load, so the memo serves only without one.
	useMemo := cacheDir == "" || interpreter || noInstrument
	memo := fmt.Sprintf("%s/%t/%t", info.digest, interpreter, noInstrument)
	if _, ok := passedInProcess.Load(memo); !ok || !useMemo {
		job := compileJob{Digest: info.digest, Interpreter: interpreter, NoInstrument: noInstrument,
			MemoryBytes: budget.memoryBytes, ModuleMaxSize: budget.maxModuleBytes}
		if !interpreter {
			job.CacheDir = cacheDir
		}
		if err := compileIsolated(ctx, job, info.bytes, budget.timeout); err != nil {
			return nil, err
		}
		passedInProcess.Store(memo, struct{}{})
	}
	if noInstrument {
		return info.bytes, nil
	}
	if cacheDir != "" && !interpreter {
		if data, err := os.ReadFile(instrumentedPath(cacheDir, info.digest)); err == nil {
			return data, nil
		}
	}
	return instrument(info.bytes)
}

// compileIsolated runs the compiler process on module and waits for it,
// killing it at the deadline.
func compileIsolated(ctx context.Context, job compileJob, module []byte, timeout time.Duration) error {
	spec, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encode compile job: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Env = append(os.Environ(), compilerEnv+"="+string(spec))
	cmd.Stdin = bytes.NewReader(module)
	stderr := &outputBuffer{max: 4096}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	err = cmd.Run()
	if err == nil {
		return nil
	}
	message := SanitizeText(stderr.summary(), MaxErrorBytes)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: compilation did not finish within %s (compileTimeout)", ErrCompileBudget, timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("compile: %w", ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case compileExitInvalid:
			return fmt.Errorf("%w: %s", ErrInvalidModule, strings.TrimPrefix(message, ErrInvalidModule.Error()+": "))
		case compileExitMemory:
			return fmt.Errorf("%w: compilation needed more than %d bytes of memory (compileMemory), after %s",
				ErrCompileBudget, job.MemoryBytes, time.Since(started).Round(time.Millisecond))
		}
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("%w: the compiler process was killed by %s", ErrCompileBudget, ws.Signal())
		}
	}
	return fmt.Errorf("compile in a child process: %w: %s", err, message)
}
