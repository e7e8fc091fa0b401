#!/usr/bin/env bash
# Builds and runs the whole suite three ways: a plain build, AddressSanitizer +
# UndefinedBehaviorSanitizer, and the concurrency suite under ThreadSanitizer.
# Warnings are errors when CI=true. Prints one closing "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
werror=false
[ "${CI:-}" = "true" ] && werror=true
passed=0
failed=0

# Count "Ok:" / "Fail:" from meson's summary of one run.
tally() { # logfile
  local ok fail
  ok=$(grep -E '^Ok:' "$1" | awk '{print $2}' | tail -1)
  fail=$(grep -E '^(Fail|Timeout|Unexpected Pass):' "$1" | awk '{s+=$NF} END {print s+0}')
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0}))
}

run_build() { # name, suite-args, meson-args...
  local dir=$1 suite=$2; shift 2
  echo "== $dir: configure and build"
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=$werror "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
  else
    meson configure "$dir" -Dwerror=$werror "$@" >/dev/null
  fi
  if ! ninja -C "$dir" -j "$jobs" >"$dir.build.log" 2>&1; then
    grep -E 'error|warning' "$dir.build.log" | head -40
    failed=$((failed + 1))
    return
  fi
  echo "== $dir: test"
  # shellcheck disable=SC2086
  meson test -C "$dir" --print-errorlogs --num-processes 2 $suite 2>&1 | tee "$dir.test.log" | grep -vE '^ *[0-9]+/[0-9]+ .* OK ' || true
  tally "$dir.test.log"
}

# -Dtests=enabled: a missing Criterion must fail the build, not drop the tests.
# Formatting: every C file as .clang-format says (clang-format 14, Debian 12).
echo "== format: clang-format --dry-run"
unformatted=$(git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run --Werror 2>&1 | grep -c 'error:' || true)
if [ "$unformatted" -ne 0 ]; then
  git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run --Werror 2>&1 | grep 'error:' | cut -d: -f1 | sort -u
  echo "format: $unformatted lines differ from clang-format (run: git ls-files '*.c' '*.h' | xargs -r clang-format -i)"
  failed=$((failed + 1))
else
  passed=$((passed + 1))
fi

run_build build "" -Dbuildtype=debugoptimized -Dtests=enabled
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_build build-asan "--suite mesh" -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dscale=0.1 -Dtests=enabled
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  run_build build-tsan "--suite concurrency" -Dbuildtype=debug -Db_sanitize=thread -Db_lundef=false -Dscale=0.1 -Dtests=enabled

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
