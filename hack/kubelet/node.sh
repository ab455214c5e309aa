#!/usr/bin/env bash
# node.sh runs a kubelet node for staticlet's next-to-a-kubelet tests, in the foreground until it gets
# SIGTERM: the real kubelet v1.37.2 (build.sh) on a private containerd with its CRI plugin, both in a mount
# namespace of their own, so that what the kubelet writes outside its --root-dir stays in it.
#
#   node.sh run STATE_DIR KUBECONFIG NODE_NAME KUBELET_CONFIG IMAGE_TAR...
#
# STATE_DIR holds containerd's root, state, socket and log, and the kubelet's root and log. KUBELET_CONFIG is
# the KubeletConfiguration (its containerRuntimeEndpoint must be unix://STATE_DIR/containerd.sock); each
# IMAGE_TAR is imported into containerd's k8s.io namespace before the kubelet starts (the sandbox image,
# staticlet.test/pause:1, among them: nothing is pulled).
#
# What these machines need (cgroup v1, no CAP_SYS_RESOURCE), from issue 13:
# - the kubelet writes /proc/sys/vm/overcommit_memory, kernel/panic and kernel/panic_on_oops: writable files
#   are bind-mounted over them in the namespace;
# - it writes /var/lib/kubelet/pki and device-plugins whatever --root-dir says, and logs under /var/log/pods:
#   tmpfs over /var/lib and /var/log in the namespace; containerd runs in the same namespace, so it writes the
#   container logs where the kubelet reads them;
# - containerd's CRI plugin with restrict_oom_score_adj (no negative oom_score_adj without CAP_SYS_RESOURCE)
#   and a locally built sandbox image.
# On SIGTERM the kubelet is stopped, then every CRI task and container is killed and removed, then containerd.
#
# Environment:
#   NODE_SH_NODE_IP=IP               the kubelet's --node-ip (the Node's InternalIP, where the API server dials
#                                    its API); unset, the kubelet picks one itself
#   NODE_SH_KUBELET_VERBOSITY=N      the kubelet's --v (default 2)
#   NODE_SH_SNAPSHOTTER=NAME         containerd's snapshotter (default overlayfs)
set -euo pipefail

die() {
	echo "node.sh: $*" >&2
	exit 1
}

[ "${1:-}" = run ] || [ "${1:-}" = inside ] || die "usage: node.sh run STATE_DIR KUBECONFIG NODE_NAME KUBELET_CONFIG IMAGE_TAR..."
[ $# -ge 5 ] || die "usage: node.sh run STATE_DIR KUBECONFIG NODE_NAME KUBELET_CONFIG IMAGE_TAR..."
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "$1" = run ]; then
	shift
	[ "$(id -u)" -eq 0 ] || die "the kubelet must run as root"
	kubelet=$("$here/build.sh")
	export NODE_SH_KUBELET=$kubelet
	exec unshare -m --propagation private -- "$here/node.sh" inside "$@"
fi

shift
state_dir=$(realpath -m -- "$1")
kubeconfig=$2
node_name=$3
kubelet_config=$4
shift 4
socket=$state_dir/containerd.sock
mkdir -p "$state_dir"

# The namespace's own view of the files the kubelet writes outside --root-dir.
for f in vm/overcommit_memory kernel/panic kernel/panic_on_oops; do
	copy=$state_dir/sysctl-${f//\//-}
	cat "/proc/sys/$f" >"$copy"
	mount --bind "$copy" "/proc/sys/$f"
done
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /var/log

# The kubelet wants its cgroupRoot to exist in every controller (cpuset's needs its cpus and mems).
cgroup_root=$(awk '/^cgroupRoot:/ {print $2}' "$kubelet_config")
[ -n "$cgroup_root" ] && [ "$cgroup_root" != / ] || die "$kubelet_config: set a cgroupRoot of its own (the kubelet kills unknown processes in pod cgroups under its root)"
for controller in /sys/fs/cgroup/*/; do
	[ -d "$controller" ] || continue
	mkdir -p "$controller${cgroup_root#/}"
	if [ -f "${controller}cpuset.cpus" ]; then
		cat "${controller}cpuset.cpus" >"$controller${cgroup_root#/}/cpuset.cpus"
		cat "${controller}cpuset.mems" >"$controller${cgroup_root#/}/cpuset.mems"
	fi
done

cat >"$state_dir/containerd.toml" <<TOML
# Written by hack/kubelet/node.sh.
version = 2
root = "$state_dir/containerd-root"
state = "$state_dir/containerd-state"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]
[grpc]
  address = "$socket"
[ttrpc]
  address = "$socket.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$state_dir/containerd-opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "staticlet.test/pause:1"
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "${NODE_SH_SNAPSHOTTER:-overlayfs}"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$state_dir/cni"
TOML
mkdir -p "$state_dir/cni"

containerd_pid=
kubelet_pid=
cleanup() {
	trap - TERM INT EXIT
	[ -z "$kubelet_pid" ] || { kill "$kubelet_pid" 2>/dev/null || true; wait "$kubelet_pid" 2>/dev/null || true; }
	if [ -n "$containerd_pid" ]; then
		local c
		for c in $(ctr --address "$socket" -n k8s.io containers ls -q 2>/dev/null); do
			timeout 10 ctr --address "$socket" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
			timeout 10 ctr --address "$socket" -n k8s.io tasks rm -f "$c" >/dev/null 2>&1 || true
			timeout 10 ctr --address "$socket" -n k8s.io containers rm "$c" >/dev/null 2>&1 || true
		done
		kill "$containerd_pid" 2>/dev/null || true
		wait "$containerd_pid" 2>/dev/null || true
	fi
	local controller
	for controller in /sys/fs/cgroup/*/; do
		[ -d "$controller${cgroup_root#/}" ] && find "$controller${cgroup_root#/}" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 143' TERM INT

containerd --config "$state_dir/containerd.toml" </dev/null >>"$state_dir/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 300); do
	timeout 5 ctr --address "$socket" version >/dev/null 2>&1 && break
	kill -0 "$containerd_pid" 2>/dev/null || die "containerd exited; see $state_dir/containerd.log"
	sleep 0.1
done
for tar in "$@"; do
	timeout 120 ctr --address "$socket" -n k8s.io images import --snapshotter "${NODE_SH_SNAPSHOTTER:-overlayfs}" "$tar" >/dev/null
done

"$NODE_SH_KUBELET" --config "$kubelet_config" --kubeconfig "$kubeconfig" --hostname-override "$node_name" \
	--root-dir "$state_dir/kubelet-root" --v "${NODE_SH_KUBELET_VERBOSITY:-2}" ${NODE_SH_NODE_IP:+--node-ip "$NODE_SH_NODE_IP"} \
	</dev/null >>"$state_dir/kubelet.log" 2>&1 &
kubelet_pid=$!
wait "$kubelet_pid"
