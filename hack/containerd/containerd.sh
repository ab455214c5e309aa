#!/usr/bin/env bash
# containerd.sh runs a private containerd for staticlet's integration tests and `make run`.
#
#   containerd.sh start  STATE_DIR   install what is missing, write STATE_DIR/config.toml, start containerd
#   containerd.sh stop   STATE_DIR   kill its tasks, containerd and its shims; unmount what is left under STATE_DIR
#   containerd.sh status STATE_DIR   exit 0 and say so when it runs, exit 3 when it does not
#   containerd.sh env    STATE_DIR   print CONTAINERD_ADDRESS=... and CONTAINERD_SNAPSHOTTER=... (ctr reads both)
#   containerd.sh purge  STATE_DIR   stop, then delete STATE_DIR (refused while anything is still mounted in it)
#
# Everything containerd owns lives under STATE_DIR (root, state, socket, log, pid), except what containerd 1.6
# and its runc shim hardcode: shim sockets in /run/containerd/s (named after a hash of our socket path,
# namespace and container ID) and runc's state in /run/containerd/runc/NAMESPACE/ID (not keyed by daemon,
# so two daemons must not run the same namespace/ID at once). Clients' FIFOs default to /run/containerd/fifo.
#
# Environment:
#   CONTAINERD_SH_SNAPSHOTTER=overlayfs|native  skip detection (default: overlayfs when an overlay mount works here)
#   CONTAINERD_SH_OWNER_PID=PID                 on start, also run a watcher that purges STATE_DIR once PID exits,
#                                               so a test binary that dies without cleaning up leaves nothing behind
#   CONTAINERD_SH_START_TIMEOUT=SECONDS         how long start waits for the socket to answer (default 30)
set -euo pipefail

die() {
	echo "containerd.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: containerd.sh start|stop|status|env|purge STATE_DIR" >&2
	exit 2
}

[ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$1" = watch ]; } || usage
command=$1
state_dir=$(realpath -m -- "$2")
[ "$state_dir" != / ] || die "STATE_DIR must not be /"

socket=$state_dir/containerd.sock
pid_file=$state_dir/containerd.pid
log_file=$state_dir/containerd.log
config_file=$state_dir/config.toml
snapshotter_file=$state_dir/snapshotter

# unix socket paths are limited to 107 bytes, and containerd also listens on "$socket.ttrpc".
if [ $((${#socket} + 6)) -gt 107 ]; then
	die "STATE_DIR $state_dir is too long: the socket path $socket.ttrpc must fit in 107 bytes"
fi

# ctr waits for a socket that is not there yet; give every probe a bound.
ctr_quick() {
	timeout 10 ctr --address "$socket" "$@"
}

# daemon_pid prints the pid of our containerd when it runs, and fails otherwise.
daemon_pid() {
	local pid
	[ -f "$pid_file" ] || return 1
	pid=$(cat "$pid_file")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# Check the command line so that a recycled pid is not taken for our daemon.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--config $config_file" || return 1
	echo "$pid"
}

lock_state_dir() {
	mkdir -p "$state_dir"
	exec 9>"$state_dir/lock"
	flock 9
}

busybox_is_static() {
	[ -x /bin/busybox ] || return 1
	# ldd answers "not a dynamic executable" (and fails) for a static binary.
	! ldd /bin/busybox >/dev/null 2>&1
}

ensure_installed() {
	local missing=()
	if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null ||
		! command -v containerd-shim-runc-v2 >/dev/null; then
		missing+=(containerd)
	fi
	command -v runc >/dev/null || missing+=(runc)
	busybox_is_static || missing+=(busybox-static)
	[ ${#missing[@]} -eq 0 ] && return 0

	[ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; as root run: apt-get install -y ${missing[*]}"
	echo "containerd.sh: installing ${missing[*]} with apt-get" >&2
	local apt_log=$state_dir/apt-get.log
	local apt=(apt-get -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends)
	# A fresh machine may not have package lists yet: update once, then try again.
	if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >"$apt_log" 2>&1; then
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >>"$apt_log" 2>&1 || true
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >>"$apt_log" 2>&1 ||
			die "apt-get install ${missing[*]} failed; see $apt_log"
	fi
	busybox_is_static || die "/bin/busybox is not a static binary even after installing busybox-static"
}

# detect_snapshotter prints overlayfs when an overlay mount works on STATE_DIR's filesystem, else native.
detect_snapshotter() {
	if [ -n "${CONTAINERD_SH_SNAPSHOTTER:-}" ]; then
		echo "$CONTAINERD_SH_SNAPSHOTTER"
		return
	fi
	local probe
	probe=$(mktemp -d "$state_dir/overlay-probe.XXXXXX")
	mkdir "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
	echo ok >"$probe/lower/file"
	local result=native
	if mount -t overlay overlay \
		-o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" 2>/dev/null; then
		[ "$(cat "$probe/merged/file" 2>/dev/null)" = ok ] && result=overlayfs
		umount "$probe/merged"
	fi
	rm -rf "$probe"
	echo "$result"
}

write_config() {
	local snapshotter=$1 unused_snapshotter=overlayfs
	[ "$snapshotter" = overlayfs ] && unused_snapshotter=native
	# oom_score = 0: containerd then leaves its own oom_score_adj alone. A negative value needs
	# CAP_SYS_RESOURCE, which CI machines may lack.
	cat >"$config_file" <<EOF
# Written by hack/containerd/containerd.sh; rewritten on every start.
version = 2
root = "$state_dir/root"
state = "$state_dir/state"
oom_score = 0
# No CRI: staticlet drives containerd through its Go client, and CRI is slow to start.
# The snapshotter that does not work here is disabled so that using it fails loudly.
# io.containerd.runtime.v1.linux must stay: containerd 1.6's tasks service refuses to load without it,
# even though every task here runs on io.containerd.runc.v2.
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.$unused_snapshotter",
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
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$state_dir/opt"
EOF
}

print_env() {
	echo "CONTAINERD_ADDRESS=$socket"
	echo "CONTAINERD_SNAPSHOTTER=$(cat "$snapshotter_file" 2>/dev/null || echo overlayfs)"
}

start() {
	lock_state_dir
	if pid=$(daemon_pid) && ctr_quick version >/dev/null 2>&1; then
		echo "containerd.sh: containerd already running (pid $pid, $socket)" >&2
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || die "containerd must run as root"
	ensure_installed
	# A daemon that holds our pid file but does not answer is hung: end it. Running shims are left
	# alone: a restarted containerd reconnects to them and their tasks go on.
	if pid=$(daemon_pid); then
		stop_daemon "$pid"
	fi
	rm -f "$pid_file" "$socket" "$socket.ttrpc"

	local snapshotter
	snapshotter=$(detect_snapshotter)
	case "$snapshotter" in
	overlayfs | native) ;;
	*) die "unknown snapshotter $snapshotter: want overlayfs or native" ;;
	esac
	echo "$snapshotter" >"$snapshotter_file"
	write_config "$snapshotter"
	mkdir -p "$state_dir/root" "$state_dir/state"

	echo "--- $(date -u +%FT%TZ) containerd.sh start" >>"$log_file"
	# setsid: the daemon outlives this script and the caller's terminal; 9>&- keeps it off our lock.
	setsid containerd --config "$config_file" </dev/null >>"$log_file" 2>&1 9>&- &
	local pid=$!
	echo "$pid" >"$pid_file"

	local timeout=${CONTAINERD_SH_START_TIMEOUT:-30} waited=0
	until ctr_quick version >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$pid_file"
			tail -n 20 "$log_file" >&2
			die "containerd exited during start; log: $log_file"
		fi
		if [ "$waited" -ge $((timeout * 10)) ]; then
			tail -n 20 "$log_file" >&2
			stop_daemon "$pid"
			rm -f "$pid_file"
			die "containerd did not answer on $socket within ${timeout}s; log: $log_file"
		fi
		sleep 0.1
		waited=$((waited + 1))
	done

	if [ -n "${CONTAINERD_SH_OWNER_PID:-}" ]; then
		setsid bash "$0" watch "$state_dir" "$CONTAINERD_SH_OWNER_PID" </dev/null >/dev/null 2>&1 9>&- &
	fi
	echo "containerd.sh: containerd running (pid $pid, snapshotter $snapshotter, $socket)" >&2
}

# shim_pids prints the pids of containerd-shim-runc-v2 processes started for our socket.
shim_pids() {
	local proc pid args
	for proc in /proc/[0-9]*; do
		pid=${proc#/proc/}
		mapfile -d '' -t args <"$proc/cmdline" 2>/dev/null || continue
		[ ${#args[@]} -gt 0 ] || continue
		case "${args[0]##*/}" in
		containerd-shim-runc-v2 | containerd-shim-runc-v1 | containerd-shim) ;;
		*) continue ;;
		esac
		local i
		for ((i = 1; i < ${#args[@]} - 1; i++)); do
			if [ "${args[i]}" = -address ] && [ "${args[i + 1]}" = "$socket" ]; then
				echo "$pid"
				break
			fi
		done
	done
}

# shim_arg prints the value of flag $2 in the command line of process $1.
shim_arg() {
	local args i
	mapfile -d '' -t args <"/proc/$1/cmdline" 2>/dev/null || return 0
	for ((i = 1; i < ${#args[@]} - 1; i++)); do
		if [ "${args[i]}" = "$2" ]; then
			echo "${args[i + 1]}"
			return
		fi
	done
}

# descendants prints the pids of all descendants of process $1.
descendants() {
	local stat line ppid child
	for stat in /proc/[0-9]*/stat; do
		read -r line <"$stat" 2>/dev/null || continue
		# The fields after the parenthesised command name start with state, then ppid.
		line=${line##*) }
		ppid=${line#* }
		ppid=${ppid%% *}
		[ "$ppid" = "$1" ] || continue
		child=${stat#/proc/}
		child=${child%/stat}
		echo "$child"
		descendants "$child"
	done
}

# kill_tasks asks containerd to kill and delete every task, so that shims exit and unmount by themselves.
kill_tasks() {
	local ns id
	for ns in $(ctr_quick namespaces ls -q 2>/dev/null); do
		for id in $(ctr_quick -n "$ns" tasks ls -q 2>/dev/null); do
			ctr_quick -n "$ns" tasks rm -f "$id" >/dev/null 2>&1 || true
		done
	done
}

# kill_shims kills what is left of our shims and their containers, and removes their sockets and cgroups.
kill_shims() {
	local shim ns id pids
	for shim in $(shim_pids); do
		ns=$(shim_arg "$shim" -namespace)
		id=$(shim_arg "$shim" -id)
		pids=$(descendants "$shim")
		# shellcheck disable=SC2086 # word splitting intended: a list of pids
		kill -KILL $pids "$shim" 2>/dev/null || true
		# containerd 1.6 names the shim socket sha256(grpc address/namespace/id) under /run/containerd/s.
		if [ -n "$ns" ] && [ -n "$id" ]; then
			local hash
			hash=$(printf '%s' "$socket/$ns/$id" | sha256sum | cut -d' ' -f1)
			rm -f "/run/containerd/s/$hash"
			# The shim keeps runc's state in /run/containerd/runc/$ns unless the client chose another
			# root; runc delete removes it and the container's cgroups (by default /$ns/$id).
			runc --root "/run/containerd/runc/$ns" delete --force "$id" >/dev/null 2>&1 || true
			rmdir /sys/fs/cgroup/*/"$ns/$id" /sys/fs/cgroup/"$ns/$id" 2>/dev/null || true
		fi
	done
}

# unmount_all unmounts everything mounted under STATE_DIR, deepest first.
unmount_all() {
	local target
	# Field 5 of mountinfo is the mount point, with spaces escaped as \040.
	awk -v dir="$state_dir/" 'index($5, dir) == 1 { print length($5) " " $5 }' /proc/self/mountinfo |
		sort -rn | cut -d' ' -f2- | while read -r target; do
		target=$(printf '%b' "$target")
		umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null ||
			echo "containerd.sh: cannot unmount $target" >&2
	done
}

# stop_daemon ends containerd $1: SIGTERM, then SIGKILL after 10 seconds.
stop_daemon() {
	local pid=$1 waited=0
	kill -TERM "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null && [ $waited -lt 100 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	kill -KILL "$pid" 2>/dev/null || true
}

stop_locked() {
	local quiet=${1:-} pid
	if pid=$(daemon_pid); then
		kill_tasks
		stop_daemon "$pid"
		[ -n "$quiet" ] || echo "containerd.sh: containerd stopped (pid $pid)" >&2
	fi
	# Shims outlive containerd by design: kill ours even when the daemon is already gone.
	kill_shims
	unmount_all
	rm -f "$pid_file" "$socket" "$socket.ttrpc"
}

stop() {
	[ -d "$state_dir" ] || return 0
	lock_state_dir
	stop_locked "$@"
}

purge() {
	[ -d "$state_dir" ] || return 0
	stop quiet
	if awk -v dir="$state_dir/" 'index($5, dir) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
		die "not deleting $state_dir: something is still mounted in it"
	fi
	rm -rf --one-file-system -- "$state_dir"
}

status() {
	local pid
	if pid=$(daemon_pid) && ctr_quick version >/dev/null 2>&1; then
		echo "containerd running (pid $pid, $socket)"
		return 0
	fi
	echo "containerd not running ($state_dir)"
	return 3
}

# watch purges STATE_DIR once process $1 is gone.
watch() {
	local owner=$1
	while kill -0 "$owner" 2>/dev/null; do
		sleep 1
	done
	purge
}

case "$command" in
start) start ;;
stop) stop ;;
status) status ;;
env) print_env ;;
purge) purge ;;
watch) watch "$3" ;;
*) usage ;;
esac
