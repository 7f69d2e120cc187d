#!/usr/bin/env bash
# tools/test.sh: ag's test command. From any directory of a checkout:
#
#   bash tools/test.sh              install missing Debian packages, build build/ (Release),
#                                   run the busted specs (tests/*_spec.lua) and the C tests
#                                   (ctest); the last line is `N passed, N failed`
#   bash tools/test.sh --sanitize   the same against a copy of the C library built with
#                                   AddressSanitizer + UBSan in build-asan/
#   bash tools/test.sh --setup      install missing packages and build build/, run nothing
#
# Packages are installed with apt-get when run as root (or through sudo); with all of them
# present apt is skipped. Exits non-zero if anything failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGES=(luajit libluajit-5.1-dev libopenblas-dev lua-busted luarocks cmake zlib1g-dev
          python3-torch dataset-fashion-mnist fortunes liblapacke-dev build-essential)

mode=test
case "${1:-}" in
  "") ;;
  --sanitize) mode=sanitize ;;
  --setup) mode=setup ;;
  *) echo "usage: bash tools/test.sh [--sanitize | --setup]" >&2; exit 2 ;;
esac

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo=(sudo); else
      echo "tools/test.sh: missing packages (${missing[*]}); install them as root" >&2
      exit 1
    fi
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

# build DIR [cmake args...]
build() {
  local dir=$1; shift
  echo "== building $dir"
  cmake -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}

passed=0
failed=0

# Runs busted with TAP output (the arguments, if any, prefix the command, e.g. `env X=1`)
# and counts its tests: `ok` lines pass (skipped ones are not counted), `not ok` lines
# (failures and errors) fail. A run that dies before its plan line (a crash, a sanitizer
# abort) or exits non-zero with no failure listed counts one more failure.
run_busted() {
  local log rc ok skip bad
  log=$(mktemp)
  set +e
  "$@" luajit /usr/bin/busted -o TAP 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  ok=$(grep -cE '^ok [0-9]+ - ' "$log" || true)
  skip=$(grep -cE '^ok [0-9]+ - # SKIP' "$log" || true)
  ok=$((ok - skip))
  bad=$(grep -cE '^not ok [0-9]+ - ' "$log" || true)
  if { [ "$rc" -ne 0 ] || ! grep -qE '^1\.\.[0-9]+$' "$log"; } && [ "$bad" -eq 0 ]; then
    echo "busted: exited with status $rc before reporting all its tests; counted as a failure"
    bad=1
  fi
  rm -f "$log"
  echo "== busted: $ok passed, $bad failed$([ "$skip" -gt 0 ] && echo " ($skip pending, not counted)")"
  passed=$((passed + ok)); failed=$((failed + bad))
}

# Runs ctest in DIR and counts from its summary line.
run_ctest() {
  local dir=$1 log rc summary total=0 bad=0
  log=$(mktemp)
  set +e
  (cd "$dir" && ctest --output-on-failure --no-tests=error) 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
  if [ -n "$summary" ]; then
    bad=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
    total=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$summary")
  fi
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
    echo "ctest: exited with status $rc; counted as a failure"
    bad=1
  fi
  rm -f "$log"
  echo "== ctest: $((total - bad)) passed, $bad failed"
  passed=$((passed + total - bad)); failed=$((failed + bad))
}

install_packages

case $mode in
  setup)
    build build -DCMAKE_BUILD_TYPE=Release
    exit 0
    ;;
  test)
    build build -DCMAKE_BUILD_TYPE=Release
    run_busted
    run_ctest build
    ;;
  sanitize)
    build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAG_SANITIZE=ON
    # LuaJIT is not instrumented: preload the ASan runtime, point lua/ag/lib.lua at the
    # sanitized library, and leave LuaJIT's own allocations out of leak checking.
    asan_rt=$(gcc -print-file-name=libasan.so)
    echo "== busted against build-asan/libag.so (LD_PRELOAD=$asan_rt)"
    run_busted env LD_PRELOAD="$asan_rt" ASAN_OPTIONS=detect_leaks=0 AG_LIBRARY=build-asan/libag.so
    run_ctest build-asan
    ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
