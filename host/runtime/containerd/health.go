package containerd

import (
	"context"
	"fmt"
)

// Ping reports whether containerd answers, for the agent's readiness check.
func (r *Runtime) Ping(ctx context.Context) error {
	serving, err := r.client.IsServing(ctx)
	if err != nil {
		return fmt.Errorf("containerd at %s: %w", r.opts.Address, err)
	}
	if !serving {
		return fmt.Errorf("containerd at %s is not serving", r.opts.Address)
	}
	return nil
}
