#!/usr/bin/env bash
# update-swagger-ui.sh refreshes the Swagger UI assets embedded in labd
# (server/httpapi/openapi/swagger-ui) from npm's swagger-ui-dist package.
#
# Usage: scripts/update-swagger-ui.sh [VERSION]    (default: the newest 5.x)
#
# It copies only what the page uses (the bundle, the stylesheet, the icons)
# and the licence files, drops the source-map comment (the maps are not
# shipped, so browsers' developer tools would ask for a missing file), and
# records the version in VERSION. index.html, index.css and
# swagger-initializer.js are ours and left alone. Afterwards run
#   go test ./server/httpapi/ -run 'TestDocs|TestOpenAPI'
# which renders /docs in headless Chromium.
set -euo pipefail

version="${1:-5}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dest=server/httpapi/openapi/swagger-ui

command -v npm >/dev/null || { echo "update-swagger-ui: npm is required" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "swagger-ui-dist@${version}" >/dev/null)
tar -xzf "$tmp"/swagger-ui-dist-*.tgz -C "$tmp"
pkg="$tmp/package"
actual="$(node -p "require(process.argv[1]).version" "$pkg/package.json")"

for f in swagger-ui-bundle.js swagger-ui.css favicon-16x16.png favicon-32x32.png \
	LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt; do
	cp "$pkg/$f" "$dest/$f"
done
sed -i -e '/^\/\*# sourceMappingURL=.*\*\/$/d' "$dest/swagger-ui.css"
sed -i -e '/^\/\/# sourceMappingURL=/d' "$dest/swagger-ui-bundle.js"
echo "$actual" >"$dest/VERSION"
sed -i -e "s/^Version: .*/Version: ${actual}/" "$dest/README.md"
echo "swagger-ui-dist ${actual} copied to ${dest}"
