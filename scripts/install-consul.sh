#!/usr/bin/env bash
# Builds the Consul agent the discovery tests start (package
# discovery/consultest) and caches it outside the repository. Consul is not a
# Debian package, so it is built once from its Go module: download it, copy it
# somewhere writable, drop the replace block of its go.mod (it points at
# sibling directories the module zip does not carry), resolve the
# dependencies, build. About 6 minutes on 2 cores; later runs find the cache.
#
# The binary lands in ${SLUICE_CONSUL:-$HOME/.cache/sluice/consul-1.20.1};
# the tests look there (or at $SLUICE_CONSUL, or consul on PATH).
set -euo pipefail
version=1.20.1
out="${SLUICE_CONSUL:-$HOME/.cache/sluice/consul-$version}"
[ -x "$out" ] && exit 0
GO="${GO:-go}"
echo "install-consul: building consul $version into $out (about 6 minutes)"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
dir="$(cd "$work" && GOFLAGS= "$GO" mod download -json "github.com/hashicorp/consul@v$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$dir" ] || { echo "install-consul: go mod download gave no module directory" >&2; exit 1; }
cp -r "$dir" "$work/consul"
chmod -R u+w "$work/consul"
cd "$work/consul"
# Delete the replace (...) block: its targets (./api, ./sdk, ...) are not in the module zip.
sed -i '/^replace (/,/^)/d' go.mod
GOFLAGS=-mod=mod "$GO" mod tidy -e >/dev/null 2>&1 || true
mkdir -p "$(dirname "$out")"
GOFLAGS=-mod=mod "$GO" build -o "$out.tmp" .
mv "$out.tmp" "$out"
echo "install-consul: $("$out" version | head -1)"
