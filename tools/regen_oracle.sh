#!/bin/sh
# regen_oracle.sh: regenerate the PyTorch fixtures of the differential test
# (tests/fixtures/oracle_*.lua, read by tests/oracle_spec.lua) with Debian's python3-torch,
# then run the spec against the library built in build/ (or $AG_LIBRARY).
set -e
cd "$(dirname "$0")/.."
/usr/bin/python3 tests/fixtures/gen_oracle.py
if [ -z "$AG_LIBRARY" ] && [ -f build/libag.so ]; then AG_LIBRARY=$PWD/build/libag.so; export AG_LIBRARY; fi
luajit /usr/bin/busted tests/oracle_spec.lua
