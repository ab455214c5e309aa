package containerd

import (
	"context"
	"fmt"
)

// RuntimeVersion is containerd's version as the kubelet shows it in a Node's nodeInfo
// (containerRuntimeVersion: "containerd://<version>").
func (r *Runtime) RuntimeVersion(ctx context.Context) (string, error) {
	v, err := r.client.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("containerd version: %s: %w", r.opts.Address, err)
	}
	return "containerd://" + v.Version, nil
}
