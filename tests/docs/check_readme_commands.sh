#!/usr/bin/env bash
# The README's command table must be exactly what `atsarray --list-commands` prints from the
# command table (between the commands:begin and commands:end markers).
set -euo pipefail
binary=$1
readme=$2
expected=$("$binary" --list-commands)
actual=$(sed -n '/<!-- commands:begin -->/,/<!-- commands:end -->/p' "$readme" | sed '1d;$d')
if [ "$expected" != "$actual" ]; then
  echo "README.md's command table differs from the command table; regenerate it with:"
  echo "  atsarray --list-commands"
  diff <(echo "$expected") <(echo "$actual") || true
  exit 1
fi
echo "README command table matches the command table ($(echo "$expected" | tail -n +3 | wc -l) commands)"
