#!/usr/bin/env bash
# Installs what `make test` needs and is missing. The bench harness tests
# check their nginx/HAProxy/Varnish configs with the real programs, and the redis
# package's tests start a real redis-server (package redis/redistest), and
# the admin package's tests check a /metrics scrape with promtool (Debian
# package prometheus), so those come from Debian. The discovery tests start a
# real Consul agent, which is no Debian package: install-consul.sh builds it
# once from its Go module and caches it outside the repository.
set -euo pipefail
need=()
command -v nginx   >/dev/null 2>&1 || need+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v varnishd >/dev/null 2>&1 || need+=(varnish)
command -v wrk     >/dev/null 2>&1 || need+=(wrk)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -e /usr/share/nginx/modules/ngx_http_lua_module.so ] || need+=(libnginx-mod-http-lua)
[ -e /usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so ] || need+=(lua-cjson) # the auth and aggregate cells' nginx+lua peers
"$(dirname "$0")/install-consul.sh" # Consul for discovery/consultest: built from its Go module, cached in ~/.cache/sluice
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: missing ${need[*]} and not root; install them (Debian) and rerun" >&2
  exit 1
fi
echo "install-test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
