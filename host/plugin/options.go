package plugin

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
)

// DefaultMaxResponseBytes caps a plugin's response.
const DefaultMaxResponseBytes = 4 << 20

// Defaults of the quarantine options: three timeouts in a row cost a plugin
// 30 s without calls, then 1, 2, 4 minutes, at most 5, while it keeps
// timing out; a plugin that always loops then costs a call's timeout only
// once per back-off instead of on every manifest.
const (
	DefaultQuarantineAfter      = 3
	DefaultQuarantineBackoff    = 30 * time.Second
	DefaultQuarantineMaxBackoff = 5 * time.Minute
)

// Options tune LoadChain. The zero value works.
type Options struct {
	// CacheDir keeps compiled native code across restarts; created with
	// mode 0700. Empty means an in-memory cache shared by the process.
	CacheDir string
	// BaseDir resolves relative plugin paths (the config file's folder).
	BaseDir string
	// Logger receives plugin log messages (named after the plugin) and
	// the chain's decisions. Nil discards.
	Logger hclog.Logger
	// MaxInstancesPerPlugin bounds concurrent calls into one plugin, and
	// with it the plugin's memory (each instance has memoryLimit); 0 means
	// 1 (the agent admits from one goroutine).
	MaxInstancesPerPlugin int
	// MaxResponseBytes caps a response; 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int
	// LogPerSecond, LogBurst and LogMessageBytes cap plugin logging; 0
	// means the defaults.
	LogPerSecond, LogBurst, LogMessageBytes int
	// DisableInterruptInstrumentation makes timeouts use wazero's
	// WithCloseOnContextDone instead of the injected interrupt check
	// (slower; for comparison, see docs/RATIONALE.md).
	DisableInterruptInstrumentation bool
	// MaxModuleBytes refuses bigger modules; 0 means DefaultMaxModuleBytes.
	MaxModuleBytes int64
	// CompileTimeout and CompileMemoryBytes bound the compiler process
	// (compile.go); 0 means DefaultCompileTimeout and
	// DefaultCompileMemoryBytes.
	CompileTimeout     time.Duration
	CompileMemoryBytes int64
	// Interpreter uses wazero's interpreter instead of the compiler: fast
	// to load, slow to run (`staticlet plugin run` of a one-off call).
	Interpreter bool
	// ObserveCall, when set, is told of every plugin call: its operation,
	// outcome ("ok", "denied", "error", "timeout", "quarantined") and
	// duration (metrics).
	ObserveCall func(plugin string, op Operation, outcome string, took time.Duration)

	// QuarantineAfter is how many consecutive timed-out calls quarantine a
	// plugin: its calls then fail at once with ErrQuarantined (its
	// failurePolicy decides) for QuarantineBackoff, doubling on every
	// timeout after a quarantine up to QuarantineMaxBackoff; a call that
	// does not time out clears it. 0 means DefaultQuarantineAfter, a
	// negative value never quarantines.
	QuarantineAfter int
	// QuarantineBackoff and QuarantineMaxBackoff: 0 means the defaults.
	QuarantineBackoff, QuarantineMaxBackoff time.Duration
	// OnQuarantine, when set, is told when a plugin enters quarantine (the
	// agent emits an Event). It is called on the calling goroutine and must
	// not block.
	OnQuarantine func(plugin string, until time.Time, cause error)
	// Now is the clock quarantines are timed by; nil means time.Now.
	Now func() time.Time
	// FetchModule turns a plugin path naming an OCI artifact
	// (oci://registry/repository@sha256:...) into the path of its verified
	// module in a local store (package oci's Store.Fetch). Nil refuses such
	// plugins.
	FetchModule func(ctx context.Context, ref string) (string, error)

	// For benchmarks: a private compilation cache (to measure a restart)
	// and calls without any timeout enforcement (the floor).
	cacheOverride wazero.CompilationCache
	noTimeouts    bool
}

func (o *Options) logger() hclog.Logger {
	if o.Logger == nil {
		return hclog.NewNullLogger()
	}
	return o.Logger
}

func (o *Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o *Options) quarantinePolicy() quarantinePolicy {
	q := quarantinePolicy{after: o.QuarantineAfter, backoff: o.QuarantineBackoff, maxBackoff: o.QuarantineMaxBackoff}
	if q.after == 0 {
		q.after = DefaultQuarantineAfter
	}
	if q.backoff <= 0 {
		q.backoff = DefaultQuarantineBackoff
	}
	if q.maxBackoff <= 0 {
		q.maxBackoff = DefaultQuarantineMaxBackoff
	}
	q.maxBackoff = max(q.maxBackoff, q.backoff)
	return q
}

// positiveOr is v, or d when v is zero or negative (an option left unset).
func positiveOr[T int | int64 | time.Duration](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}

func (o *Options) maxResponseBytes() int {
	return positiveOr(o.MaxResponseBytes, DefaultMaxResponseBytes)
}

func (o *Options) logPerSecond() int { return positiveOr(o.LogPerSecond, DefaultLogPerSecond) }

func (o *Options) logBurst() int { return positiveOr(o.LogBurst, DefaultLogBurst) }

func (o *Options) logMessageBytes() int { return positiveOr(o.LogMessageBytes, DefaultLogMessageBytes) }

// Compilation caches are shared per folder within the process, so a reload
// does not recompile unchanged modules even without a folder.
var (
	cachesMu sync.Mutex
	caches   = map[string]wazero.CompilationCache{}
)

func compilationCache(dir string) (wazero.CompilationCache, error) {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	if c, ok := caches[dir]; ok {
		return c, nil
	}
	var c wazero.CompilationCache
	if dir == "" {
		c = wazero.NewCompilationCache()
	} else {
		// The folder holds native code the agent will run: keep it
		// private to the agent's user.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("plugin compilation cache: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("plugin compilation cache: %w", err)
		}
		var err error
		if c, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			return nil, fmt.Errorf("plugin compilation cache %s: %w", dir, err)
		}
	}
	caches[dir] = c
	return c, nil
}
