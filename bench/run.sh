#!/usr/bin/env bash
# bench/run.sh — what `make bench` runs: install the peers (Debian), build
# the harness and its helpers, try to build Sluice, and run bench/cmd/e2e.
#
#   make bench BENCH_ARGS="-rounds 3 -duration 10s -scenarios plain"
#   bench/run.sh -scenarios gateway -keep-tmp
#
# Arguments (or $BENCH_ARGS) go to bench/cmd/e2e; `bench/tmp/bin/e2e -h`
# lists them. Results: bench/results/e2e-<time>.{json,md} (ignored by git).
set -euo pipefail

cd "$(dirname "$0")/.."
GO="${GO:-go}"

need=()
command -v nginx   >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk     >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
[ -e /usr/share/nginx/modules/ngx_http_lua_module.so ] || need+=(libnginx-mod-http-lua)
# auth/redislimit/cache/aggregate scenarios: Redis, Varnish, cjson for nginx+lua.
command -v redis-server >/dev/null || need+=(redis-server)
command -v varnishd >/dev/null || need+=(varnish)
[ -e /usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so ] || need+=(lua-cjson)
if [ "${BENCH_STRACE:-}" = 1 ] || [[ " $* ${BENCH_ARGS:-} " == *" -strace"* ]]; then
  command -v strace >/dev/null || need+=(strace)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]}" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "bench: need root to apt-get install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The packages may start their default services (nginx on :80, Redis on
  # :6379, Varnish on :6081); the bench needs none of them and starts its
  # own instances on free ports.
  if command -v service >/dev/null; then
    for svc in nginx redis-server varnish; do
      [ -e "/etc/init.d/$svc" ] && service "$svc" stop >/dev/null 2>&1 || true
    done
  fi
fi

# 10,000 idle connections need more than 20,000 descriptors in the proxy:
# raise the limit as far as this container lets us (the harness does too).
ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p bench/tmp/bin bench/results
"$GO" build -o bench/tmp/bin/ ./bench/cmd/e2e ./bench/cmd/goproxy ./bench/cmd/idleconns ./bench/cmd/poller ./bench/cmd/rateload

# Sluice is built by `make build`. While it does not build, the harness runs
# the other peers and says why Sluice was skipped; a stale bin/sluice from an
# earlier build must not be measured in its place.
# With -sluice BIN (a binary built from a chosen commit, say while the
# working tree does not build) that binary is measured and none is built.
unavailable=()
if [[ " $* ${BENCH_ARGS:-} " == *" -sluice "* ]]; then
  echo "bench: measuring the -sluice binary given; not running make build" >&2
elif ! make --no-print-directory build >bench/tmp/build.log 2>&1; then
  echo "bench: make build failed (see bench/tmp/build.log); Sluice will be skipped" >&2
  unavailable=(-sluice-unavailable "make build failed: $(tail -n 3 bench/tmp/build.log | tr '\n' ' ')")
fi

# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
exec bench/tmp/bin/e2e "${unavailable[@]}" ${BENCH_ARGS:-} "$@"
