#!/usr/bin/env bash
# image.sh builds the labd container image FROM scratch, offline: a static
# labd, the build host's CA certificates (for TLS to PostgreSQL), a passwd
# entry for the non-root user 65532 and its data directory, imported as a
# single layer with `docker import`. No base image is pulled and neither
# BuildKit nor a Dockerfile is needed, so it builds wherever a Docker
# engine answers, even with no registry reachable.
#
# Usage: scripts/image.sh [VERSION]        (make image runs it)
#
# Environment:
#   VERSION   stamped into the binary (labd --version) and the tag (dev)
#   IMAGE     repository name (labrm/labd); tagged IMAGE:VERSION and,
#             unless LATEST=0, IMAGE:latest
#   GOARCH    target architecture (the host's)
#   CA_FILE   CA bundle to copy (/etc/ssl/certs/ca-certificates.crt)
#
# The image's defaults (override with -e or flags):
#   LAB_LISTEN=0.0.0.0:8000  every interface, which labd serves only with
#                            API tokens (LAB_API_TOKENS, LAB_API_TOKEN_FILE)
#                            or LAB_INSECURE_NO_AUTH=true: without either it
#                            exits at once, saying so
#   LAB_LOG_FORMAT=json      for log collectors
#   WORKDIR /var/lib/labd    writable by 65532: the default SQLite store
#                            labd.db lands there (mount a volume on it, or
#                            set LAB_DATABASE_URL=postgres://...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION="${1:-${VERSION:-dev}}"
IMAGE="${IMAGE:-labrm/labd}"
LATEST="${LATEST:-1}"
GOARCH="${GOARCH:-$(go env GOARCH)}"
CA_FILE="${CA_FILE:-/etc/ssl/certs/ca-certificates.crt}"
UID_GID=65532

log() { printf '[image] %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

[[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "VERSION $VERSION is not a valid image tag"
[[ -r "$CA_FILE" ]] || die "no CA bundle at $CA_FILE (apt-get install ca-certificates, or set CA_FILE)"
command -v docker >/dev/null || die "docker CLI not found"
timeout 15 docker info >/dev/null 2>&1 || die "the Docker engine does not answer (make services starts one)"

root="$(mktemp -d "${TMPDIR:-/tmp}/labd-image.XXXXXX")"
trap 'rm -rf "$root"' EXIT

log "building labd $VERSION for linux/$GOARCH"
CGO_ENABLED=0 GOOS=linux GOARCH="$GOARCH" go build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION" -o "$root/labd" ./server/cmd/labd
# A static binary has no program interpreter; anything else would not run
# FROM scratch.
# (Read the whole output first: "readelf | grep -q" under pipefail can fail
# with SIGPIPE once grep has seen enough.)
if command -v readelf >/dev/null && [[ $(readelf -l "$root/labd") == *'Requesting program interpreter'* ]]; then
	die "labd is not statically linked"
fi

mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/var/lib/labd"
chmod 0755 "$root/labd" "$root/etc" "$root/etc/ssl" "$root/etc/ssl/certs" "$root/var" "$root/var/lib"
chmod 1777 "$root/tmp"
chmod 0750 "$root/var/lib/labd"
install -m 0644 "$CA_FILE" "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nlabd:x:%d:%d:labd:/var/lib/labd:/sbin/nologin\n' $UID_GID $UID_GID >"$root/etc/passwd"
printf 'root:x:0:\nlabd:x:%d:\n' $UID_GID >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"

# Owned by root, except the data directory, owned by labd: two tar runs
# into one archive, so no chown (and no root) is needed here. Sorted and
# dated 0, the layer is the same for the same binary.
tarball="$root.tar"
trap 'rm -rf "$root" "$tarball"' EXIT
tar_opts=(--sort=name --mtime=@0 --numeric-owner --format=gnu -C "$root")
tar "${tar_opts[@]}" --owner=0 --group=0 --exclude=./var/lib/labd -cf "$tarball" .
tar "${tar_opts[@]}" --owner=$UID_GID --group=$UID_GID -rf "$tarball" ./var/lib/labd

changes=(
	"USER $UID_GID:$UID_GID"
	'WORKDIR /var/lib/labd'
	'ENTRYPOINT ["/labd"]'
	'CMD []'
	'EXPOSE 8000/tcp'
	'ENV LAB_LISTEN=0.0.0.0:8000'
	'ENV LAB_LOG_FORMAT=json'
	'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
	'LABEL org.opencontainers.image.title=labd'
	'LABEL org.opencontainers.image.description="Lab Resource Manager API server and controller"'
	"LABEL org.opencontainers.image.version=$VERSION"
	'LABEL org.opencontainers.image.source=https://github.com/labrm/terraform-provider-lab'
)
args=()
for c in "${changes[@]}"; do
	args+=(--change "$c")
done
log "importing $IMAGE:$VERSION"
docker import "${args[@]}" --platform "linux/$GOARCH" -m "labd $VERSION" "$tarball" "$IMAGE:$VERSION" >/dev/null
if [[ "$LATEST" == 1 ]]; then
	docker tag "$IMAGE:$VERSION" "$IMAGE:latest"
fi

# Smoke test: the image runs, as the non-root user, and knows its version.
# (--version exits before the listen address is checked.)
got="$(timeout 60 docker run --rm "$IMAGE:$VERSION" --version)" || die "docker run $IMAGE:$VERSION --version failed"
[[ "$got" == "labd $VERSION" ]] || die "docker run $IMAGE:$VERSION --version printed '$got', want 'labd $VERSION'"
log "built $IMAGE:$VERSION$([[ "$LATEST" == 1 ]] && echo " and $IMAGE:latest") ($(docker image inspect -f '{{.Size}}' "$IMAGE:$VERSION") bytes)"
echo "$IMAGE:$VERSION"
