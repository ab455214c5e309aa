#!/usr/bin/env bash
# cluster.sh runs a private control plane for staticlet's mirror-pod integration tests: Debian's etcd-server
# and kube-apiserver v1.37.2 (built by build.sh) on 127.0.0.1 with free ports and a freshly generated PKI.
#
#   cluster.sh start STATE_DIR            install/build what is missing, generate the PKI, start etcd and the API server
#   cluster.sh stop STATE_DIR             stop both (state is kept: start again resumes it)
#   cluster.sh stop-apiserver STATE_DIR   stop only kube-apiserver (etcd keeps the data), to test an outage
#   cluster.sh start-apiserver STATE_DIR  start kube-apiserver again on the same port and PKI
#   cluster.sh env STATE_DIR              print KUBE_APISERVER_URL=, ADMIN_KUBECONFIG=, NODE_KUBECONFIG=, ...
#   cluster.sh purge STATE_DIR            stop, then delete STATE_DIR
#
# Debian bookworm's etcd-server is 3.4.23, which cannot send the progress notifications the API server's watch
# cache needs to serve a watch from a fresh list's resource version: such watches stall for seconds and then fail
# with "Too large resource version". The API server therefore runs with --watch-cache=false: every list and watch
# goes to etcd, which changes no behaviour the tests check (docs/RATIONALE.md, "Mirror pods").
#
# The API server runs with --authorization-mode=Node,RBAC and --enable-admission-plugins=NodeRestriction, so the
# node identities below get exactly what a kubelet gets. Identities (client certificates signed by the cluster CA):
#   admin.kubeconfig      CN=staticlet-test-admin, O=system:masters   (the tests' own assertions)
#   worker-1.kubeconfig   CN=system:node:worker-1, O=system:nodes     (staticlet; NODE_KUBECONFIG)
#   worker-2.kubeconfig   CN=system:node:worker-2, O=system:nodes     (another node, for isolation tests)
#   user.kubeconfig       CN=staticlet-test-user, no group            (a user with no RBAC until a test grants it)
#   apiserver-kubelet-client.crt  CN=kube-apiserver-kubelet-client, O=system:masters: what the API server presents
#                         to a node's kubelet API (logs, exec, port-forward, node proxy), as kubeadm's certificate
#                         of that name; the API server verifies the node's serving certificate against ca.crt.
#
# Environment:
#   KUBE_APISERVER_BIN=PATH         use this kube-apiserver instead of build.sh's cached one
#   CLUSTER_SH_OWNER_PID=PID        on start, also run a watcher that purges STATE_DIR once PID exits
#   CLUSTER_SH_START_TIMEOUT=SECS   how long start waits for /readyz (default 90)
set -euo pipefail

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

[ $# -eq 2 ] || die "usage: cluster.sh start|stop|stop-apiserver|start-apiserver|env|purge STATE_DIR"
command=$1
state_dir=$(realpath -m -- "$2")
[ "$state_dir" != / ] || die "STATE_DIR must not be /"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pki=$state_dir/pki
timeout_s=${CLUSTER_SH_START_TIMEOUT:-90}

# pid_of NAME prints the pid of our etcd or kube-apiserver when it runs; it checks the command line so that a
# recycled pid is not taken for ours.
pid_of() {
	local pid_file=$state_dir/$1.pid pid
	[ -f "$pid_file" ] || return 1
	pid=$(cat "$pid_file")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$state_dir/" || return 1
	echo "$pid"
}

stop_one() {
	local pid
	pid=$(pid_of "$1") || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$state_dir/$1.pid"
}

free_port() {
	local port
	for port in $(shuf -i 20000-59999 -n 200); do
		if [ -z "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; then
			echo "$port"
			return 0
		fi
	done
	die "no free port found"
}

ensure_etcd() {
	command -v etcd >/dev/null && return 0
	[ "$(id -u)" = 0 ] || die "etcd is missing and installing etcd-server needs root"
	DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >&2; } ||
		die "cannot install etcd-server"
	# Debian's package may start its own etcd on the default ports; ours uses other ports, but do not leave it running.
	if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then systemctl stop etcd || true; fi
}

# client_cert NAME CN O: a client certificate signed by the cluster CA.
client_cert() {
	local subject="/CN=$2"
	[ -z "$3" ] || subject="/O=$3$subject"
	openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -subj "$subject" -out "$pki/$1.csr" 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$pki/$1.ext"
	openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 \
		-extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
}

kubeconfig() {
	local name=$1 url=$2
	cat >"$state_dir/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: $url
    certificate-authority: $pki/ca.crt
users:
- name: $name
  user:
    client-certificate: $pki/$name.crt
    client-key: $pki/$name.key
contexts:
- name: $name
  context: {cluster: test, user: $name}
current-context: $name
EOF
}

generate_pki() {
	[ -f "$pki/done" ] && return 0
	mkdir -p "$pki"
	chmod 0700 "$pki"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 30 \
		-subj "/CN=staticlet-test-ca" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/apiserver.key" -subj "/CN=kube-apiserver" \
		-out "$pki/apiserver.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$pki/apiserver.ext"
	openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 \
		-extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
	openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	client_cert admin staticlet-test-admin system:masters
	client_cert worker-1 system:node:worker-1 system:nodes
	client_cert worker-2 system:node:worker-2 system:nodes
	client_cert user staticlet-test-user ""
	client_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
	touch "$pki/done"
}

start_etcd() {
	pid_of etcd >/dev/null && return 0
	local client peer
	[ -f "$state_dir/etcd.port" ] || { free_port >"$state_dir/etcd.port" && free_port >"$state_dir/etcd-peer.port"; }
	client=$(cat "$state_dir/etcd.port")
	peer=$(cat "$state_dir/etcd-peer.port")
	setsid etcd --name staticlet-test --data-dir "$state_dir/etcd" \
		--listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
		--listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "staticlet-test=http://127.0.0.1:$peer" --log-level warn \
		</dev/null >>"$state_dir/etcd.log" 2>&1 &
	echo $! >"$state_dir/etcd.pid"
	for _ in $(seq $((timeout_s * 10))); do
		curl -fsS "http://127.0.0.1:$client/health" 2>/dev/null | grep -q true && return 0
		pid_of etcd >/dev/null || die "etcd exited; see $state_dir/etcd.log: $(tail -5 "$state_dir/etcd.log")"
		sleep 0.1
	done
	die "etcd did not answer within ${timeout_s}s; see $state_dir/etcd.log"
}

start_apiserver() {
	pid_of kube-apiserver >/dev/null && return 0
	local bin port
	bin=$("$here/build.sh")
	[ -f "$state_dir/apiserver.port" ] || free_port >"$state_dir/apiserver.port"
	port=$(cat "$state_dir/apiserver.port")
	setsid "$bin" \
		--etcd-servers "http://127.0.0.1:$(cat "$state_dir/etcd.port")" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
		--cert-dir "$state_dir/apiserver-certs" \
		--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
		--client-ca-file "$pki/ca.crt" \
		--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP,Hostname \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-cluster-ip-range 10.96.0.0/24 --allow-privileged=true --profiling=false \
		--endpoint-reconciler-type none --watch-cache=false --v 1 \
		</dev/null >>"$state_dir/kube-apiserver.log" 2>&1 &
	echo $! >"$state_dir/kube-apiserver.pid"
	kubeconfig admin "https://127.0.0.1:$port"
	kubeconfig worker-1 "https://127.0.0.1:$port"
	kubeconfig worker-2 "https://127.0.0.1:$port"
	kubeconfig user "https://127.0.0.1:$port"
	for _ in $(seq $((timeout_s * 10))); do
		if curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
			"https://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
			return 0
		fi
		pid_of kube-apiserver >/dev/null ||
			die "kube-apiserver exited; see $state_dir/kube-apiserver.log: $(tail -5 "$state_dir/kube-apiserver.log")"
		sleep 0.1
	done
	die "kube-apiserver was not ready within ${timeout_s}s; see $state_dir/kube-apiserver.log"
}

watch_owner() {
	local owner=$1
	(
		trap '' HUP
		while kill -0 "$owner" 2>/dev/null; do sleep 1; done
		"$here/cluster.sh" purge "$state_dir" >/dev/null 2>&1 || true
	) </dev/null >/dev/null 2>&1 &
	disown
}

case $command in
start)
	ensure_etcd
	mkdir -p "$state_dir"
	generate_pki
	start_etcd
	start_apiserver
	[ -z "${CLUSTER_SH_OWNER_PID:-}" ] || watch_owner "$CLUSTER_SH_OWNER_PID"
	;;
stop)
	stop_one kube-apiserver
	stop_one etcd
	;;
stop-apiserver)
	stop_one kube-apiserver
	;;
start-apiserver)
	pid_of etcd >/dev/null || die "etcd is not running in $state_dir"
	start_apiserver
	;;
env)
	[ -f "$state_dir/apiserver.port" ] || die "no cluster in $state_dir"
	echo "KUBE_APISERVER_URL=https://127.0.0.1:$(cat "$state_dir/apiserver.port")"
	echo "ADMIN_KUBECONFIG=$state_dir/admin.kubeconfig"
	echo "NODE_KUBECONFIG=$state_dir/worker-1.kubeconfig"
	echo "NODE_NAME=worker-1"
	echo "OTHER_NODE_KUBECONFIG=$state_dir/worker-2.kubeconfig"
	echo "OTHER_NODE_NAME=worker-2"
	echo "USER_KUBECONFIG=$state_dir/user.kubeconfig"
	echo "CA_CERT=$pki/ca.crt"
	echo "CA_KEY=$pki/ca.key"
	;;
purge)
	stop_one kube-apiserver
	stop_one etcd
	rm -rf -- "$state_dir"
	;;
*)
	die "unknown command $command"
	;;
esac
