// Package kubectle2e proves the kubelet API staticlet serves black-box: the staticlet binary on the real
// containerd, registered with the real kube-apiserver v1.37.2 (Node authorizer, NodeRestriction), its
// serving certificate bootstrapped through a kubernetes.io/kubelet-serving CertificateSigningRequest, and
// kubectl v1.32 (on PATH) doing logs (-f, --previous), exec, attach and port-forward on a static pod
// through the API server, and being refused where RBAC says no. The parity test and benchmark run the
// real kubelet v1.37.2 as the cluster's other node with the same pods, and compare kubectl's answers and
// timings on both.
//
// IO: runs the staticlet binary, kubectl, containerd (internal/testenv), the control plane
// (internal/testenv/kubeapi) and the kubelet (internal/testenv/kubeletnode); listens on free TCP ports.
package kubectle2e
