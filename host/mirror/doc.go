// Package mirror keeps the API server's view of this node's static pods: one mirror pod per static pod,
// as the kubelet keeps them, plus the Node object, its Lease and Events.
//
// It owns: the mirror pods bound to this node (create, recreate when deleted, terminating or stale, delete
// when their static pod is gone or no static pod owns them), their status (patched from the agent's pod
// status, batched and rate-limited), Events for rejected manifests and lifecycle steps, and, with
// RegisterNode, the Node object (status from the runtime's health, nodeInfo from the host, taints at
// registration) and its Lease in kube-node-lease, and the rejection of pods bound to the node that are not
// mirror pods (Failed, reason StaticPodsOnly, and an Event), which such a node never runs. It never
// touches containers: whatever happens to a mirror pod, only the API server's objects change.
//
// Input arrives as whole snapshots (State) through a newest-wins handoff (Manager.Offer), so a slow or
// unreachable API server never blocks the agent and queued work stays bounded by the number of pods.
// The pure core (what a mirror looks like, what to do about the pod the API server holds, the status to
// show, the Node and Lease) is package mirrorpod, which does no IO and takes time as a parameter; Manager
// is the IO edge.
//
// IO: HTTPS to the API server through client-go, as the node identity system:node:<nodeName>; every request
// is one the Node authorizer and the NodeRestriction admission plugin allow. When it registers the node:
// reads /proc/meminfo, /proc/net/route, /etc/os-release, /etc/machine-id, the kernel's osrelease and
// boot_id and the DMI product UUID for the Node's capacity, address and nodeInfo, and calls the runtime's
// health check and version (Config.RuntimeHealth, Config.RuntimeVersion).
package mirror
