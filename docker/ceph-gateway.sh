#!/bin/bash
# One gateway of the lab's `ceph` profile (docker-compose.yml): waits until the cluster's
# ceph.conf is in the shared volume and, for gateway B, until gateway A's portal accepts
# connections (the first gateway creates the image; podman-compose 1.0 does not wait for
# `service_healthy`), then runs atsarray with its arguments (the image's CMD: the mounted config).
# Environment:
#   CEPH_CONF         the cluster's ceph.conf (/ceph/cluster/ceph.conf)
#   ATSARRAY_AFTER    host:port of a portal to wait for first (empty: none)
set -u
conf=${CEPH_CONF:-/ceph/cluster/ceph.conf}
waited=0
until [ -r "$conf" ]; do
  if [ $((waited % 15)) -eq 0 ]; then
    echo "ceph-gateway: waiting for $conf"
  fi
  sleep 1
  waited=$((waited + 1))
done
if [ -n "${ATSARRAY_AFTER:-}" ]; then
  address=${ATSARRAY_AFTER%:*}
  port=${ATSARRAY_AFTER##*:}
  until (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null; do
    if [ $((waited % 15)) -eq 0 ]; then
      echo "ceph-gateway: waiting for the first gateway's portal $ATSARRAY_AFTER"
    fi
    sleep 1
    waited=$((waited + 1))
  done
fi
export CEPH_CONF=$conf
if [ $# -eq 0 ]; then
  set -- --config /etc/atsarray/atsarray.toml
fi
exec /usr/local/bin/atsarray "$@"
