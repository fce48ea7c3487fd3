#!/usr/bin/env bash
# ensure-chromium.sh installs Debian's chromium when no Chromium is on the
# PATH, idempotently. The Swagger UI test (server/httpapi/docs_test.go)
# drives it headless; under CI=true that test fails without it.
#
# Usage: scripts/ensure-chromium.sh      (root, or sudo without a password)
set -euo pipefail

for name in chromium chromium-browser google-chrome; do
	if command -v "$name" >/dev/null; then
		exit 0
	fi
done

as_root() {
	if [[ "$(id -u)" == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo -n "$@"
	else
		echo "ensure-chromium: need root to install chromium" >&2
		exit 1
	fi
}

command -v apt-get >/dev/null || {
	echo "ensure-chromium: no apt-get here; install Chromium by hand (or set LAB_CHROMIUM)" >&2
	exit 1
}
for i in 1 2 3; do
	echo "ensure-chromium: apt-get install chromium (attempt $i)" >&2
	if as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; then
		command -v chromium >/dev/null && exit 0
	fi
	sleep $((i * 5))
done
echo "ensure-chromium: apt-get install chromium failed 3 times" >&2
exit 1
