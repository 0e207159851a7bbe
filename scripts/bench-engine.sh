#!/usr/bin/env bash
# bench-engine.sh — `docker run --rm busybox true`, the whole way through an
# engine, timed with hyperfine side by side: the real docker CLI against
# minidockerd (minishim + minirunc), and against Debian's dockerd 20.10
# (containerd-shim-runc-v2 + runc, then + minirunc). Both daemons run
# isolated in a temp dir (no bridge, no iptables: --network none), and are
# stopped by PID at the end. A benchmark, not a test: it asserts nothing.
# Needs root, hyperfine and docker.io (scripts/provision.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "containers need root: sudo $0" >&2
    exit 1
fi
for tool in hyperfine dockerd docker runc; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is not installed: sudo scripts/provision.sh --test" >&2
        exit 1
    fi
done

cargo build --release --locked --workspace
scripts/build.sh --static-only
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")
export MINIDOCKER_STATIC_DIR=$TARGET/static

tmp=$(mktemp -d /tmp/mdbench-engine.XXXXXX)
ours=unix://$tmp/minidockerd.sock
theirs=unix://$tmp/dockerd.sock
pids=()
cleanup() {
    # Our daemons only, by PID: SIGTERM stops their containers.
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    done
    grep -o " $tmp/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

# wait_for HOST LOG: until the daemon answers (a bench script may poll).
wait_for() {
    for _ in $(seq 300); do
        docker -H "$1" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the daemon on $1 did not come up; its log:" >&2
    tail -20 "$2" >&2
    exit 1
}

"$TARGET/release/minidockerd" --data-root "$tmp/md-data" --exec-root "$tmp/md-run" \
    -H "$ours" 2>"$tmp/minidockerd.log" &
pids+=($!)
wait_for "$ours" "$tmp/minidockerd.log"

echo '{}' >"$tmp/daemon.json"
dockerd --config-file "$tmp/daemon.json" -H "$theirs" \
    --data-root "$tmp/dd-data" --exec-root "$tmp/dd-run" --pidfile "$tmp/dockerd.pid" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
    --storage-driver overlay2 --exec-opt native.cgroupdriver=cgroupfs \
    --add-runtime "minirunc=$TARGET/release/minirunc" \
    >"$tmp/dockerd.log" 2>&1 </dev/null &
pids+=($!)
wait_for "$theirs" "$tmp/dockerd.log"
# The same busybox image in both: saved from ours, loaded into dockerd.
docker -H "$ours" save busybox | docker -H "$theirs" load

run="run --rm --network none busybox true"
hyperfine -N --warmup 3 --runs 30 --export-json "$tmp/bench.json" \
    -n "minidockerd (minishim + minirunc)" "docker -H $ours $run" \
    -n "dockerd 20.10 (containerd + runc)" "docker -H $theirs $run" \
    -n "dockerd 20.10 (containerd + minirunc)" "docker -H $theirs run --runtime minirunc --rm --network none busybox true"

# Medians: one slow run (a busy machine) moves the mean, not these.
python3 - "$tmp/bench.json" <<'PY'
import json, sys
for result in json.load(open(sys.argv[1]))["results"]:
    print("median %7.1f ms  %s" % (result["median"] * 1000, result["command"]))
PY

# The daemons' own memory, idle, after the runs.
for pid in "${pids[@]}"; do
    awk -v p="$pid" -v n="$(cat /proc/"$pid"/comm)" '/^VmRSS/ {print n " (pid " p "): RSS " $2 " kB"}' "/proc/$pid/status"
done
