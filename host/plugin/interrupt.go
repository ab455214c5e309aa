package plugin

import (
	"context"
	"sync/atomic"
)

type interruptKey struct{}

// withInterrupt lets host functions see that the call they serve has been
// interrupted (guard sets the flag with the guest's interrupt global).
func withInterrupt(ctx context.Context, flag *atomic.Bool) context.Context {
	return context.WithValue(ctx, interruptKey{}, flag)
}

// errInterrupted is the panic value of a host function called after the
// deadline; wazero turns a host function's panic into a trap of the call,
// which guard reports as ErrTimeout because the flag is set.
var errInterrupted = ErrTimeout

// trapIfInterrupted is the first statement of every staticlet host
// function: a guest that spends its time in host calls (which run Go code,
// not the guest's instrumented loops) still stops at its deadline.
func trapIfInterrupted(ctx context.Context) {
	if flag, _ := ctx.Value(interruptKey{}).(*atomic.Bool); flag != nil && flag.Load() {
		panic(errInterrupted)
	}
}
