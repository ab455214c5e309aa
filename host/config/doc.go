// Package config loads staticlet's two configuration files: the node's
// KubeletConfiguration (kubelet.config.k8s.io/v1beta1, parsed with the
// official types so an existing /var/lib/kubelet/config.yaml loads verbatim)
// and staticlet's own StaticletConfiguration (staticlet.dev/v1alpha1).
//
// It owns defaulting and validation of the agent's settings and merges them
// with command-line overrides into one Settings value. Its only IO is reading
// the two files (LoadKubeletConfig, LoadStaticletConfig) and asking the OS for
// its hostname when no node name is given; Resolve and Validate are pure.
package config
