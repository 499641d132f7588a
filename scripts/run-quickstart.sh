#!/usr/bin/env bash
# make run: the demo upstream on 127.0.0.1:9000 and the gateway on
# 127.0.0.1:8080 with examples/quickstart.yaml. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
example=${SLUICE_CONFIG:-examples/quickstart.yaml}
# The gateway writes Admin API changes back to its config file: it runs on a
# copy, so the example in the repository stays as written.
config=bin/quickstart.yaml
cp "$example" "$config"

./bin/demo-upstream -listen 127.0.0.1:9000 &
demo=$!
cleanup() {
  kill -TERM "$demo" 2>/dev/null || true
  [ -n "${gw:-}" ] && kill -TERM "$gw" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

./bin/sluice -c "$config" &
gw=$!
cat <<TXT

Sluice is running on 127.0.0.1:8080 (config: $config, a copy of $example), demo upstream on 127.0.0.1:9000.
Try:
  curl -i localhost:8080/hello          # answered by the gateway (response policy)
  curl -i localhost:8080/echo/anything  # proxied to the demo upstream (headers policy adds X-Sluice)
  curl -i localhost:8080/nowhere        # no route: a JSON 404
  curl -i 'localhost:8080/items?id=7&debug=1'  # declared parameters (debug is dropped), cached: MISS, then HIT
  curl -i localhost:8080/private/x -H 'apikey: demo-key-0123456789abcdef'  # an API key and a limit (3 per 10s)
  curl -i localhost:8080/private/x -H 'apikey: gold-key-0123456789abcdef'  # a consumer with its own limit (100 per 10s)
  curl -s localhost:9901/metrics | grep sluice_requests  # Prometheus metrics on the admin listener
  curl -s -X PUT localhost:9901/routes/hi -d '{"match": {"paths": ["/hi"]}, "policies": [{"name": "response", "config": {"body": "new route"}}]}'
  curl -i localhost:8080/hi             # the route the Admin API just added, no reload
  curl -s localhost:9901/routes/hi      # the Admin API: routes, upstreams, consumers, /config
Reload the config with: kill -HUP $gw     Stop with Ctrl-C.

TXT
wait "$gw"
