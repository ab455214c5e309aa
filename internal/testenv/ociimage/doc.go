// Package ociimage builds a small OCI image archive from the host's static busybox, so that tests and
// `make run` have a runnable image without any registry.
//
// It owns the image's layout: one layer holding /bin/busybox, a symlink in /bin for each applet,
// /etc/passwd and /etc/group (root and nobody, 65534), /etc/hosts and a world-writable /tmp; an image
// config for linux and the Go runtime's architecture; and the oci-archive tar (oci-layout, index.json,
// blobs/sha256/...) that containerd's client Import accepts, named with the io.containerd.image.name and
// org.opencontainers.image.ref.name annotations.
//
// IO: Build reads the busybox binary, runs it once with --list when the applets are not given, and
// writes the archive to the caller's writer. Every timestamp in the output is fixed, so the same
// inputs give the same bytes and the same digests.
package ociimage
