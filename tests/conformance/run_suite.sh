#!/usr/bin/env bash
# Starts atsarray on a loopback port with a file LUN (512-byte blocks) and a memory LUN (4096-byte
# blocks), runs libiscsi's whole conformance suite (iscsi-test-cu, Debian libiscsi-bin) on each
# with a second URL for the multipath tests, and fails on any failed test or any skip not listed
# in expected_skips.txt.
# usage: run_suite.sh ATSARRAY_BINARY [TESTS]   (TESTS: iscsi-test-cu -t patterns, comma separated;
#                                                default: every test)
set -u
binary=${1:?usage: run_suite.sh ATSARRAY_BINARY [TESTS]}
tests=${2:-ALL}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target=iqn.2026-11.org.atsarray:conformance
cat >"$work/atsarray.toml" <<TOML
[[portal]]
address = "127.0.0.1"
port = $port
[[target]]
name = "$target"
[[target.lun]]
id = 0
backend = "file"
path = "lun0.img"
size = "64MiB"
[[target.lun]]
id = 1
backend = "memory"
size = "64MiB"
block_size = 4096
TOML
"$binary" --config "$work/atsarray.toml" >"$work/daemon.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
status=0
for lun in 0 1; do
  echo "== LUN $lun ($([ $lun = 0 ] && echo 'file, 512-byte blocks' || echo 'memory, 4096-byte blocks'))"
  : >"$work/cu-$lun.txt"
  IFS=, read -ra patterns <<<"$tests"
  for t in "${patterns[@]}"; do
    url="iscsi://127.0.0.1:$port/$target/$lun"
    timeout 900 iscsi-test-cu --dataloss -v -t "$t" "$url" "$url" >>"$work/cu-$lun.txt" 2>&1
  done
  python3 "$here/classify.py" "$work/cu-$lun.txt" "$here/expected_skips.txt" || status=1
done
if ! kill -0 $pid 2>/dev/null; then
  echo "the daemon died during the suite:"; tail -n 50 "$work/daemon.log"; status=1
fi
[ $status = 0 ] || { echo "--- daemon log tail"; tail -n 30 "$work/daemon.log"; }
exit $status
