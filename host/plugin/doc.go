// Package plugin is staticlet's WebAssembly plugin host: it loads the chain of
// admission plugins configured in StaticletConfiguration and runs static pod
// manifests through it (mutate, then name, then validate), each plugin in its
// own wazero runtime with a memory cap, a per-call timeout and a capped
// response size. It owns the host side of the plugin ABI (docs/plugin-abi.md),
// the instance pools, the decision rules of failurePolicy and mode, and the
// watching of plugin files for hot reload.
//
// IO: LoadChain reads the .wasm files and the compilation cache folder
// (creating it with mode 0700); Manager watches the .wasm files with fsnotify;
// plugins' log messages go to the hclog.Logger in Options. Guests get no
// filesystem, network, environment or real clock.
package plugin
