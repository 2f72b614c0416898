#!/bin/bash
# One simulated ESXi host of the lab (docker-compose.yml's host services): waits until the
# array's iSCSI portal accepts connections (podman-compose 1.0 does not wait for `service_healthy`),
# then runs esxi-sim until stopped. Environment:
#   ATSARRAY_PORTAL   host:port of the array's portal (127.0.0.1:3260)
#   ATSARRAY_TARGET   target IQN (iqn.2026-11.org.atsarray:lab)
#   ESXI_HOST         this host's number: initiator PREFIX-<n>, MAC 00:50:56:a7:..:<n> (1)
#   ESXI_HOSTS        hosts this container simulates, numbered from ESXI_HOST (1)
#   ESXI_INITIATOR_PREFIX (iqn.1998-01.com.vmware:esx-01), ESXI_REPORT_EVERY seconds (30)
# Further arguments go to esxi-sim (esxi-sim --help).
set -u
portal=${ATSARRAY_PORTAL:-127.0.0.1:3260}
address=${portal%:*}
port=${portal##*:}
address=${address#[}
address=${address%]}
waited=0
until (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null; do
  if [ $((waited % 15)) -eq 0 ]; then
    echo "esxi-host ${ESXI_HOST:-1}: waiting for the array's portal $portal"
  fi
  sleep 1
  waited=$((waited + 1))
done
exec /usr/local/bin/esxi-sim --portal "$portal" --discover \
  --target "${ATSARRAY_TARGET:-iqn.2026-11.org.atsarray:lab}" \
  --hosts "${ESXI_HOSTS:-1}" --first-host "${ESXI_HOST:-1}" \
  --initiator-prefix "${ESXI_INITIATOR_PREFIX:-iqn.1998-01.com.vmware:esx-01}" \
  --duration 0 --report-every "${ESXI_REPORT_EVERY:-30}" "$@"
