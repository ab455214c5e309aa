// Package admission decides, file by file, whether a manifest becomes a
// static pod: decode, static-pod defaulting, built-in validation (and, when
// configured, the plugin chain). `staticlet check` and the agent both use it,
// so what check prints is what the agent does.
//
// It does no IO of its own: files arrive as bytes in source.File values, and
// the clock is a parameter. Results are cached by file, content digest and
// policy fingerprint, so relisting an unchanged folder re-evaluates nothing.
package admission
