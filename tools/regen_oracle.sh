#!/bin/sh
# regen_oracle.sh: the PyTorch fixtures of the differential test (tests/fixtures/oracle_*.lua,
# read by tests/oracle_spec.lua), made by tests/fixtures/gen_oracle.py with Debian's
# python3-torch (/usr/bin/python3).
#   tools/regen_oracle.sh           regenerate them, then run the spec against build/libag.so
#                                   (or $AG_LIBRARY)
#   tools/regen_oracle.sh --check   regenerate into a temporary folder and fail if the committed
#                                   fixtures differ (for CI where python3-torch is installed)
set -e
cd "$(dirname "$0")/.."
if [ "$1" = "--check" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  /usr/bin/python3 tests/fixtures/gen_oracle.py "$tmp" >/dev/null
  status=0
  for f in "$tmp"/oracle_*.lua; do
    if ! cmp -s "$f" "tests/fixtures/$(basename "$f")"; then
      echo "regen_oracle: tests/fixtures/$(basename "$f") is out of date; run tools/regen_oracle.sh" >&2
      status=1
    fi
  done
  for f in tests/fixtures/oracle_*.lua; do
    [ -f "$tmp/$(basename "$f")" ] || { echo "regen_oracle: $f is no longer generated" >&2; status=1; }
  done
  [ $status -eq 0 ] && echo "regen_oracle: fixtures match gen_oracle.py"
  exit $status
fi
/usr/bin/python3 tests/fixtures/gen_oracle.py
if [ -z "$AG_LIBRARY" ] && [ -f build/libag.so ]; then AG_LIBRARY=$PWD/build/libag.so; export AG_LIBRARY; fi
luajit /usr/bin/busted tests/oracle_spec.lua
