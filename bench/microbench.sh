#!/usr/bin/env bash
# bench/microbench.sh — what `make microbench` runs: the Go benchmarks of the
# hot packages (each beside its baseline: net/http, fasthttp, a mutex map...),
# COUNT times, summarised by benchstat.
#
#   make microbench                          # every hot package that exists
#   MICRO_PKGS="./http1/" COUNT=10 make microbench
#   BASE=bench/results/micro-base.txt make microbench   # compare with a saved run
#   BENCHSTAT_ARGS="-col /impl" MICRO_PKGS=./http1/ make microbench  # ours vs baselines side by side
#
# Output: bench/results/micro-<time>.txt (raw) and micro-<time>.benchstat.txt;
# bench/results/micro.txt is the latest raw run (git-ignored).
set -euo pipefail

cd "$(dirname "$0")/.."
GO="${GO:-go}"
COUNT="${COUNT:-6}"
BENCHTIME="${BENCHTIME:-500ms}"
BENCH="${BENCH:-.}"
PKGS="${MICRO_PKGS:-./http1/... ./shm/... ./pool/... ./lb/... ./engine/... ./policies/... ./config/...}"

# Only packages that exist and build: others are being written right now.
# shellcheck disable=SC2086
mapfile -t pkgs < <("$GO" list -e -f '{{if and (not .Error) (or .TestGoFiles .XTestGoFiles)}}{{.ImportPath}}{{end}}' $PKGS 2>/dev/null | sed '/^$/d')
if [ ${#pkgs[@]} -eq 0 ]; then
  echo "microbench: none of $PKGS has tests yet" >&2
  exit 1
fi

benchstat="$(command -v benchstat || true)"
if [ -z "$benchstat" ]; then
  gobin="$("$GO" env GOPATH)/bin"
  if [ ! -x "$gobin/benchstat" ]; then
    echo "microbench: installing benchstat" >&2
    "$GO" install golang.org/x/perf/cmd/benchstat@latest
  fi
  benchstat="$gobin/benchstat"
fi

mkdir -p bench/results
stamp="$(date -u +%Y%m%d-%H%M%S)"
raw="bench/results/micro-$stamp.txt"
echo "microbench: ${pkgs[*]} (count $COUNT, benchtime $BENCHTIME)" >&2
# A package whose benchmarks fail is reported and the others still run.
status=0
for p in "${pkgs[@]}"; do
  if ! "$GO" test -run '^$' -bench "$BENCH" -benchmem -benchtime "$BENCHTIME" -count "$COUNT" "$p" >>"$raw" 2>&1; then
    echo "microbench: $p failed (see $raw)" >&2
    status=1
  fi
done
cp "$raw" bench/results/micro.txt

out="bench/results/micro-$stamp.benchstat.txt"
# shellcheck disable=SC2086 # BENCHSTAT_ARGS is a list of flags
if [ -n "${BASE:-}" ]; then
  "$benchstat" ${BENCHSTAT_ARGS:-} "base=$BASE" "new=$raw" | tee "$out"
else
  "$benchstat" ${BENCHSTAT_ARGS:-} "$raw" | tee "$out"
fi
echo "microbench: raw $raw, summary $out" >&2
exit $status
