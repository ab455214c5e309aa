package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// The hostile suite: guests written only from docs/plugin-abi.md that try to
// outlast their deadline, reach the host's injected state, or make loading
// cost the host unbounded time or memory. Each case asserts the verdict and
// a generous time bound; BenchmarkHostileStop measures the tight one.

const hostileTimeout = 300 * time.Millisecond

// hostileSlack is how far past its deadline a test lets a call end: the
// sandbox stops a guest within microseconds of the deadline
// (BenchmarkHostileStop), but these machines are shared and noisy.
const hostileSlack = 2 * time.Second

func hostileC(t testing.TB, hostileCase string) string {
	return plugintest.BuildC(t, "host/plugin/testdata/hostile/hostile.c", "-O0", "-DHOSTILE_"+hostileCase)
}

func hostileWat(t testing.TB, name string, flags ...string) string {
	return plugintest.BuildWat(t, "host/plugin/testdata/hostile/"+name+".wat", flags...)
}

// TestHostileCallsEndAtTheirDeadline: recursion without loops (the naive
// fib at -O0, f(n) calling f(n-1) twice) and host calls in an endless
// recursion are all stopped by the deadline, and the plugin serves again.
func TestHostileCallsEndAtTheirDeadline(t *testing.T) {
	ctx := context.Background()
	for _, hostileCase := range []string{"FIB", "TWICE", "HOSTCALLS"} {
		t.Run(hostileCase, func(t *testing.T) {
			c := loadChain(t, Spec{Name: "hostile", Path: hostileC(t, hostileCase), Timeout: dur(hostileTimeout)})
			for attempt := range 2 { // the second call runs on a fresh instance
				start := time.Now()
				v, err := c.Validate(ctx, seedRequest)
				took := time.Since(start)
				if err != nil || v.Allowed || len(v.Errors) != 1 || !errors.Is(v.Errors[0], ErrTimeout) {
					t.Fatalf("attempt %d: %+v %v", attempt, v, err)
				}
				if took < hostileTimeout || took > hostileTimeout+hostileSlack {
					t.Fatalf("attempt %d: the call took %v with a %v timeout", attempt, took, hostileTimeout)
				}
			}
		})
	}
}

// TestHostileStartCodeEndsAtTheDeadline: a start section and _initialize
// run under the deadline, with loops or with recursion only, so a module
// that never finishes starting fails its load in time instead of hanging
// the loader.
func TestHostileStartCodeEndsAtTheDeadline(t *testing.T) {
	ctx := context.Background()
	for name, path := range map[string]func(testing.TB) string{
		"start section loop":      func(t testing.TB) string { return hostileWat(t, "start-loop") },
		"start section recursion": func(t testing.TB) string { return hostileWat(t, "start-recursion") },
		"_initialize loop":        func(t testing.TB) string { return hostileC(t, "INIT_LOOP") },
		"_initialize recursion":   func(t testing.TB) string { return hostileC(t, "INIT_RECURSION") },
	} {
		t.Run(name, func(t *testing.T) {
			spec := Spec{Name: "hostile", Path: path(t), Timeout: dur(hostileTimeout)}
			// The first load compiles (in a child process, into the
			// cache); the second shows the bound without compile time.
			for attempt := range 2 {
				start := time.Now()
				c, err := LoadChain(ctx, []Spec{spec}, testOpts)
				took := time.Since(start)
				if err == nil {
					c.Close(ctx)
					t.Fatal("a module that never finishes starting was loaded")
				}
				if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "(hostile)") {
					t.Fatalf("attempt %d: %v", attempt, err)
				}
				if attempt == 1 && took > hostileTimeout+hostileSlack {
					t.Fatalf("the load took %v with a %v timeout", took, hostileTimeout)
				}
			}
		})
	}
}

// TestHostileInjectedStateWrite: a module that writes a global it does not
// have (the index the rewrite would give the interrupt flag) is invalid as
// uploaded; the loader and `plugin inspect` both refuse it, for the same
// reason.
func TestHostileInjectedStateWrite(t *testing.T) {
	ctx := context.Background()
	path := hostileWat(t, "global-write", "--no-check")
	_, err := LoadChain(ctx, []Spec{{Name: "hostile", Path: path, Timeout: dur(hostileTimeout)}}, Options{})
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "global") {
		t.Fatalf("load: %v", err)
	}
	module, readErr := os.ReadFile(path)
	if readErr != nil {
		t.Fatal(readErr)
	}
	_, inspectErr := Inspect(ctx, module)
	if !errors.Is(inspectErr, ErrInvalidModule) {
		t.Fatalf("inspect: %v", inspectErr)
	}
	// The rewriter refuses it on its own too (defence in depth: it never
	// relies on its input having been validated).
	if _, err := instrument(module); !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "global index 1") {
		t.Fatalf("instrument: %v", err)
	}
}

// hugeFunction is a valid module whose validate function is size bytes of
// `i32.const 0; drop`.
func hugeFunction(t *testing.T, size int) string {
	body := bytes.Repeat([]byte{0x41, 0x00, 0x1a}, size/3)
	body = append(body, 0x42, 0x00) // i64.const 0
	return writeTiny(t, tinyModule{abiVersion: 1, validate: body})
}

// TestHostileCompileBudget: a module over maxModuleBytes is refused before
// it is read whole; one within the size cap but too costly to compile is
// refused when its compiler process runs out of time or memory. Nothing of
// it stays in the agent's process.
func TestHostileCompileBudget(t *testing.T) {
	ctx := context.Background()
	huge := hugeFunction(t, 12<<20)
	t.Run("size", func(t *testing.T) {
		start := time.Now()
		_, err := LoadChain(ctx, []Spec{{Name: "huge", Path: huge}}, Options{MaxModuleBytes: 1 << 20})
		if !errors.Is(err, ErrModuleTooLarge) || !strings.Contains(err.Error(), "maxModuleBytes") {
			t.Fatalf("%v", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("refusing took %v", took)
		}
	})
	t.Run("time", func(t *testing.T) {
		start := time.Now()
		_, err := LoadChain(ctx, []Spec{{Name: "huge", Path: huge}}, Options{CompileTimeout: 300 * time.Millisecond, CacheDir: t.TempDir()})
		if !errors.Is(err, ErrCompileBudget) || !strings.Contains(err.Error(), "compileTimeout") {
			t.Fatalf("%v", err)
		}
		if took := time.Since(start); took > 300*time.Millisecond+hostileSlack {
			t.Fatalf("refusing took %v", took)
		}
	})
	t.Run("memory", func(t *testing.T) {
		_, err := LoadChain(ctx, []Spec{{Name: "huge", Path: huge}}, Options{CompileMemoryBytes: 128 << 20, CacheDir: t.TempDir()})
		if !errors.Is(err, ErrCompileBudget) || !strings.Contains(err.Error(), "compileMemory") {
			t.Fatalf("%v", err)
		}
	})
}

// TestHostileMemory: a guest that grows its memory as far as it can and
// touches every page is held to memoryLimit, costs the host that much
// resident memory at most (plus what the host itself allocates), and gives
// it back when the instance is closed.
func TestHostileMemory(t *testing.T) {
	ctx := context.Background()
	const limit = 256 << 20
	spec := Spec{Name: "hog", Path: hostileC(t, "HOG"), Timeout: dur(10 * time.Second)}
	spec.MemoryLimit = resource.NewQuantity(limit, resource.BinarySI)
	c := loadChain(t, spec)
	runtime.GC()
	before := residentBytes(t)
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if rss := residentBytes(t); rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	v, err := c.Validate(ctx, seedRequest)
	if err != nil || !v.Allowed {
		t.Fatalf("%+v %v", v, err)
	}
	close(stop)
	<-sampled
	grew := peak.Load() - before
	// The guest's memory is resident now (it stays with the warm
	// instance); the rest of the growth is the test's own allocations.
	if grew > limit+hostMemoryOverhead {
		t.Fatalf("the host grew by %d MiB for a %d MiB memoryLimit", grew>>20, limit>>20)
	}
	if grew < limit/2 {
		t.Fatalf("the guest did not touch its memory (grew %d MiB): the test measures nothing", grew>>20)
	}
	if mem := c.plugins[0].idle; len(mem) != 1 {
		t.Fatal("no warm instance")
	}
	c.Close(ctx)
	if after := residentBytes(t); after-before > hostMemoryOverhead {
		t.Fatalf("closing the plugin left %d MiB resident", (after-before)>>20)
	}
}

// hostMemoryOverhead is the documented constant (docs/plugin-abi.md) that a
// plugin's resident memory may exceed its memoryLimit by, beyond its
// compiled code: the request and response copies (MaxResponseBytes each)
// and the host's bookkeeping.
const hostMemoryOverhead = 16 << 20

func residentBytes(t testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(data), &size, &resident); err != nil {
		t.Fatal(err)
	}
	return resident * int64(os.Getpagesize())
}

// TestHostFunctionsTrapOnceInterrupted: a host call made after the deadline
// traps at once instead of running.
func TestHostFunctionsTrapOnceInterrupted(t *testing.T) {
	flag := new(atomic.Bool)
	ctx := withInterrupt(context.Background(), flag)
	trapIfInterrupted(ctx) // not yet
	flag.Store(true)
	defer func() {
		if r := recover(); r != errInterrupted {
			t.Fatalf("recovered %v", r)
		}
	}()
	trapIfInterrupted(ctx)
	t.Fatal("no trap")
}

// TestInstrumentedCacheIsTheValidationRecord: the instrumented module
// appears in the cache folder only after its compiler process validated
// and compiled it, and a second load takes it from there without another
// compiler process.
func TestInstrumentedCacheIsTheValidationRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := hostileWat(t, "global-write", "--no-check")
	if _, err := LoadChain(ctx, []Spec{{Name: "bad", Path: path}}, Options{CacheDir: dir}); err == nil {
		t.Fatal("loaded an invalid module")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, instrumentVersion+"-*.wasm")); len(matches) != 0 {
		t.Fatalf("an invalid module left %v", matches)
	}
	good := writeTiny(t, tinyModule{abiVersion: 1, response: `{"allowed":true}`})
	c, err := LoadChain(ctx, []Spec{{Name: "good", Path: good}}, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	if matches, _ := filepath.Glob(filepath.Join(dir, instrumentVersion+"-*.wasm")); len(matches) != 1 {
		t.Fatalf("cache holds %v", matches)
	}
}

// TestInterruptAfterReturnDoesNotPoisonTheInstance: a call whose context
// ends as the guest returns (the agent cancels superseded admissions) must
// not leave the interrupt flag set in the pooled instance, or the next call
// on it traps at its first check.
func TestInterruptAfterReturnDoesNotPoisonTheInstance(t *testing.T) {
	c := loadChain(t, Spec{Name: "c-example", Path: plugintest.BuildC(t, "plugins/c-example/deny_host_network.c", "-O2")})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 300 {
		c.Validate(cancelled, seedRequest) // abandoned or finished: either is fine
		v, err := c.Validate(context.Background(), seedRequest)
		if err != nil || !v.Allowed {
			t.Fatalf("call %d after a cancelled one: %+v %v", i, v, err)
		}
	}
}
