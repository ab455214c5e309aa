// Package seede2e holds the seed's end-to-end test: staticlet's agent with the real containerd runtime and
// the mirror manager against the real kube-apiserver, under node credentials. It has no code of its own;
// the test needs both harnesses (internal/testenv for containerd, internal/testenv/kubeapi for the API
// server), so it lives apart from host/mirror's tests.
//
// IO: everything the two harnesses do, plus containerd's gRPC API to read the pod's task PID.
package seede2e
