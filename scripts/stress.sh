#!/usr/bin/env bash
# Runs the whole mocha suite STRESS_RUNS times (default 5) while a busy loop hogs one core,
# so timing-sensitive specs (leases, deadlines, drift) are exercised under CPU starvation.
#   STRESS_RUNS=N        number of runs (default 5)
#   STRESS_SPEC='a b'    space-separated spec globs instead of the test:all set
#   STRESS_LOG_DIR=DIR   where run-N.log go (default ${TMPDIR:-/tmp}/rxc-stress)
#   STRESS_NO_BUILD=1    skip the one `npm run build` (spec/package needs dist/)
# Exits non-zero if any run failed.
set -euo pipefail

cd "$(dirname "$0")/.."
runs="${STRESS_RUNS:-5}"
log_dir="${STRESS_LOG_DIR:-${TMPDIR:-/tmp}/rxc-stress}"
# Default globs are the test:all set from package.json; word splitting of STRESS_SPEC is wanted.
read -r -a specs <<<"${STRESS_SPEC:-marbles/**/*.marbles.ts spec/**/*.spec.ts}"
case "$runs" in '' | *[!0-9]*) echo "stress: STRESS_RUNS must be a number" >&2; exit 2 ;; esac
mkdir -p "$log_dir"

hog_pid=""
cleanup() {
  # Kill only the hog we started, by PID.
  if [ -n "$hog_pid" ]; then kill "$hog_pid" 2>/dev/null || true; wait "$hog_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${STRESS_NO_BUILD:-}" ]; then
  echo "stress: npm run build"
  npm run build >"$log_dir/build.log" 2>&1 || { echo "stress: build failed, see $log_dir/build.log" >&2; exit 1; }
fi

node -e 'for(;;){}' &
hog_pid=$!
echo "stress: CPU hog pid $hog_pid; $runs run(s) of: ${specs[*]}; logs in $log_dir"

failed=0
for i in $(seq 1 "$runs"); do
  log="$log_dir/run-$i.log"
  start=$(date +%s.%N)
  # Globs are quoted so mocha expands them (as in test:all), not the shell.
  if npx mocha "${specs[@]}" >"$log" 2>&1; then status=pass; else status=FAIL; failed=$((failed + 1)); fi
  dur=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  echo "run $i/$runs: $status in ${dur}s ($log)"
  if [ "$status" = FAIL ]; then
    # mocha's dot/spec reporters list failures as "  N) suite" followed by indented titles.
    grep -E -A2 '^ +[0-9]+\) ' "$log" | sed 's/^/    /' || tail -n 20 "$log" | sed 's/^/    /'
  fi
done

echo "stress: $failed of $runs run(s) failed"
[ "$failed" -eq 0 ]
