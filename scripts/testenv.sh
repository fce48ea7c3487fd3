#!/usr/bin/env bash
# testenv.sh starts, idempotently, every service the test suite needs on a
# fresh Debian 12 machine and exports where to find them:
#
#   PostgreSQL  a throw-away cluster (or $LAB_TEST_DATABASE_URL if reachable)
#   Docker      dockerd (installed from apt when missing) and the local test
#               images labrm/busybox:test, built from busybox-static, and
#               labrm/testapp:test, built from internal/testapp, since no
#               image registry is reachable
#   Terraform   a local binary for acceptance tests; never downloaded
#   Kubernetes  a single-node cluster (etcd, kube-apiserver,
#               kube-controller-manager, kube-scheduler, kubelet built from
#               source through the Go module proxy, cached; a containerd of
#               its own; CNI bridge); see scripts/kube/testenv.bash
#
# Usage:
#   scripts/testenv.sh                  set up, then print `export ...` lines
#   scripts/testenv.sh CMD [ARGS...]    set up, then exec CMD with the env
#   source scripts/testenv.sh           set up and export into this shell
#
# Everything it starts keeps running after it exits (services for the next
# run); a second run reuses them and takes a second or two.
#
# Knobs (environment):
#   LAB_TEST_DATABASE_URL  use this PostgreSQL if reachable
#   LAB_PG_DIR             throw-away cluster dir (/var/tmp/labrm-pg)
#   LAB_PG_PORT            its port (55432)
#   LAB_PG_TIMEZONE        its default time zone (America/Sao_Paulo): not UTC,
#                          so time-zone bugs show up in tests
#   LAB_CACHE_DIR          build cache for a Terraform binary (else in
#                          ~/.cache/labrm) and the Kubernetes binary (else
#                          in /var/tmp/labrm-cache)
#   LAB_KUBE_DIR           the cluster's state, configuration and logs
#                          (/var/tmp/labrm-kube)
#   LAB_SKIP_DOCKER=1      do not touch Docker (tests needing it skip, or
#                          fail under CI=true); likewise LAB_SKIP_POSTGRES=1
#                          and LAB_SKIP_TERRAFORM=1 (make run uses these)
#   LAB_SKIP_KUBERNETES=1  do not build or start the Kubernetes cluster
#                          (implied by LAB_SKIP_DOCKER=1: its images come
#                          from Docker)
#   LAB_SKIP_CHROMIUM=1    do not install Chromium (the Swagger UI browser
#                          test skips, or fails under CI=true)

# Sourced: run the set-up in a child bash (so `set -e` cannot kill the
# caller's shell) and evaluate the export lines it prints.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
	if _labrm_env="$(bash "${BASH_SOURCE[0]}")"; then
		eval "$_labrm_env"
		unset _labrm_env
		return 0
	fi
	unset _labrm_env
	echo "testenv: set-up failed (see above)" >&2
	return 1
fi

set -euo pipefail

log() { printf '[testenv %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
# elapsed prints seconds since $1 (a `date +%s.%N` value).
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1fs", e-s}'; }

T0="$(date +%s.%N)"

as_root() {
	if [[ "$(id -u)" == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo -n "$@"
	else
		die "need root for: $*"
	fi
}

# apt_install installs Debian packages with retries (fresh machines often
# have no package lists yet, and mirrors hiccup).
apt_install() {
	command -v apt-get >/dev/null || die "cannot install $*: no apt-get on this machine; install them by hand"
	local i
	for i in 1 2 3; do
		log "apt-get install $* (attempt $i)"
		# 9>&-: a daemon a package starts must not inherit the set-up lock.
		if as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 9>&- &&
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >&2 9>&-; then
			return 0
		fi
		sleep $((i * 5))
	done
	die "apt-get install $* failed 3 times"
}

# ---------------------------------------------------------------- PostgreSQL

PG_PORT="${LAB_PG_PORT:-55432}"
PG_DIR="${LAB_PG_DIR:-/var/tmp/labrm-pg}"
PG_TZ="${LAB_PG_TIMEZONE:-America/Sao_Paulo}"
PG_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres?sslmode=disable"

pg_reachable() {
	PGCONNECT_TIMEOUT=5 psql -X -q -At -c 'SELECT 1' "$1" >/dev/null 2>&1
}

# pg_bindir finds the server binaries (not on PATH in Debian's packaging),
# newest version first.
pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
		[[ -x "$d/pg_ctl" ]] && {
			echo "$d"
			return 0
		}
	done
	command -v pg_ctl >/dev/null && {
		dirname "$(command -v pg_ctl)"
		return 0
	}
	return 1
}

# as_pg runs a server binary as the postgres user (initdb and postgres
# refuse to run as root).
as_pg() {
	if [[ "$(id -u)" == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start_pg_cluster() {
	local bindir data t
	bindir="$(pg_bindir)" || die "PostgreSQL server binaries not found (apt-get install postgresql-15)"
	data="$PG_DIR/data"
	if [[ "$(id -u)" == 0 ]]; then
		id postgres >/dev/null 2>&1 || die "no postgres user; install the postgresql package"
	fi
	if [[ -d "$data" && ! -f "$data/PG_VERSION" ]]; then
		log "postgres: $data is not a cluster (interrupted initdb?); removing it"
		rm -rf "$data"
	fi
	if [[ ! -d "$data" ]]; then
		t="$(date +%s.%N)"
		mkdir -p "$PG_DIR"
		[[ "$(id -u)" == 0 ]] && chown postgres "$PG_DIR"
		log "postgres: initdb $data"
		as_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
			{
				cat "$PG_DIR/initdb.log" >&2
				die "initdb failed"
			}
		log "postgres: initdb done in $(elapsed "$t")"
	fi
	t="$(date +%s.%N)"
	log "postgres: starting cluster $data on 127.0.0.1:$PG_PORT (log $PG_DIR/postgres.log)"
	touch "$PG_DIR/postgres.log"
	[[ "$(id -u)" == 0 ]] && chown postgres "$PG_DIR/postgres.log"
	as_pg "$bindir/pg_ctl" -D "$data" -l "$PG_DIR/postgres.log" -w -t 60 \
		-o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c timezone=$PG_TZ" \
		start >&2 9>&- || {
		tail -n 30 "$PG_DIR/postgres.log" >&2 || true
		die "pg_ctl start failed"
	}
	local deadline=$((SECONDS + 60))
	until pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 1; do
		((SECONDS < deadline)) || die "postgres not ready after 60s (log $PG_DIR/postgres.log)"
		sleep 0.2
	done
	log "postgres: ready in $(elapsed "$t")"
}

# pg_set_timezone makes the cluster's default time zone non-UTC, also on a
# cluster that was started without our -c timezone (ALTER SYSTEM persists in
# the data directory and applies to new sessions after a reload).
pg_set_timezone() {
	local tz
	tz="$(psql -X -q -At -c 'SHOW timezone' "$PG_URL")"
	if [[ "$tz" != "$PG_TZ" ]]; then
		log "postgres: default time zone $tz -> $PG_TZ"
		psql -X -q -At -c "ALTER SYSTEM SET timezone = '$PG_TZ'" -c 'SELECT pg_reload_conf()' "$PG_URL" >/dev/null
	fi
}

setup_postgres() {
	local t
	t="$(date +%s.%N)"
	if [[ -n "${LAB_TEST_DATABASE_URL:-}" && "$LAB_TEST_DATABASE_URL" != "$PG_URL" ]]; then
		if pg_reachable "$LAB_TEST_DATABASE_URL"; then
			log "postgres: using LAB_TEST_DATABASE_URL (reachable; left as it is)"
			return 0
		fi
		log "postgres: LAB_TEST_DATABASE_URL is set but unreachable; using the throw-away cluster instead"
	fi
	if pg_reachable "$PG_URL"; then
		log "postgres: reusing the server on 127.0.0.1:$PG_PORT"
	else
		start_pg_cluster
	fi
	pg_set_timezone
	LAB_TEST_DATABASE_URL="$PG_URL"
	log "postgres: ok ($(elapsed "$t"))"
}

# -------------------------------------------------------------------- Docker

DOCKERD_LOG=/var/tmp/labrm-dockerd.log
DOCKERD_PID=/var/run/labrm-dockerd.pid
TEST_IMAGE=labrm/busybox:test

docker_up() { timeout 15 docker info >/dev/null 2>&1; }

# wait_dockerd waits (bounded) for the engine to answer; it fails early when
# the dockerd we started has died.
wait_dockerd() {
	local pid="$1" deadline=$((SECONDS + 60))
	until docker_up; do
		kill -0 "$pid" 2>/dev/null || return 1
		((SECONDS < deadline)) || return 1
		sleep 0.3
	done
}

start_dockerd() {
	local pid
	: >>"$DOCKERD_LOG"
	log "docker: starting dockerd $* (log $DOCKERD_LOG)"
	echo "=== $(date -Is) testenv: dockerd $*" >>"$DOCKERD_LOG"
	# setsid + nohup: dockerd outlives this script and make's process group.
	# (setsid does not fork here, so $! is dockerd's pid.)
	local sudo=()
	[[ "$(id -u)" == 0 ]] || sudo=(sudo -n)
	"${sudo[@]}" setsid nohup dockerd --pidfile "$DOCKERD_PID" "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
	pid=$!
	if wait_dockerd "$pid"; then
		return 0
	fi
	log "docker: dockerd $* did not come up; last log lines:"
	tail -n 15 "$DOCKERD_LOG" >&2 || true
	kill "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 20))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
	return 1
}

# bridge_ok: the default bridge exists. It can vanish under a running
# engine (another dockerd on the host removes docker0 when it exits), and
# then every container start fails with "could not find bridge docker0".
bridge_ok() {
	[[ -n "${DOCKER_HOST:-}" && "$DOCKER_HOST" != unix:///var/run/docker.sock ]] && return 0
	! command -v ip >/dev/null || ip link show docker0 >/dev/null 2>&1
}

ensure_dockerd() {
	local t pid
	t="$(date +%s.%N)"
	command -v docker >/dev/null || apt_install docker.io
	if docker_up && ! bridge_ok && [[ -f "$DOCKERD_PID" ]] && pid="$(cat "$DOCKERD_PID")" && kill -0 "$pid" 2>/dev/null; then
		log "docker: bridge docker0 is gone; restarting our dockerd (pid $pid) to recreate it"
		if [[ "$(id -u)" == 0 ]]; then kill "$pid"; else sudo -n kill "$pid"; fi
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	fi
	if docker_up; then
		bridge_ok || log "docker: WARNING: bridge docker0 is missing; containers may fail to start"
		log "docker: engine answers ($(docker version -f '{{.Server.Version}} API {{.Server.APIVersion}}' 2>/dev/null))"
		return 0
	fi
	if [[ -n "${DOCKER_HOST:-}" && "$DOCKER_HOST" != unix:///var/run/docker.sock ]]; then
		die "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local dockerd for a remote host"
	fi
	if ! command -v dockerd >/dev/null; then
		apt_install docker.io
		# The package's init script may have started an engine already.
		if docker_up; then
			log "docker: engine answers after installing docker.io"
			return 0
		fi
	fi
	# A dockerd of ours that is alive but not answering (still starting, or
	# wedged): wait for it rather than starting a second one.
	if [[ -f "$DOCKERD_PID" ]] && kill -0 "$(cat "$DOCKERD_PID")" 2>/dev/null; then
		log "docker: dockerd pid $(cat "$DOCKERD_PID") exists; waiting for it"
		wait_dockerd "$(cat "$DOCKERD_PID")" || die "dockerd pid $(cat "$DOCKERD_PID") does not answer (log $DOCKERD_LOG)"
	elif start_dockerd; then
		:
	else
		# overlay2 does not work in every sandbox (e.g. an overlay root);
		# vfs always does, slower and bigger but fine for test images.
		log "docker: default storage driver failed; falling back to --storage-driver=vfs"
		start_dockerd --storage-driver=vfs || die "dockerd does not start (log $DOCKERD_LOG)"
	fi
	log "docker: dockerd up in $(elapsed "$t") ($(docker info -f 'storage driver {{.Driver}}, cgroup {{.CgroupVersion}}' 2>/dev/null))"
}

# The test image: busybox httpd serving /www on 8080 by default; env vars
# make it exit with a code after a delay (phase tests). Its definition is
# hashed into a label, so it is rebuilt exactly when this script changes it.
read -r -d '' ENTRYPOINT <<'EOF' || true
#!/bin/sh
# labrm test image entrypoint. Behaviour, by environment:
#   (default)          serve /www with httpd on ${LAB_HTTP_PORT:-8080}
#   LAB_EXIT_AFTER=S   sleep S seconds, print a line, exit ${LAB_EXIT_CODE:-0}
#   LAB_ALLOC_MB=N     first hold N MiB of memory (to provoke the OOM killer)
# It prints to stdout and stderr at start and exits promptly on SIGTERM
# (once the first line is printed: PID 1 ignores signals it has no trap for).
trap 'echo "lab test image: terminated by signal"; exit 143' TERM INT
echo "lab test image: started (pid $$, host $(hostname))"
echo "lab test image: stderr is captured too" >&2
if [ -n "${LAB_ALLOC_MB:-}" ]; then
	echo "lab test image: allocating ${LAB_ALLOC_MB} MiB"
	hog="$(head -c "$((LAB_ALLOC_MB * 1048576))" /dev/zero | tr '\0' x)"
	echo "lab test image: holding ${#hog} bytes"
fi
if [ -n "${LAB_EXIT_AFTER:-}" ]; then
	sleep "$LAB_EXIT_AFTER" &
	wait $!
	echo "lab test image: exiting with code ${LAB_EXIT_CODE:-0} after ${LAB_EXIT_AFTER}s"
	exit "${LAB_EXIT_CODE:-0}"
fi
echo "lab test image: serving /www on port ${LAB_HTTP_PORT:-8080}"
httpd -f -p "${LAB_HTTP_PORT:-8080}" -h /www &
wait $!
EOF

INDEX_HTML='<!doctype html><title>labrm test lab</title><p>labrm test lab is up</p>'
PASSWD='root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
'
GROUP='root:x:0:
nogroup:x:65534:
'
IMAGE_CHANGES=(
	'EXPOSE 8080/tcp'
	'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin'
	'WORKDIR /'
	'ENTRYPOINT ["/lab-entrypoint.sh"]'
	'CMD []'
	'LABEL org.opencontainers.image.title=labrm-test-lab'
)

busybox_static() {
	[[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" == "install ok installed" ]] && [[ -x /bin/busybox ]]
}

image_hash() {
	{
		printf '%s\n' "$ENTRYPOINT" "$INDEX_HTML" "$PASSWD" "$GROUP" "${IMAGE_CHANGES[@]}"
		sha256sum </bin/busybox
	} | sha256sum | cut -c1-16
}

ensure_test_image() {
	local t want have root change
	t="$(date +%s.%N)"
	busybox_static || apt_install busybox-static
	want="$(image_hash)"
	have="$(docker image inspect -f '{{ index .Config.Labels "io.labrm.test-image-hash" }}' "$TEST_IMAGE" 2>/dev/null || true)"
	if [[ "$have" == "$want" ]]; then
		log "docker: test image $TEST_IMAGE is current ($want)"
		return 0
	fi
	log "docker: building $TEST_IMAGE (definition $want${have:+, was $have})"
	root="$(mktemp -d /var/tmp/labrm-rootfs.XXXXXX)"
	ROOTFS="$root"
	trap 'rm -rf "${ROOTFS:-}"' EXIT
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,www,tmp,root,proc,sys,dev,var/log}
	chmod 1777 "$root/tmp"
	cp /bin/busybox "$root/bin/busybox"
	local applet
	for applet in $(/bin/busybox --list); do
		[[ "$applet" == busybox ]] || ln -s busybox "$root/bin/$applet"
	done
	printf '%s\n' "$ENTRYPOINT" >"$root/lab-entrypoint.sh"
	chmod 0755 "$root/lab-entrypoint.sh"
	printf '%s\n' "$INDEX_HTML" >"$root/www/index.html"
	printf '%s' "$PASSWD" >"$root/etc/passwd"
	printf '%s' "$GROUP" >"$root/etc/group"
	local args=()
	for change in "${IMAGE_CHANGES[@]}" "LABEL io.labrm.test-image-hash=$want"; do
		args+=(--change "$change")
	done
	tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
		docker import "${args[@]}" -m "labrm test image $want" - "$TEST_IMAGE" >/dev/null
	rm -rf "$root"
	# Smoke test: the image runs and exits with the code asked for.
	local rc=0
	timeout 60 docker run --rm -e LAB_EXIT_AFTER=0 -e LAB_EXIT_CODE=7 "$TEST_IMAGE" >/dev/null 2>&1 || rc=$?
	[[ "$rc" == 7 ]] || die "test image smoke run exited $rc, want 7"
	log "docker: built $TEST_IMAGE in $(elapsed "$t")"
}

# The test app image: internal/testapp (a static Go web app with WebSocket
# echo, server-sent events and chunked streams, for the gateway's tests),
# imported as the only file of an image, like the busybox one. It exposes no
# port. Its hash covers the app's source, its WebSocket library's version
# and the Go version, so it is rebuilt exactly when one of them changes.
TEST_APP_IMAGE=labrm/testapp:test
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

test_app_hash() {
	{
		cat "$REPO_DIR"/internal/testapp/*.go
		grep '^github.com/coder/websocket ' "$REPO_DIR/go.sum"
		go env GOVERSION
	} | sha256sum | cut -c1-16
}

ensure_test_app_image() {
	local t want have root rc=0
	t="$(date +%s.%N)"
	if ! command -v go >/dev/null || [[ ! -d "$REPO_DIR/internal/testapp" ]]; then
		log "docker: no Go toolchain or no internal/testapp; $TEST_APP_IMAGE not built (gateway tests skip, or fail under CI=true)"
		return 0
	fi
	want="$(test_app_hash)"
	have="$(docker image inspect -f '{{ index .Config.Labels "io.labrm.test-image-hash" }}' "$TEST_APP_IMAGE" 2>/dev/null || true)"
	if [[ "$have" == "$want" ]]; then
		log "docker: test image $TEST_APP_IMAGE is current ($want)"
		return 0
	fi
	log "docker: building $TEST_APP_IMAGE (definition $want${have:+, was $have})"
	root="$(mktemp -d /var/tmp/labrm-appfs.XXXXXX)"
	mkdir -p "$root/tmp"
	chmod 1777 "$root/tmp"
	(cd "$REPO_DIR" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$root/testapp" ./internal/testapp) ||
		{
			rm -rf "$root"
			die "building internal/testapp failed"
		}
	tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
		docker import --change 'ENTRYPOINT ["/testapp"]' --change 'ENV PORT=8080' \
			--change 'LABEL org.opencontainers.image.title=labrm-test-app' \
			--change "LABEL io.labrm.test-image-hash=$want" -m "labrm test app $want" - "$TEST_APP_IMAGE" >/dev/null
	rm -rf "$root"
	timeout 60 docker run --rm -e EXIT_AFTER=10ms "$TEST_APP_IMAGE" >/dev/null 2>&1 || rc=$?
	[[ "$rc" == 0 ]] || die "test app image smoke run exited $rc, want 0"
	log "docker: built $TEST_APP_IMAGE in $(elapsed "$t")"
}

setup_docker() {
	if [[ "${LAB_SKIP_DOCKER:-}" == 1 ]]; then
		log "docker: skipped (LAB_SKIP_DOCKER=1)"
		return 0
	fi
	ensure_dockerd
	ensure_test_image
	LAB_TEST_IMAGE="$TEST_IMAGE"
	ensure_test_app_image
	if docker image inspect "$TEST_APP_IMAGE" >/dev/null 2>&1; then
		LAB_TEST_APP_IMAGE="$TEST_APP_IMAGE"
	fi
}

# ----------------------------------------------------------------- Terraform

# setup_terraform finds a terraform binary for acceptance tests. It never
# downloads one: it uses an installed binary or builds v1.5.7 (the last
# MPL-licensed release) from source through the Go module proxy, cached.
setup_terraform() {
	local bin cache t
	if [[ -n "${TF_ACC_TERRAFORM_PATH:-}" && -x "$TF_ACC_TERRAFORM_PATH" ]]; then
		bin="$TF_ACC_TERRAFORM_PATH"
	elif [[ -x /usr/local/bin/terraform ]]; then
		bin=/usr/local/bin/terraform
	elif command -v terraform >/dev/null; then
		bin="$(command -v terraform)"
	else
		cache="${LAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/labrm}/terraform-v1.5.7"
		bin="$cache/terraform"
		if [[ ! -x "$bin" ]]; then
			t="$(date +%s.%N)"
			log "terraform: not installed; building v1.5.7 from source into $cache (takes minutes, once)"
			mkdir -p "$cache"
			(cd "$cache" && GOBIN="$cache" GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
				go install github.com/hashicorp/terraform@v1.5.7) >&2 || die "building terraform failed"
			log "terraform: built in $(elapsed "$t")"
		fi
	fi
	TF_ACC_TERRAFORM_PATH="$bin"
	tfv=$("$bin" version 2>/dev/null) || true
	log "terraform: $bin (${tfv%%$'\n'*})"
}

# ---------------------------------------------------------------- Kubernetes

# setup_kubernetes (scripts/kube/testenv.bash) builds, starts or reuses the
# single-node cluster and sets LAB_TEST_KUBECONFIG.
# shellcheck source=SCRIPTDIR/kube/testenv.bash
source "$(dirname "${BASH_SOURCE[0]}")/kube/testenv.bash"

# ------------------------------------------------------------------ Chromium

# ensure_chromium installs Debian's chromium when no Chromium is on the PATH:
# the Swagger UI test (server/httpapi/docs_test.go) drives it headless.
ensure_chromium() {
	local name
	for name in chromium chromium-browser google-chrome; do
		if command -v "$name" >/dev/null; then
			log "chromium: $(command -v "$name")"
			return 0
		fi
	done
	apt_install chromium
	command -v chromium >/dev/null || die "chromium: installed, but not on the PATH"
	log "chromium: $(command -v chromium)"
}

# ---------------------------------------------------------------------- main

# One set-up at a time on a machine (two `make test` at once must not both
# initdb or start dockerd); the second waits and then finds all running.
# The wait is long enough for a first build of Kubernetes on a busy machine.
# Daemons started below get `9>&-` so that they do not hold the lock.
LOCK=/var/tmp/labrm-testenv.lock
if command -v flock >/dev/null && exec 9>>"$LOCK"; then
	flock -w 1800 9 || die "another scripts/testenv.sh holds $LOCK for 30 minutes"
fi

exports=()
if [[ "${LAB_SKIP_POSTGRES:-}" == 1 ]]; then
	log "postgres: skipped (LAB_SKIP_POSTGRES=1)"
else
	setup_postgres
	exports+=("LAB_TEST_DATABASE_URL=$LAB_TEST_DATABASE_URL")
fi
setup_docker
[[ -n "${LAB_TEST_IMAGE:-}" ]] && exports+=("LAB_TEST_IMAGE=$LAB_TEST_IMAGE")
[[ -n "${LAB_TEST_APP_IMAGE:-}" ]] && exports+=("LAB_TEST_APP_IMAGE=$LAB_TEST_APP_IMAGE")
if [[ "${LAB_SKIP_TERRAFORM:-}" == 1 ]]; then
	log "terraform: skipped (LAB_SKIP_TERRAFORM=1)"
else
	setup_terraform
	# Acceptance tests on: offline, against this binary, provider labrm/lab,
	# and no user CLI config (dev_overrides, mirrors) leaking in.
	exports+=(
		"TF_ACC=1"
		"TF_ACC_TERRAFORM_PATH=$TF_ACC_TERRAFORM_PATH"
		"TF_ACC_PROVIDER_NAMESPACE=labrm"
		"CHECKPOINT_DISABLE=1"
		"TF_IN_AUTOMATION=1"
		"TF_CLI_CONFIG_FILE=/dev/null"
	)
fi
if [[ "${LAB_SKIP_KUBERNETES:-}" == 1 ]]; then
	log "kubernetes: skipped (LAB_SKIP_KUBERNETES=1)"
elif [[ "${LAB_SKIP_DOCKER:-}" == 1 ]]; then
	log "kubernetes: skipped (LAB_SKIP_DOCKER=1: its images come from Docker)"
else
	setup_kubernetes
	[[ -n "${LAB_TEST_KUBECONFIG:-}" ]] && exports+=("LAB_TEST_KUBECONFIG=$LAB_TEST_KUBECONFIG")
fi
if [[ "${LAB_SKIP_CHROMIUM:-}" == 1 ]]; then
	log "chromium: skipped (LAB_SKIP_CHROMIUM=1)"
else
	ensure_chromium
fi
# CI is passed through unchanged: the tests fail instead of skipping under CI=true.
[[ -n "${CI:-}" ]] && exports+=("CI=$CI")

log "ready in $(elapsed "$T0")"
if (($# > 0)); then
	for e in "${exports[@]}"; do export "${e?}"; done
	rm -rf "${ROOTFS:-}"
	trap - EXIT
	exec 9>&- # the lock is for set-up only, not for the command
	exec "$@"
fi
for e in "${exports[@]}"; do
	printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
done
exit 0
