#!/usr/bin/env bash
# stress-tests.sh N [PACKAGE…] — run the privileged tests N times back to back
# and count, per test, how often each passed and failed.
#
#   sudo scripts/stress-tests.sh 20 namespaces cgroups runtime
#   sudo scripts/stress-tests.sh 5              every package of the workspace
#
# A test that fails one run in ten passes most single runs and fails CI
# often: this is how to find it before CI does. The test binaries are built
# once and run as cargo would run them (from the package's directory, tests
# in parallel), CI=true so a drifting transcript counts as a failure. The
# cgroup v2 tests in a VM are not part of it (one emulated boot each): run
# `scripts/test.sh 04` a few times for those.
#
# Prints one line per test, "passed/N  failed  chapter target::name", the
# failures first, and the output of every failed run under $STRESS_LOG_DIR
# (a new temp dir unless set). Exits 1 if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 N [PACKAGE...]" >&2; exit 2; }
[ $# -ge 1 ] && [[ $1 =~ ^[1-9][0-9]*$ ]] || usage
runs=$1
shift
if [ "$(id -u)" -ne 0 ]; then
    echo "the privileged tests need root: sudo $0 $runs $*" >&2
    exit 1
fi
selection=(--workspace)
if [ $# -gt 0 ]; then
    selection=()
    for package in "$@"; do selection+=(-p "$package"); done
fi
export CI=${CI:-true}
logs=${STRESS_LOG_DIR:-$(mktemp -d /tmp/stress-tests.XXXXXX)}
mkdir -p "$logs"

# The static binaries the tests run (test.sh builds them too).
scripts/build.sh --static-only >/dev/null
# "chapter-dir<TAB>directory<TAB>target<TAB>executable" for every test binary.
binaries=$(cargo test --locked "${selection[@]}" --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        directory = os.path.dirname(m["manifest_path"])
        print(os.path.basename(directory), directory, m["target"]["name"], m["executable"], sep="\t")
')
[ -n "$binaries" ] || { echo "no test binaries built: cargo test --no-run ${selection[*]}" >&2; exit 1; }

declare -A passed failed
started=$SECONDS
for ((run = 1; run <= runs; run++)); do
    while IFS=$'\t' read -r package directory target exe; do
        # Only binaries that have privileged tests; run those alone.
        names=$("$exe" --list 2>/dev/null | sed -n 's/: test$//p' | grep -E '(^|::)privileged_') || continue
        mapfile -t names <<<"$names"
        log="$logs/run$run-$package-$target.log"
        (cd "$directory" && "$exe" --exact "${names[@]}") >"$log" 2>&1 || true
        for name in "${names[@]}"; do
            key="$package $target::$name"
            if grep -qxF "test $name ... ok" "$log"; then
                passed[$key]=$((${passed[$key]:-0} + 1))
            else
                failed[$key]=$((${failed[$key]:-0} + 1))
            fi
        done
        # Keep the logs of failed runs only.
        grep -q '^test result: ok\.' "$log" && rm -f "$log"
    done <<<"$binaries"
    echo "run $run/$runs done ($((SECONDS - started)) s)"
done

total_failed=0
report=$(for key in "${!passed[@]}" "${!failed[@]}"; do echo "$key"; done | sort -u |
    while read -r key; do
        printf '%3d/%d  %3d  %s\n' "${passed[$key]:-0}" "$runs" "${failed[$key]:-0}" "$key"
    done | sort -k2,2nr -k3)
echo "passed/runs  failed  test   ($(wc -l <<<"$report") tests, $runs runs, $((SECONDS - started)) s)"
echo "$report"
for key in "${!failed[@]}"; do total_failed=$((total_failed + ${failed[$key]})); done
if [ "$total_failed" -gt 0 ]; then
    echo "$total_failed failed runs; their output is in $logs"
    exit 1
fi
rm -rf "$logs"
echo "all passed"
