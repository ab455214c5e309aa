package plugin

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Limits of the log host function.
const (
	// DefaultLogMessageBytes caps one message; longer ones are truncated.
	DefaultLogMessageBytes = 1024
	// DefaultLogBurst and DefaultLogPerSecond bound the rate of messages per
	// plugin (a token bucket); excess messages are dropped and counted.
	DefaultLogBurst     = 50
	DefaultLogPerSecond = 10
)

type nodeKey struct{}

// nodeFacts is what the node_name and node_labels host functions return
// during a call; it rides on the call's context.
type nodeFacts struct {
	name   []byte
	labels []byte
}

func withNode(ctx context.Context, n Node) context.Context {
	labels, _ := json.Marshal(n.Labels)
	return context.WithValue(ctx, nodeKey{}, &nodeFacts{name: []byte(n.Name), labels: labels})
}

// logLimiter is a token bucket shared by all instances of one plugin.
type logLimiter struct {
	mu       sync.Mutex
	tokens   float64
	last     time.Time
	dropped  int
	perSec   float64
	burst    float64
	maxBytes int
}

func newLogLimiter(perSecond, burst, maxBytes int) *logLimiter {
	return &logLimiter{tokens: float64(burst), perSec: float64(perSecond), burst: float64(burst), maxBytes: maxBytes}
}

// allow takes a token; it returns false when the message must be dropped,
// and otherwise how many were dropped since the last allowed message.
func (l *logLimiter) allow(now time.Time) (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.perSec)
	}
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// instantiateHostModule adds the "staticlet" host module to a plugin's
// runtime: log(level, ptr, len), node_name(ptr, cap) -> len and
// node_labels(ptr, cap) -> len. Every function only reads or writes the
// calling guest's own memory within the bounds it was given.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime, logger hclog.Logger, limiter *logLimiter) error {
	logFn := func(ctx context.Context, mod api.Module, level, ptr, size uint32) {
		trapIfInterrupted(ctx)
		ok, dropped := limiter.allow(time.Now())
		if !ok {
			return
		}
		truncated := false
		if size > uint32(limiter.maxBytes) {
			size, truncated = uint32(limiter.maxBytes), true
		}
		msg, inBounds := mod.Memory().Read(ptr, size)
		if !inBounds {
			logger.Warn("plugin log call with out-of-bounds buffer", "ptr", ptr, "len", size)
			return
		}
		args := []any{}
		if truncated {
			args = append(args, "truncated", true)
		}
		if dropped > 0 {
			args = append(args, "dropped_before", dropped)
		}
		logger.Log(hclogLevel(level), SanitizeText(string(msg), 0), args...) // size is already capped
	}
	fact := func(pick func(*nodeFacts) []byte) func(context.Context, api.Module, uint32, uint32) uint32 {
		return func(ctx context.Context, mod api.Module, ptr, capacity uint32) uint32 {
			trapIfInterrupted(ctx)
			facts, _ := ctx.Value(nodeKey{}).(*nodeFacts)
			if facts == nil {
				facts = &nodeFacts{labels: []byte("{}")}
			}
			value := pick(facts)
			if uint32(len(value)) <= capacity && len(value) > 0 {
				if !mod.Memory().Write(ptr, value) {
					return 0
				}
			}
			return uint32(len(value))
		}
	}
	_, err := rt.NewHostModuleBuilder(hostModule).
		NewFunctionBuilder().WithFunc(logFn).Export("log").
		NewFunctionBuilder().WithFunc(fact(func(f *nodeFacts) []byte { return f.name })).Export("node_name").
		NewFunctionBuilder().WithFunc(fact(func(f *nodeFacts) []byte { return f.labels })).Export("node_labels").
		Instantiate(ctx)
	return err
}

func hclogLevel(level uint32) hclog.Level {
	switch level {
	case 0:
		return hclog.Trace
	case 1:
		return hclog.Debug
	case 2:
		return hclog.Info
	case 3:
		return hclog.Warn
	default:
		return hclog.Error
	}
}
