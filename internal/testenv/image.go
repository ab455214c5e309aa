package testenv

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/staticlet/staticlet/internal/testenv/ociimage"
)

// importTimeout bounds one import and unpack of the busybox image (about 2 MB).
const importTimeout = 2 * time.Minute

// busybox is the image archive, built once per test binary: its bytes never change.
var busybox struct {
	once    sync.Once
	archive []byte
	image   ociimage.Image
	err     error
}

// ImportBusybox imports the busybox image of package ociimage (with its defaults: sh, a PATH, every
// applet) into namespace on the containerd at address, unpacks it for Snapshotter(address) and returns
// its name, ociimage.DefaultName. When that snapshotter is known it also becomes the namespace's
// default, so client.WithNewSnapshot and other calls that name no snapshotter use it.
func ImportBusybox(t testing.TB, address, namespace string) string {
	t.Helper()
	busybox.once.Do(func() {
		var archive bytes.Buffer
		busybox.image, busybox.err = ociimage.Build(&archive, ociimage.Options{})
		busybox.archive = archive.Bytes()
	})
	if busybox.err != nil {
		unavailable(t, fmt.Errorf("%w: build busybox image: %w", ErrUnavailable, busybox.err))
	}
	ctx, cancel := context.WithTimeout(t.Context(), importTimeout)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, namespace)
	if err := importAndUnpack(ctx, address, namespace, Snapshotter(address), busybox.archive, busybox.image.Name); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return busybox.image.Name
}

// importAndUnpack imports the oci-archive into namespace and unpacks the image called name.
func importAndUnpack(ctx context.Context, address, namespace, snapshotter string, archive []byte, name string) error {
	c, err := client.New(address)
	if err != nil {
		return fmt.Errorf("import %s: connect to %s: %w", name, address, err)
	}
	defer c.Close()
	if snapshotter != "" {
		err := c.NamespaceService().SetLabel(ctx, namespace, defaults.DefaultSnapshotterNSLabel, snapshotter)
		if err != nil {
			return fmt.Errorf("import %s: set namespace %s's default snapshotter: %w", name, namespace, err)
		}
	}
	imported, err := c.Import(ctx, bytes.NewReader(archive))
	if err != nil {
		return fmt.Errorf("import %s: %w", name, err)
	}
	for _, record := range imported {
		if record.Name != name {
			continue
		}
		image := client.NewImage(c, record)
		unpacked, err := image.IsUnpacked(ctx, snapshotter)
		if err != nil {
			return fmt.Errorf("import %s: check unpacked: %w", name, err)
		}
		if !unpacked {
			if err := image.Unpack(ctx, snapshotter); err != nil {
				return fmt.Errorf("import %s: unpack for snapshotter %q: %w", name, snapshotter, err)
			}
		}
		return nil
	}
	names := make([]string, len(imported))
	for i, record := range imported {
		names[i] = record.Name
	}
	return fmt.Errorf("import %s: containerd created images %v, not this one", name, names)
}
