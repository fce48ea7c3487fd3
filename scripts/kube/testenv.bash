# shellcheck shell=bash
# The Kubernetes section of scripts/testenv.sh (sourced by it; uses its log,
# die, elapsed, apt_install, busybox_static and TEST_IMAGE): a single-node
# cluster for the tests of the kubernetes runtime, started idempotently and
# left running like PostgreSQL and dockerd.
#
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet
#       one binary (./main.go), built from this module through the Go module
#       proxy once per version and cached in $LAB_CACHE_DIR/kube-<version>-*
#   containerd
#       Debian's (it comes with docker.io), a second instance with its own
#       root, state and socket, the CRI plugin, runc, the Docker engine's
#       cgroup driver (cgroupfs here); never the engine's own containerd
#   CNI
#       Debian's containernetworking-plugins: bridge + host-local on our own
#       bridge $KUBE_BRIDGE (10.217.0.0/16; docker0 is 172.17.0.0/16). The
#       bridge's address is the node's IP, so the apiserver reaches the
#       kubelet and the tests reach pods without leaving this machine
#   images
#       no registry: labrm/pause:test (busybox sleeping until SIGTERM) and the
#       test image go from Docker into containerd with docker save | ctr import
#
# Everything lives under $KUBE_DIR (logs in $KUBE_DIR/log) and $KUBE_RUN
# (sockets, pids). Each daemon's pid file goes with a hash of its command
# line and configuration: a second run keeps what is running and healthy,
# restarts what died, hangs or runs an outdated configuration.

KUBE_MOD_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBE_DIR="${LAB_KUBE_DIR:-/var/tmp/labrm-kube}"
KUBE_RUN=/run/labrm-kube
KUBE_CACHE="${LAB_CACHE_DIR:-/var/tmp/labrm-cache}"
KUBE_SOCK="$KUBE_RUN/containerd.sock"
KUBE_NODE=labrm-node
KUBE_BRIDGE=labrmk0
KUBE_POD_CIDR=10.217.0.0/16
KUBE_NODE_IP=10.217.0.1
KUBE_SERVICE_CIDR=10.218.0.0/24
KUBE_API_PORT=56443
KUBE_ETCD_PORT=52379
KUBE_PEER_PORT=52380
KUBE_CM_PORT=10257
KUBE_SCHED_PORT=10259
KUBE_KUBELET_HEALTHZ=10248
KUBE_PAUSE_IMAGE=labrm/pause:test
KUBE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

klog() { log "kubernetes: $*"; }

hash16() { sha256sum | cut -c1-16; }

# ------------------------------------------------------------------ binary

# kube_version is the Kubernetes release this module builds.
kube_version() { awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$KUBE_MOD_DIR/go.mod"; }

# ensure_kube_binary builds the multi-call binary into the cache, keyed by
# version and by a hash of this module's Go files, and sets KUBE_BIN. The
# first build compiles ~3000 packages: minutes on two cores.
ensure_kube_binary() {
	local version key dir ldflags tmp t v pkg
	version="$(kube_version)"
	[[ -n "$version" ]] || die "kubernetes: no k8s.io/kubernetes requirement in $KUBE_MOD_DIR/go.mod"
	v="${version#v}"
	ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=${v%%.*} -X $pkg.gitMinor=$(cut -d. -f2 <<<"$v") -X $pkg.gitTreeState=clean"
	done
	key="$({
		cat "$KUBE_MOD_DIR/go.mod" "$KUBE_MOD_DIR/go.sum" "$KUBE_MOD_DIR"/*.go
		echo "$ldflags"
	} | hash16)"
	dir="$KUBE_CACHE/kube-$version-$key"
	KUBE_BIN="$dir/kube"
	if [[ -x "$KUBE_BIN" ]]; then
		klog "binary $KUBE_BIN (cached)"
		return 0
	fi
	t="$(date +%s.%N)"
	klog "building $version (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet) into $dir; the first time takes about 8 minutes on 2 cores"
	mkdir -p "$KUBE_CACHE"
	tmp="$(mktemp -d "$KUBE_CACHE/.kube-build.XXXXXX")"
	# Static (as upstream releases), no DWARF, paths trimmed; GOWORK=off and
	# the local toolchain: this module alone, with the Go on this machine.
	if ! (cd "$KUBE_MOD_DIR" && CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
		go build -trimpath -ldflags "$ldflags" -o "$tmp/kube" .) >&2; then
		rm -rf "$tmp"
		die "kubernetes: building $version failed"
	fi
	rm -rf "$dir"
	mv "$tmp" "$dir"
	# Older builds are of no further use (a running daemon keeps its
	# deleted binary until this run restarts it with the new one).
	find "$KUBE_CACHE" -maxdepth 1 -name 'kube-v*' ! -path "$dir" -exec rm -rf {} + 2>/dev/null || true
	klog "built $version in $(elapsed "$t") ($(du -h "$KUBE_BIN" | cut -f1))"
}

# ----------------------------------------------------------------- daemons

args_hash() { printf '%s\0' "$@" | hash16; }

# kube_pid prints the pid of our running daemon NAME: the pid file's
# process, alive and with the command line we started (not a recycled pid).
kube_pid() {
	local pid
	pid="$(cat "$KUBE_RUN/$1.pid" 2>/dev/null)" || return 1
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
	[[ "$(hash16 <"/proc/$pid/cmdline" 2>/dev/null)" == "$(cut -d' ' -f1 "$KUBE_RUN/$1.want" 2>/dev/null)" ]] || return 1
	echo "$pid"
}

# stop_pid stops a daemon: SIGTERM, then SIGKILL after 15 s (kube-apiserver
# can take half a minute to end gracefully; nothing here needs that).
stop_pid() {
	local pid="$1" deadline=$((SECONDS + 15))
	kill "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
			return 0
		fi
		sleep 0.2
	done
}

# wait_healthy polls CHECK until it passes (true) or LIMIT seconds pass or
# PID dies (false).
wait_healthy() {
	local pid="$1" check="$2" deadline=$((SECONDS + $3))
	until "$check"; do
		kill -0 "$pid" 2>/dev/null || return 1
		((SECONDS < deadline)) || return 1
		sleep 0.3
	done
}

# kube_daemon NAME CONFIG_HASH CHECK LIMIT CMD... keeps CMD running as
# daemon NAME: it reuses a healthy instance started with the same command
# line and configuration, else (re)starts it, detached (setsid: it outlives
# this script and make's process group), logging to $KUBE_DIR/log/NAME.log,
# and waits at most LIMIT seconds for CHECK to pass (else it stops it and
# fails).
kube_daemon() {
	local name="$1" conf="$2" check="$3" limit="$4"
	shift 4
	local want pid t logf="$KUBE_DIR/log/$name.log"
	want="$(args_hash "$@") $conf"
	if pid="$(kube_pid "$name")"; then
		if [[ "$(cat "$KUBE_RUN/$name.want")" == "$want" ]]; then
			if "$check" || wait_healthy "$pid" "$check" 30; then
				klog "$name is up (pid $pid)"
				return 0
			fi
			klog "$name (pid $pid) does not answer; restarting it"
		else
			klog "$name (pid $pid) runs an older configuration; restarting it"
		fi
		stop_pid "$pid"
	fi
	t="$(date +%s.%N)"
	echo "=== $(date -Is) testenv: $*" >>"$logf"
	# (setsid does not fork here, so $! is the daemon's pid.)
	PATH="$KUBE_PATH" setsid nohup "$@" >>"$logf" 2>&1 </dev/null 9>&- &
	pid=$!
	echo "$pid" >"$KUBE_RUN/$name.pid"
	echo "$want" >"$KUBE_RUN/$name.want"
	if ! wait_healthy "$pid" "$check" "$limit"; then
		tail -n 25 "$logf" >&2 || true
		if kill -0 "$pid" 2>/dev/null; then
			klog "$name did not come up in ${limit}s; stopping it (log $logf)"
			stop_pid "$pid"
		else
			klog "$name exited while starting (log $logf)"
		fi
		return 1
	fi
	klog "$name started in $(elapsed "$t") (pid $pid, log $logf)"
}

# put_file PATH MODE writes stdin to PATH unless it already holds exactly
# that, so that unchanged configuration keeps its daemons running.
put_file() {
	local tmp
	tmp="$(mktemp "$1.XXXXXX")"
	cat >"$tmp"
	chmod "$2" "$tmp"
	if cmp -s "$tmp" "$1"; then
		rm -f "$tmp"
	else
		mv -f "$tmp" "$1"
	fi
}

files_hash() { cat "$@" | hash16; }

# ------------------------------------------------------------- credentials

# ensure_kube_pki makes, once, a CA and the certificates and keys signed by
# it: the apiserver's serving certificate, the kubelet's, the apiserver's
# client certificate for the kubelet, and the service-account signing key.
ensure_kube_pki() {
	local p="$KUBE_DIR/pki"
	mkdir -p "$p"
	chmod 0700 "$p"
	if [[ ! -s "$p/ca.crt" ]]; then
		klog "creating a CA and keys in $p"
		rm -f "$p"/*.crt
		openssl ecparam -name prime256v1 -genkey -noout -out "$p/ca.key" 2>/dev/null
		openssl req -x509 -new -key "$p/ca.key" -subj /CN=labrm-test-kubernetes-ca -days 3650 \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
			-out "$p/ca.crt" 2>/dev/null || die "kubernetes: openssl: CA"
	fi
	kube_cert apiserver "/CN=kube-apiserver" serverAuth \
		"IP:127.0.0.1,DNS:localhost,IP:$KUBE_NODE_IP,IP:${KUBE_SERVICE_CIDR%0/*}1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	kube_cert kubelet "/CN=$KUBE_NODE" serverAuth "IP:$KUBE_NODE_IP,DNS:$KUBE_NODE"
	kube_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth ""
	if [[ ! -s "$p/sa.pub" ]]; then
		openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
		openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null || die "kubernetes: openssl: service-account key"
	fi
}

# kube_cert NAME SUBJECT EXTENDED_KEY_USAGE SANS signs $KUBE_DIR/pki/NAME.crt.
kube_cert() {
	local p="$KUBE_DIR/pki" name="$1" ext
	[[ -s "$p/$name.crt" ]] && return 0
	openssl ecparam -name prime256v1 -genkey -noout -out "$p/$name.key" 2>/dev/null
	ext="$(mktemp)"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$3"
		[[ -n "$4" ]] && echo "subjectAltName=$4"
	} >"$ext"
	openssl req -new -key "$p/$name.key" -subj "$2" 2>/dev/null |
		openssl x509 -req -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 3650 \
			-extfile "$ext" -out "$p/$name.crt" 2>/dev/null || die "kubernetes: openssl: $name certificate"
	rm -f "$ext"
}

# ensure_kube_tokens makes, once, the static tokens of the admin (tests),
# the controller-manager, the scheduler and the kubelet, and a kubeconfig
# for each. The controller-manager is in system:masters because it runs
# every controller with its own credential; the scheduler and the kubelet
# have exactly their built-in rights (RBAC bootstrap roles; the Node
# authorizer and NodeRestriction).
ensure_kube_tokens() {
	local f="$KUBE_DIR/tokens.csv" user who
	if [[ ! -s "$f" ]]; then
		{
			echo "$(openssl rand -hex 24),admin,admin,system:masters"
			echo "$(openssl rand -hex 24),system:kube-controller-manager,system:kube-controller-manager,system:masters"
			echo "$(openssl rand -hex 24),system:kube-scheduler,system:kube-scheduler,"
			echo "$(openssl rand -hex 24),system:node:$KUBE_NODE,system:node:$KUBE_NODE,system:nodes"
		} | put_file "$f" 0600
	fi
	for who in admin controller-manager scheduler kubelet; do
		case "$who" in
		admin) user="admin" ;;
		controller-manager) user=system:kube-controller-manager ;;
		scheduler) user=system:kube-scheduler ;;
		kubelet) user="system:node:$KUBE_NODE" ;;
		esac
		kube_kubeconfig "$KUBE_DIR/$who.kubeconfig" "$user" "$(awk -F, -v u="$user" '$2 == u { print $1 }' "$f")"
	done
	echo "Authorization: Bearer $(awk -F, '$2 == "admin" { print $1 }' "$f")" | put_file "$KUBE_DIR/admin.header" 0600
}

kube_kubeconfig() {
	put_file "$1" 0600 <<EOF
apiVersion: v1
kind: Config
clusters:
- name: labrm-test
  cluster:
    server: https://127.0.0.1:$KUBE_API_PORT
    certificate-authority-data: $(base64 -w0 "$KUBE_DIR/pki/ca.crt")
users:
- name: $2
  user:
    token: $3
contexts:
- name: labrm-test
  context:
    cluster: labrm-test
    user: $2
current-context: labrm-test
EOF
}

# ------------------------------------------------------------ health checks

# (Checks capture output before grep -q: in a pipe, grep may exit first and,
# under pipefail, the writer's SIGPIPE would fail the check.)
etcd_ok() { grep -qF '"health":"true"' <<<"$(curl -fsS -m 3 "http://127.0.0.1:$KUBE_ETCD_PORT/health" 2>/dev/null)"; }
apiserver_ok() { kube_get /readyz >/dev/null 2>&1; }
controller_manager_ok() { curl -fsSk -m 5 "https://127.0.0.1:$KUBE_CM_PORT/healthz" >/dev/null 2>&1; }
scheduler_ok() { curl -fsSk -m 5 "https://127.0.0.1:$KUBE_SCHED_PORT/healthz" >/dev/null 2>&1; }
kubelet_ok() { curl -fsS -m 5 "http://127.0.0.1:$KUBE_KUBELET_HEALTHZ/healthz" >/dev/null 2>&1; }
kctr() { timeout 120 ctr --address "$KUBE_SOCK" "$@"; }
containerd_ok() {
	# The CRI plugin loads or fails on its own: containerd answering is not enough.
	grep -Eq '^io\.containerd\.grpc\.v1[[:space:]]+cri[[:space:]].*[[:space:]]ok[[:space:]]*$' <<<"$(timeout 5 ctr --address "$KUBE_SOCK" plugins ls 2>/dev/null)"
}

# kube_get PATH GETs an API path as the admin (the token in a header file,
# not on curl's command line for every local user to read).
kube_get() {
	curl -fsS -m 10 --cacert "$KUBE_DIR/pki/ca.crt" -H "@$KUBE_DIR/admin.header" \
		"https://127.0.0.1:$KUBE_API_PORT$1"
}

# node_ok [SINCE]: the node is Ready (as the kubelet reported at or after
# SINCE, an RFC 3339 UTC time, when given: a restarted kubelet's node keeps
# its old status for a while) and has no not-ready/unreachable taint left
# (the controller-manager's node lifecycle controller removes them).
node_ok() {
	kube_get "/api/v1/nodes/$KUBE_NODE" 2>/dev/null | jq -e --arg since "${1:-}" '
		([.status.conditions[]? | select(.type == "Ready" and .status == "True" and .lastHeartbeatTime >= $since)] | length == 1)
		and ([.spec.taints[]? | select(.key | startswith("node.kubernetes.io/"))] | length == 0)' >/dev/null 2>&1
}

# ------------------------------------------------------------------ pieces

ensure_kube_bridge() {
	if ! ip link show "$KUBE_BRIDGE" >/dev/null 2>&1; then
		klog "creating bridge $KUBE_BRIDGE ($KUBE_NODE_IP/${KUBE_POD_CIDR#*/})"
		ip link add "$KUBE_BRIDGE" type bridge
	fi
	grep -qF " $KUBE_NODE_IP/${KUBE_POD_CIDR#*/} " <<<"$(ip -4 addr show dev "$KUBE_BRIDGE")" ||
		ip addr add "$KUBE_NODE_IP/${KUBE_POD_CIDR#*/}" dev "$KUBE_BRIDGE"
	ip link set "$KUBE_BRIDGE" up
}

# start_etcd runs etcd without fsync (test data). Should its data not be
# usable after a crash, it starts afresh: the cluster's state is throw-away
# (the old data is kept aside for a look).
start_etcd() {
	local data="$KUBE_DIR/etcd" u="http://127.0.0.1" aside
	local cmd=("$KUBE_BIN" etcd --name labrm --data-dir "$data"
		--listen-client-urls "$u:$KUBE_ETCD_PORT" --advertise-client-urls "$u:$KUBE_ETCD_PORT"
		--listen-peer-urls "$u:$KUBE_PEER_PORT" --initial-advertise-peer-urls "$u:$KUBE_PEER_PORT"
		--initial-cluster "labrm=$u:$KUBE_PEER_PORT" --unsafe-no-fsync --log-level warn)
	mkdir -p "$data"
	chmod 0700 "$data"
	kube_daemon etcd - etcd_ok 60 "${cmd[@]}" && return 0
	aside="$data.broken-$(date +%Y%m%d%H%M%S)"
	klog "etcd does not start on $data; moving it to $aside and starting afresh"
	# Whatever ran on the old data would see revisions go backwards.
	local name pid
	for name in kubelet kube-scheduler kube-controller-manager kube-apiserver; do
		if pid="$(kube_pid "$name")"; then
			klog "stopping $name (pid $pid): it ran on the old etcd data"
			stop_pid "$pid"
		fi
	done
	rm -rf "$KUBE_DIR"/etcd.broken-*
	mv "$data" "$aside"
	mkdir -p "$data"
	chmod 0700 "$data"
	kube_daemon etcd - etcd_ok 60 "${cmd[@]}" || die "kubernetes: etcd does not start (log $KUBE_DIR/log/etcd.log)"
}

start_apiserver() {
	local p="$KUBE_DIR/pki"
	kube_daemon kube-apiserver "$(files_hash "$KUBE_DIR/tokens.csv" "$p"/*.crt)" apiserver_ok 120 \
		"$KUBE_BIN" kube-apiserver \
		--etcd-servers "http://127.0.0.1:$KUBE_ETCD_PORT" \
		--bind-address 127.0.0.1 --secure-port "$KUBE_API_PORT" --advertise-address "$KUBE_NODE_IP" \
		--tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
		--client-ca-file "$p/ca.crt" --token-auth-file "$KUBE_DIR/tokens.csv" \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
		--service-cluster-ip-range "$KUBE_SERVICE_CIDR" \
		--kubelet-client-certificate "$p/apiserver-kubelet-client.crt" \
		--kubelet-client-key "$p/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$p/ca.crt" --kubelet-preferred-address-types InternalIP \
		--requestheader-client-ca-file "$p/ca.crt" --requestheader-allowed-names front-proxy-client \
		--requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
		--requestheader-extra-headers-prefix X-Remote-Extra- \
		--allow-privileged --profiling=false --v 1 || die "kubernetes: kube-apiserver does not start"
}

start_controller_manager() {
	local kc="$KUBE_DIR/controller-manager.kubeconfig"
	# No leader election (one instance; a restart would wait out the lease).
	kube_daemon kube-controller-manager "$(files_hash "$kc")" controller_manager_ok 120 \
		"$KUBE_BIN" kube-controller-manager --kubeconfig "$kc" \
		--authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
		--bind-address 127.0.0.1 --secure-port "$KUBE_CM_PORT" --leader-elect=false \
		--service-account-private-key-file "$KUBE_DIR/pki/sa.key" --root-ca-file "$KUBE_DIR/pki/ca.crt" \
		--cluster-name labrm-test --profiling=false --v 1 || die "kubernetes: kube-controller-manager does not start"
}

start_scheduler() {
	local kc="$KUBE_DIR/scheduler.kubeconfig"
	kube_daemon kube-scheduler "$(files_hash "$kc")" scheduler_ok 120 \
		"$KUBE_BIN" kube-scheduler --kubeconfig "$kc" \
		--authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
		--bind-address 127.0.0.1 --secure-port "$KUBE_SCHED_PORT" --leader-elect=false \
		--profiling=false --v 1 || die "kubernetes: kube-scheduler does not start"
}

# kube_cgroup_driver prints the Docker engine's cgroup driver (cgroupfs on
# these machines, cgroup v1 without systemd): the kubelet and containerd
# must use the same one as each other, and the engine's is the one known to
# work on this host.
kube_cgroup_driver() {
	local d
	d="$(docker info -f '{{.CgroupDriver}}' 2>/dev/null || true)"
	case "$d" in
	systemd) echo systemd ;;
	*) echo cgroupfs ;;
	esac
}

start_containerd() {
	local c="$KUBE_DIR/containerd" systemd=false
	[[ "$KUBE_CGROUP_DRIVER" == systemd ]] && systemd=true
	mkdir -p "$c" "$KUBE_DIR/cni"
	# bridge + host-local: pods get 10.217.0.2... on $KUBE_BRIDGE, whose
	# address $KUBE_NODE_IP is their gateway. No masquerading: pods talk
	# to this host only.
	put_file "$KUBE_DIR/cni/10-labrm.conflist" 0644 <<EOF
{
  "cniVersion": "1.0.0",
  "name": "labrm-test",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$KUBE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$KUBE_POD_CIDR", "gateway": "$KUBE_NODE_IP"}]],
        "dataDir": "$KUBE_RUN/cni-ipam"
      }
    }
  ]
}
EOF
	# restrict_oom_score_adj: a negative oom_score_adj cannot be set on
	# these machines, and without it runc fails every sandbox ("can't get
	# final child's PID").
	# netns_mounts_under_state_dir: pods' network namespaces are mounted
	# under containerd's own state directory, not /run/netns. `ip netns`
	# (the fault tests' private dockerd) makes /run/netns a shared mount
	# of itself; when two such mounts stack (two `ip netns add` racing),
	# every pod's netns mount propagates to both, containerd unmounts one,
	# and unlinking the file fails with EBUSY for ever: the pod's sandbox
	# can never be removed and the pod stays Terminating.
	put_file "$c/config.toml" 0644 <<EOF
version = 2
root = "$c/root"
state = "$KUBE_RUN/containerd"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$KUBE_SOCK"

[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/$KUBE_PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = $systemd
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$KUBE_DIR/cni"
    max_conf_num = 1
EOF
	kube_daemon containerd "$(files_hash "$c/config.toml" "$KUBE_DIR/cni/10-labrm.conflist")" containerd_ok 60 \
		containerd --config "$c/config.toml" || die "kubernetes: containerd does not start"
}

start_kubelet() {
	local k="$KUBE_DIR/kubelet" p="$KUBE_DIR/pki"
	mkdir -p "$k/root" "$KUBE_DIR/pod-logs"
	# The Docker engine's cgroup driver; oomScoreAdj 0 because negative
	# values are refused; image GC off (the images cannot be pulled back)
	# and eviction only near a full disk, so that a busy shared machine does
	# not evict test pods.
	put_file "$k/config.yaml" 0644 <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $KUBE_NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBE_KUBELET_HEALTHZ
tlsCertFile: $p/kubelet.crt
tlsPrivateKeyFile: $p/kubelet.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $p/ca.crt
authorization:
  mode: Webhook
cgroupDriver: $KUBE_CGROUP_DRIVER
containerRuntimeEndpoint: unix://$KUBE_SOCK
failSwapOn: false
oomScoreAdj: 0
podLogsDir: $KUBE_DIR/pod-logs
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  nodefs.inodesFree: 2%
  imagefs.available: 2%
EOF
	kube_daemon kubelet "$(files_hash "$k/config.yaml" "$KUBE_DIR/kubelet.kubeconfig" "$p/kubelet.crt")" kubelet_ok 120 \
		"$KUBE_BIN" kubelet --config "$k/config.yaml" --kubeconfig "$KUBE_DIR/kubelet.kubeconfig" \
		--root-dir "$k/root" --hostname-override "$KUBE_NODE" --node-ip "$KUBE_NODE_IP" --v 1 ||
		die "kubernetes: kubelet does not start"
}

# ----------------------------------------------------------------- images

# ensure_pause_image builds the sandbox ("pause") image: busybox's sh
# sleeping until SIGTERM, like registry.k8s.io/pause, which cannot be
# pulled here.
ensure_pause_image() {
	local want have root
	busybox_static || apt_install busybox-static
	local script='#!/bin/sh
# labrm pause: holds the pod sandbox open until SIGTERM.
trap "exit 0" TERM INT
while :; do sleep 3600 & wait $!; done'
	want="$({
		echo "$script"
		sha256sum </bin/busybox
	} | hash16)"
	have="$(docker image inspect -f '{{ index .Config.Labels "io.labrm.test-image-hash" }}' "$KUBE_PAUSE_IMAGE" 2>/dev/null || true)"
	[[ "$have" == "$want" ]] && return 0
	klog "building $KUBE_PAUSE_IMAGE"
	root="$(mktemp -d /var/tmp/labrm-pause.XXXXXX)"
	mkdir -p "$root/bin"
	cp /bin/busybox "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	ln -s busybox "$root/bin/sleep"
	printf '%s\n' "$script" >"$root/pause"
	chmod 0755 "$root/pause"
	tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
		docker import --change 'ENTRYPOINT ["/pause"]' \
			--change "LABEL io.labrm.test-image-hash=$want" - "$KUBE_PAUSE_IMAGE" >/dev/null
	rm -rf "$root"
}

# kube_import_image copies a Docker image into the cluster's containerd
# when containerd lacks it or Docker's copy changed.
kube_import_image() {
	local img="$1" id marker t
	id="$(docker image inspect -f '{{.Id}}' "$img")" || die "kubernetes: no Docker image $img"
	marker="$KUBE_DIR/images/${img//[\/:]/_}.id"
	if [[ "$(cat "$marker" 2>/dev/null)" == "$id" ]] && grep -qxF "docker.io/$img" <<<"$(kctr -n k8s.io images ls -q)"; then
		return 0
	fi
	t="$(date +%s.%N)"
	mkdir -p "$KUBE_DIR/images"
	docker save "$img" | kctr -n k8s.io images import - >/dev/null || die "kubernetes: importing $img into containerd failed"
	echo "$id" >"$marker"
	klog "imported $img into containerd in $(elapsed "$t")"
}

# -------------------------------------------------------------------- main

setup_kubernetes() {
	local t deadline
	t="$(date +%s.%N)"
	if [[ "$(id -u)" != 0 ]]; then
		klog "skipped: the kubelet and containerd need root (tests needing Kubernetes skip, or fail under CI=true)"
		return 0
	fi
	[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
		apt_install containernetworking-plugins
	if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null || ! command -v runc >/dev/null; then
		apt_install docker.io
	fi
	local cmd
	for cmd in jq openssl curl; do command -v "$cmd" >/dev/null || apt_install "$cmd"; done
	mkdir -p "$KUBE_DIR/log" "$KUBE_RUN"
	chmod 0700 "$KUBE_DIR"
	ensure_kube_binary
	ensure_kube_pki
	ensure_kube_tokens
	ensure_kube_bridge
	KUBE_CGROUP_DRIVER="$(kube_cgroup_driver)"
	start_etcd
	start_apiserver
	start_controller_manager
	start_scheduler
	start_containerd
	ensure_pause_image
	kube_import_image "$KUBE_PAUSE_IMAGE"
	kube_import_image "$TEST_IMAGE"
	local since="" before pid
	before="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	pid="$(kube_pid kubelet || true)"
	start_kubelet
	[[ "$(kube_pid kubelet || true)" == "$pid" ]] || since="$before"
	if ! node_ok "$since"; then
		klog "waiting for node $KUBE_NODE to be Ready and untainted"
		deadline=$((SECONDS + 180))
		until node_ok "$since"; do
			if ((SECONDS >= deadline)); then
				kube_get "/api/v1/nodes/$KUBE_NODE" 2>&1 | jq -c '{conditions: .status.conditions, taints: .spec.taints}' >&2 || true
				die "kubernetes: node $KUBE_NODE not Ready within 180s (logs in $KUBE_DIR/log)"
			fi
			sleep 1
		done
	fi
	LAB_TEST_KUBECONFIG="$KUBE_DIR/admin.kubeconfig"
	klog "ok ($(elapsed "$t")): node $KUBE_NODE Ready, kubeconfig $LAB_TEST_KUBECONFIG, logs $KUBE_DIR/log"
}
