#!/usr/bin/env bash
# What watching costs: WRITE and ATS operations per second on one atsarray, first with nobody
# watching, then with a console client on the WebSocket stream that also scrapes /metrics and
# GET /api/v1/ats every second (the page plus a Prometheus). Reported as the ratio watched /
# unwatched: the accounting's per-thread shards keep the data path from paying for the reads.
#
# Knobs: SECONDS=5 (per case), SESSIONS=8, BUILD_DIR (default <repo>/build, must be built).
set -euo pipefail
per_case=$(printenv SECONDS || echo 5)
sessions=${SESSIONS:-8}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
port=${PORT_ATSARRAY:-3284}
console_port=${PORT_CONSOLE:-8094}
iqn=iqn.2026-11.org.atsarray:console-bench
work=$(mktemp -d /tmp/atsarray-console-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/atsarray.toml" <<CONF
log_level = "warn"
[console]
port = $console_port
[[portal]]
address = "127.0.0.1"
port = $port
[[target]]
name = "$iqn"
[[target.lun]]
id = 0
backend = "file"
path = "lun0.img"
size = "1GiB"
CONF
"$build_dir/target/daemon/atsarray" --config "$work/atsarray.toml" >"$work/atsarray.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

run() {  # label
  "$build_dir/bench/ats_bench" --portal "127.0.0.1:$port" --target "$iqn" --seconds "$per_case" \
    --sessions "$sessions" --cases write-distinct ats-distinct --label "$1" \
    --csv "$work/$1.csv" >/dev/null
}

run unwatched
/usr/bin/python3 - "$console_port" >"$work/watcher.log" 2>&1 <<'PY' &
import json, sys, time, urllib.request, websocket
port = sys.argv[1]
ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/v1/stream", subprotocols=["atsarray.v1"])
ticks = 0
while True:
    json.loads(ws.recv())
    ticks += 1
    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/ats").read()
    print("ticks", ticks, flush=True)
PY
pids+=($!)
sleep 1
run watched

echo "== console cost: $sessions sessions, ${per_case} s per case, $(nproc) cores, loopback"
awk -F, '
  FNR == 1 { next }
  FILENAME ~ /unwatched.csv$/ { key[++n] = $2; u[$2] = $5; next }
  { w[$2] = $5 }
  END {
    printf "%-15s %14s %14s %8s\n", "case", "unwatched/s", "watched/s", "ratio"
    for (i = 1; i <= n; ++i) printf "%-15s %14.0f %14.0f %8.2f\n", key[i], u[key[i]], w[key[i]], w[key[i]] / u[key[i]]
  }' "$work/unwatched.csv" "$work/watched.csv"
echo "watcher: $(tail -n 1 "$work/watcher.log") (a tick, /metrics and /api/v1/ats each)"
