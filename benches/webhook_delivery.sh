#!/usr/bin/env bash
# Webhook delivery under the load benchmark: how fast messages reach a receiver, and how far
# behind the commands they arrive. Starts the release binary on DATABASE_URL (a fresh database)
# with --webhook-allow-private, a sink on loopback (benches/webhook_sink.py) subscribed to
# deposits and withdrawals (none with `nosub`, for the commands/s without webhooks), runs workload
# A (`cargo bench --bench load`, 6000 commands), then waits until the sink has seen nothing new
# for 6 s and prints messages/s and when the last one arrived after the load ended.
#
# Usage: cargo build --release && benches/webhook_delivery.sh DATABASE_URL [nosub]
set -euo pipefail
cd "$(dirname "$0")/.."
URL=$1
SUBSCRIBE=${2:-sub}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
SINK_PORT=$(free_port)
STATS=$(mktemp)
target/release/foldbank --bind "127.0.0.1:$PORT" --database-url "$URL" --webhook-allow-private --log warn \
    >/dev/null 2>&1 &
SERVICE=$!
python3 benches/webhook_sink.py "$SINK_PORT" "$STATS" &
SINK=$!
trap 'kill $SERVICE $SINK 2>/dev/null; rm -f "$STATS"' EXIT
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.5; done
if [ "$SUBSCRIBE" = sub ]; then
    curl -fsS -X POST "http://127.0.0.1:$PORT/webhooks" -H 'Content-Type: application/json' \
        -d "{\"url\": \"http://127.0.0.1:$SINK_PORT/hooks\", \"event_types\": [\"money.deposited.v1\", \"money.withdrawn.v1\"]}" \
        >/dev/null
fi
cargo bench --quiet --bench load -- --url "http://127.0.0.1:$PORT" --commands 6000
ENDED=$(python3 -c 'import time; print(time.time())')
[ "$SUBSCRIBE" = sub ] || exit 0
previous=-1
quiet=0
for _ in $(seq 1 600); do
    sleep 1
    current=$(python3 -c "import json; print(json.load(open('$STATS'))['distinct'])" 2>/dev/null || echo 0)
    if [ "$current" = "$previous" ] && [ "$current" != 0 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ "$quiet" -ge 6 ] && break
    previous=$current
done
python3 - "$STATS" "$ENDED" <<'PY'
import json, sys
stats, ended = json.load(open(sys.argv[1])), float(sys.argv[2])
span = stats["last"] - stats["first"]
print(f"webhooks: {stats['distinct']} messages ({stats['requests']} requests) in {span:.1f} s, "
      f"{stats['distinct'] / span:.0f} messages/s; the last arrived {stats['last'] - ended:.2f} s "
      "after the load ended")
PY
