package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/staticlet/staticlet/internal/testenv/ociimage"
)

const (
	// ProbeImageName names the image ImportProbeImage imports: busybox plus ProbeServerPath.
	ProbeImageName = "staticlet.test/probeserver:latest"
	// ProbeServerPath is where the probe image holds the probeserver command (see package
	// internal/testenv/probeserver).
	ProbeServerPath = "/usr/local/bin/probeserver"

	probeServerPackage = "./internal/testenv/probeserver"
)

// probeImage is the probe image's archive, built once per test binary like busybox's.
var probeImage struct {
	once    sync.Once
	archive []byte
	image   ociimage.Image
	err     error
}

// ImportProbeImage imports ProbeImageName into namespace on the containerd at address, as
// ImportBusybox does, and returns its name. The image is the busybox image plus a probeserver built
// from source (static, CGO_ENABLED=0) by the first call in the test binary; a separate image, so
// tests that need only busybox do not pay for the build.
func ImportProbeImage(t testing.TB, address, namespace string) string {
	t.Helper()
	probeImage.once.Do(func() {
		server, err := buildProbeServer()
		if err != nil {
			probeImage.err = err
			return
		}
		var archive bytes.Buffer
		probeImage.image, probeImage.err = ociimage.Build(&archive, ociimage.Options{
			Name:  ProbeImageName,
			Files: []ociimage.File{{Path: ProbeServerPath[1:], Mode: 0o755, Data: server}},
		})
		probeImage.archive = archive.Bytes()
	})
	if probeImage.err != nil {
		unavailable(t, fmt.Errorf("%w: build the probe image: %w", ErrUnavailable, probeImage.err))
	}
	ctx, cancel := context.WithTimeout(t.Context(), importTimeout)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, namespace)
	if err := importAndUnpack(ctx, address, namespace, Snapshotter(address), probeImage.archive, probeImage.image.Name); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return probeImage.image.Name
}

// buildProbeServer compiles the probeserver command and returns the binary.
func buildProbeServer() ([]byte, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, fmt.Errorf("build probeserver: %w", err)
	}
	dir, err := os.MkdirTemp("", "staticlet-probeserver-")
	if err != nil {
		return nil, fmt.Errorf("build probeserver: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "probeserver")
	cmd := exec.Command(goCommand(), "build", "-trimpath", "-ldflags=-s -w", "-o", out, probeServerPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build probeserver: go build: %w: %s", err, output)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("build probeserver: %w", err)
	}
	return data, nil
}

// goCommand is the go command of the toolchain running the tests, else the one on PATH.
func goCommand() string {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err == nil {
		return goBin
	}
	return "go"
}
