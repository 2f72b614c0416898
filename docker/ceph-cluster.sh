#!/bin/bash
# The lab's Ceph cluster (docker-compose.yml's `ceph` profile): scripts/ceph-cluster (mounted as
# /usr/local/bin/atsarray-ceph-cluster) starts one monitor and one OSD on 127.0.0.1 (the host's
# network) in CEPH_LAB_DIR, whose ceph.conf the gateways read from the shared volume; it stays
# until stopped, then stops the daemons. Environment:
#   CEPH_LAB_DIR        the cluster's folder (/ceph/cluster, in the volume `ceph`)
#   CEPH_LAB_BLUESTORE  1: BlueStore on a sparse file in that folder (the image survives a
#                       restart); else memstore (in memory: a new, empty cluster at every start)
set -euo pipefail
dir=${CEPH_LAB_DIR:-/ceph/cluster}
cluster=/usr/local/bin/atsarray-ceph-cluster
args=()
if [ "${CEPH_LAB_BLUESTORE:-0}" = 1 ]; then
  args+=(--bluestore)
fi
mkdir -p "$(dirname "$dir")"
"$cluster" start "$dir" "${args[@]}"
# The gateways run as another user: they read ceph.conf (and write nothing here).
chmod a+rx "$(dirname "$dir")" "$dir"
chmod a+r "$dir/ceph.conf"
stop() {
  trap - TERM INT
  "$cluster" stop "$dir"
  exit 0
}
trap stop TERM INT
echo "ceph-cluster: running; the gateways read $dir/ceph.conf"
failed=0
while :; do
  sleep 10 &
  wait $! || true
  # A cluster that stopped answering three times running ends the container (restart: on-failure
  # starts a new one); one slow answer on a busy machine does not.
  if "$cluster" status "$dir" >/dev/null 2>&1; then
    failed=0
  elif [ $((failed += 1)) -ge 3 ]; then
    echo "ceph-cluster: the cluster stopped answering" >&2
    "$cluster" stop "$dir" || true
    exit 1
  fi
done
