package containerd

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
)

func normalizeImage(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w: %w", ref, errInvalidImage, err)
	}
	return named.String(), nil
}

func pullPolicy(c *corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	named, err := reference.ParseNormalizedNamed(c.Image)
	if err == nil {
		if tagged, ok := named.(reference.Tagged); ok && tagged.Tag() != "latest" {
			return corev1.PullIfNotPresent
		}
		if _, ok := named.(reference.Digested); ok {
			return corev1.PullIfNotPresent
		}
	}
	return corev1.PullAlways
}

// ensureImage returns the container's image, pulled as its policy says and
// unpacked for the snapshotter.
func (w *worker) ensureImage(ctx context.Context, cs *containerState) (client.Image, error) {
	cl := w.rt.client
	ref, err := normalizeImage(cs.spec.Image)
	if err != nil {
		return nil, err
	}
	policy := pullPolicy(cs.spec)
	img, err := cl.GetImage(ctx, ref)
	switch {
	case err == nil && policy != corev1.PullAlways:
	case err != nil && !errdefs.IsNotFound(err):
		return nil, fmt.Errorf("image %s: %w", ref, err)
	case err != nil && policy == corev1.PullNever:
		return nil, fmt.Errorf("container image %q is not present with pull policy of Never: %w", ref, errImageNeverPull)
	default:
		pctx, cancel := context.WithTimeout(ctx, w.rt.opts.PullTimeout)
		defer cancel()
		opts := []client.RemoteOpt{client.WithPullUnpack}
		if w.rt.opts.Snapshotter != "" {
			opts = append(opts, client.WithPullSnapshotter(w.rt.opts.Snapshotter))
		}
		w.log.Info("pulling image", "container", cs.name, "image", ref, "policy", policy)
		img, err = cl.Pull(pctx, ref, opts...)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("back-off pulling image %q: %w: %w", ref, errImagePull, err)
		}
	}
	digest := img.Target().Digest.String()
	if _, ok := w.rt.unpacked.Load(digest + w.rt.opts.Snapshotter); !ok {
		unpacked, err := img.IsUnpacked(ctx, w.rt.opts.Snapshotter)
		if err != nil {
			return nil, fmt.Errorf("image %s: check unpacked: %w", ref, err)
		}
		if !unpacked {
			if err := img.Unpack(ctx, w.rt.opts.Snapshotter); err != nil {
				return nil, fmt.Errorf("image %s: unpack: %w", ref, err)
			}
		}
		w.rt.unpacked.Store(digest+w.rt.opts.Snapshotter, true)
	}
	cs.imageID = ref + "@" + digest
	return img, nil
}
