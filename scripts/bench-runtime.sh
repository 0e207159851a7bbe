#!/usr/bin/env bash
# bench-runtime.sh — how long an OCI runtime takes to run /bin/true from a
# bundle: minirunc next to runc and crun, on the same bundle (a busybox
# rootfs and `minirunc spec`'s config.json). Then create, start and delete
# one at a time, for minirunc and runc.
#
# crun 1.8 refuses this machine's hybrid cgroups (a cgroup2 mount at
# /sys/fs/cgroup/unified next to the v1 hierarchies), so it is timed inside
# a private mount namespace where that mount is gone (unshare -m), which
# changes nothing for anyone else. A benchmark, not a test: it prints
# numbers and asserts nothing. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "containers need root: sudo $0" >&2
    exit 1
fi
for tool in hyperfine runc; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is not installed: sudo scripts/provision.sh --test" >&2
        exit 1
    fi
done

cargo build --release --locked -p images -p runtime
scripts/build.sh --static-only
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")
export MINIDOCKER_STATIC_DIR=$TARGET/static
MINIRUNC=$TARGET/release/minirunc

tmp=$(mktemp -d /tmp/mdbench-runtime.XXXXXX)
cleanup() {
    for id in bench bench-create bench-start bench-delete; do
        "$MINIRUNC" --root "$tmp/minirunc" delete --force "$id" 2>/dev/null || true
        runc --root "$tmp/runc" delete --force "$id" 2>/dev/null || true
    done
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

# The bundle: a plain busybox directory (a copy snapshot, so the figure is
# the runtime's, not overlayfs's) and minirunc's default config running
# /bin/true without a terminal.
B=$tmp/bundle
"$TARGET/release/ch02" --root "$tmp/store" create-offline-images >/dev/null
"$TARGET/release/ch02" --root "$tmp/store" mount busybox "$B/rootfs" --snapshotter copy >/dev/null
"$MINIRUNC" spec --bundle "$B"
python3 - "$B/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["terminal"] = False
config["process"]["args"] = ["/bin/true"]
json.dump(config, open(path, "w"), indent=2)
PY

M="$MINIRUNC --root $tmp/minirunc"
R="runc --root $tmp/runc"
C="crun --root $tmp/crun"
results=()

# -N: no shell in between; --runs 100: one run is a few milliseconds.
hyperfine -N --warmup 10 --runs 100 --export-json "$tmp/run.json" \
    --command-name "minirunc run" "$M run --bundle $B bench" \
    --command-name "runc run" "$R run --bundle $B bench"
results+=("$tmp/run.json")

if command -v crun >/dev/null; then
    # In its own mount namespace, the cgroup2 mount crun trips on removed.
    unshare -m sh -c "umount /sys/fs/cgroup/unified 2>/dev/null || true
        exec hyperfine -N --warmup 10 --runs 100 --export-json $tmp/crun.json \
            --command-name 'crun run (unshare -m, no unified mount)' '$C run --bundle $B bench'"
    results+=("$tmp/crun.json")
else
    echo "crun is not installed: no crun figure (sudo scripts/provision.sh --test)" >&2
fi

# One step at a time: --prepare runs untimed before every timed run.
hyperfine -N --warmup 5 --runs 50 --export-json "$tmp/steps.json" \
    --command-name "minirunc create" \
    --prepare "$M delete --force bench-create" "$M create --bundle $B bench-create" \
    --command-name "runc create" \
    --prepare "$R delete --force bench-create" "$R create --bundle $B bench-create" \
    --command-name "minirunc start" \
    --prepare "sh -c '$M delete --force bench-start; $M create --bundle $B bench-start'" \
    "$M start bench-start" \
    --command-name "runc start" \
    --prepare "sh -c '$R delete --force bench-start; $R create --bundle $B bench-start'" \
    "$R start bench-start" \
    --command-name "minirunc delete --force (created)" \
    --prepare "sh -c '$M delete --force bench-delete; $M create --bundle $B bench-delete'" \
    "$M delete --force bench-delete" \
    --command-name "runc delete --force (created)" \
    --prepare "sh -c '$R delete --force bench-delete; $R create --bundle $B bench-delete'" \
    "$R delete --force bench-delete"
results+=("$tmp/steps.json")

python3 - "${results[@]}" <<'PY'
import json, sys
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        print(f'{r["command"]}: median {r["median"] * 1000:.2f} ms '
              f'(min {r["min"] * 1000:.2f}, max {r["max"] * 1000:.2f}, {len(r["times"])} runs)')
PY
