// Package testenv gives integration tests a real containerd and a runnable image.
//
// It owns the lifetime of a private containerd per test binary: Containerd starts it on first use
// through hack/containerd/containerd.sh in a fresh temporary state directory, and Main, called from
// the package's TestMain, stops it and deletes that directory when the tests end. The script also
// watches the test binary's pid, so a binary that dies without running Main's cleanup leaves nothing
// behind. Setting STATICLET_TEST_CONTAINERD_ADDRESS uses that containerd instead and starts nothing.
//
// When containerd cannot be had (not root, start failed) the tests that asked for it skip with the
// reason, or fail when STATICLET_REQUIRE_INTEGRATION=1. With -short they always skip.
//
// IO: runs bash with the script (which may apt-get install containerd, runc and busybox-static),
// creates and deletes the state directory, and talks gRPC to containerd through its Go client:
// ImportBusybox builds the busybox image with package ociimage, imports and unpacks it;
// ImportProbeImage does the same for the busybox image plus the probeserver command, which it first
// compiles with `go build`.
package testenv
