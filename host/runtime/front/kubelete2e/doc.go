// Package kubelete2e is the black-box test of the kubelet front against the
// real kubelet v1.37.2 (internal/testenv/kubeletnode, through
// hack/kubelet/node.sh: a private CRI containerd, a mount namespace of its own) and the real kube-apiserver v1.37.2
// (internal/testenv/kubeapi), with the staticlet binary in mode
// kubeletFront: a manifest becomes a running pod with exactly one mirror pod,
// a broken edit and a plugin denial keep the running version, no mirror pod
// is deleted but by a change, start-after waits for the readiness the kubelet
// reports, the runtime conformance suite passes with the kubelet behind the
// front, and file-to-running and edit-to-running are measured through the
// front and with the kubelet reading the folder (a benchmark). It has
// test files only; they start processes and write under t.TempDir().
package kubelete2e
