#!/bin/bash
# The lab's optional Linux initiator (docker-compose.yml, profile `linux`): open-iscsi's iscsid in
# this container, SendTargets discovery on the array's portal, login, the session shown; logout
# when stopped. The kernel does the iSCSI work: the HOST needs the iscsi_tcp module (and must not
# run its own iscsid), the container is privileged on the host's network, and the LUN appears as
# a SCSI disk of the host (lsblk on the host). Environment:
#   ATSARRAY_PORTAL (127.0.0.1:3260), ATSARRAY_TARGET (iqn.2026-11.org.atsarray:lab),
#   LINUX_INITIATOR_NAME (iqn.1993-08.org.debian:01:atsarray-lab-linux)
set -euo pipefail
portal=${ATSARRAY_PORTAL:-127.0.0.1:3260}
target=${ATSARRAY_TARGET:-iqn.2026-11.org.atsarray:lab}
name=${LINUX_INITIATOR_NAME:-iqn.1993-08.org.debian:01:atsarray-lab-linux}

if [ ! -d /sys/module/iscsi_tcp ] && ! modprobe iscsi_tcp 2>/dev/null; then
  echo "linux-initiator: the host kernel has no iscsi_tcp module loaded and modprobe failed;" \
       "run 'modprobe iscsi_tcp' on the host (and mount /lib/modules)" >&2
  exit 1
fi
echo "InitiatorName=$name" > /etc/iscsi/initiatorname.iscsi
mkdir -p /run/lock/iscsi
iscsid -f &
iscsid_pid=$!

logged_in=0
stop() {
  if [ "$logged_in" = 1 ]; then
    iscsiadm -m node -T "$target" -p "$portal" --logout || true
  fi
  kill "$iscsid_pid" 2>/dev/null || true
  wait "$iscsid_pid" 2>/dev/null || true
  exit 0
}
trap stop TERM INT

address=${portal%:*}
port=${portal##*:}
until (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null; do
  echo "linux-initiator: waiting for the array's portal $portal"
  sleep 2
done
sleep 1
iscsiadm -m discovery -t sendtargets -p "$portal"
# Log in through the portal given, whatever address the target reported for itself.
iscsiadm -m node -T "$target" -p "$portal" -o new >/dev/null 2>&1 || true
iscsiadm -m node -T "$target" -p "$portal" --login
logged_in=1
iscsiadm -m session -P 3 | grep -E 'Target:|Current Portal|iSCSI Session State|Attached scsi disk' || true
wait "$iscsid_pid"
