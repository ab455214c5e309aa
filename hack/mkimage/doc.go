// Command mkimage writes the busybox OCI image archive of package ociimage to a file, for `ctr images
// import`, `make run` and anything else that needs a runnable image without a registry.
//
//	go run ./hack/mkimage -o busybox.tar [-name staticlet.test/busybox:latest] [-busybox /bin/busybox]
//	    [-applets sh,sleep,...] [-cmd 'sh -c "sleep 3600"'] [-entrypoint ...] [-env KEY=VALUE]... [-workdir /] [-stop-signal SIGTERM]
//	    [-user 65534]
//
// -cmd and -entrypoint take a JSON array (["sh","-c","sleep 3600"]) or words split on spaces.
// It prints the image's name and manifest digest.
//
// IO: reads the busybox binary and runs it with --list (package ociimage), writes the archive to -o
// ("-" for standard output) through a temporary file renamed into place.
package main
