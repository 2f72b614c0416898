#!/bin/bash
# The image's HEALTHCHECK: GET /api/v1/overview from the console (webui/API.md) and expect 200.
# The console's address, port and token come from the daemon's config (ATSARRAY_CONFIG, default
# /etc/atsarray/atsarray.toml), so a mounted config is checked as it is. Plain bash (/dev/tcp):
# the runtime image carries no HTTP client.
set -u
config=${ATSARRAY_CONFIG:-/etc/atsarray/atsarray.toml}

# key VALUE of the [console] table: the first `key = ...` between [console] and the next table.
console_key() {
  sed -n '/^\[console\]/,/^\[/p' "$config" |
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\"#[:space:]]*\)\"\{0,1\}.*/\1/p" |
    head -n 1
}

address=$(console_key address)
port=$(console_key port)
token=$(console_key token)
address=${address:-127.0.0.1}
port=${port:-8080}
case "$address" in
  0.0.0.0) address=127.0.0.1 ;;  # bound to every address: ask over loopback
  ::) address=::1 ;;
esac
host=$address
case "$address" in *:*) host="[$address]" ;; esac

exec 3<>"/dev/tcp/$address/$port" || { echo "console $host:$port: no connection"; exit 1; }
{
  printf 'GET /api/v1/overview HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n' "$host" "$port"
  [ -n "$token" ] && printf 'Authorization: Bearer %s\r\n' "$token"
  printf '\r\n'
} >&3
IFS= read -r -t 4 status <&3 || { echo "console $host:$port: no answer"; exit 1; }
status=${status%$'\r'}
case "$status" in
  "HTTP/1.1 200"*) echo "console $host:$port: $status"; exit 0 ;;
  *) echo "console $host:$port: ${status:-no status line}"; exit 1 ;;
esac
