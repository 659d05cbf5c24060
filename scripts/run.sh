#!/usr/bin/env bash
# The newcomer's path: installs what tinbao needs, builds it, and runs tinbaod on the example
# config (config/tinbao.example.yaml) in the foreground. The example uses the embedded SQLite
# queue (state/tinbao.db): no other server. With a config that says `backend: redis`
# (TINBAO_CONFIG=...), a local redis-server is started (data under ./state/redis) when none
# answers on 127.0.0.1:6379. Messages go to the `outbox` provider: see them appear in
# ./state/outbox.jsonl. Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release

config=${TINBAO_CONFIG:-config/tinbao.example.yaml}
mkdir -p state
if grep -qE '^\s*backend:\s*redis' "$config" && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p state/redis
  echo "run.sh: no Redis on 127.0.0.1:6379; starting one (data in state/redis, AOF on)"
  redis-server --bind 127.0.0.1 --port 6379 --dir "$PWD/state/redis" --appendonly yes \
    --appendfsync everysec --daemonize yes --pidfile "$PWD/state/redis/redis.pid" \
    --logfile "$PWD/state/redis/redis.log"
  for _ in $(seq 1 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

build/release/daemon/tinbaod --config "$config" --check
echo
echo "run.sh: tinbaod listens on http://127.0.0.1:8080. Try, in another terminal:"
echo "  curl -s -X POST http://127.0.0.1:8080/v1/events \\"
echo "    -H 'Authorization: Bearer <the token of config/tinbao.example.yaml>' \\"
echo "    -H 'Content-Type: application/json' -d @templates/samples/<a sample>.json"
echo "  tail state/outbox.jsonl"
echo
exec build/release/daemon/tinbaod --config "$config"
