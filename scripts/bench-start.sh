#!/usr/bin/env bash
# bench-start.sh — how long it takes to start (and end) a container that
# runs /bin/true: `ch03 run` (new namespaces, Docker's mounts, pivot_root,
# capabilities) next to util-linux's `unshare`, which makes the same
# namespaces and mounts only a fresh /proc, and `ch04 run`, which adds a
# cgroup with limits (made, joined, read and removed on every run).
# A benchmark, not a test: it prints numbers and asserts nothing. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "namespaces need root: sudo $0" >&2
    exit 1
fi
if ! command -v hyperfine >/dev/null; then
    echo "hyperfine is not installed: sudo scripts/provision.sh --test" >&2
    exit 1
fi

cargo build --release --locked -p images -p namespaces -p cgroups
scripts/build.sh --static-only
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")
export MINIDOCKER_STATIC_DIR=$TARGET/static

tmp=$(mktemp -d /tmp/mdbench-start.XXXXXX)
trap 'rm -rf --one-file-system "$tmp"' EXIT
R=$tmp/store
# A plain busybox directory (a copy snapshot): the figure is the runtime's,
# not overlayfs's.
"$TARGET/release/ch02" --root "$R" create-offline-images >/dev/null
"$TARGET/release/ch02" --root "$R" mount busybox "$tmp/rootfs" --snapshotter copy >/dev/null

# -N: no shell in between; --runs 100: one run is a few milliseconds.
hyperfine -N --warmup 10 --runs 100 --export-json "$tmp/bench.json" \
    --command-name "ch03 run --rootfs R -- /bin/true" \
    "$TARGET/release/ch03 --root $R run --rootfs $tmp/rootfs -- /bin/true" \
    --command-name "ch04 run --rootfs R --memory 64m --pids-limit 100 -- /bin/true" \
    "$TARGET/release/ch04 --root $R run --rootfs $tmp/rootfs --memory 64m --pids-limit 100 -- /bin/true" \
    --command-name "unshare --pid --mount --uts --ipc --net --fork --mount-proc true" \
    "unshare --pid --mount --uts --ipc --net --fork --mount-proc true"

python3 - "$tmp/bench.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f'{r["command"]}: median {r["median"] * 1000:.2f} ms '
          f'(min {r["min"] * 1000:.2f}, max {r["max"] * 1000:.2f}, {len(r["times"])} runs)')
PY
