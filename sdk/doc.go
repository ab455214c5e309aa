// Package sdk is what Go authors import to write staticlet admission plugins:
// WebAssembly modules that validate, mutate or name static pod manifests.
//
// A plugin is a Plugin value with typed settings and up to three handlers,
// registered from an init function and built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o my.wasm .
//
// The package owns the guest side of the staticlet plugin ABI version 1
// (docs/plugin-abi.md): the exported functions, the buffer ownership rules
// (the guest owns every buffer it hands out) and the JSON request and
// response encoding. Built for wasip1 its only IO is the two host functions
// of the ABI (log, node facts); built natively (tests, the sdktest helper) it
// does no IO at all except Main, which prints metadata to stdout.
//
// The package uses the standard library only.
package sdk
