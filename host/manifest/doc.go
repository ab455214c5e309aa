// Package manifest turns the bytes of one static pod manifest into a typed
// Pod, and decides which file names in staticPodPath are manifests at all.
//
// It owns the decoding rules (one Pod per file, YAML or JSON, 10 MB cap,
// refusal of empty, binary, multi-document and non-Pod input, YAML alias bombs
// bounded by the YAML library's alias budget) and the canonical JSON form of a
// manifest that the pod UID and plugins are computed from. It does no IO:
// callers read files and pass bytes in.
package manifest
