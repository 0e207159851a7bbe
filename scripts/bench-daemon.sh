#!/usr/bin/env bash
# bench-daemon.sh — the daemon's own start and stop, timed with hyperfine:
#   1. start → /_ping answered, with no container and with 50 running ones
#      to reattach (--live-restore keeps them across the restarts);
#   2. a clean stop (SIGTERM) of a daemon with 10 running containers that
#      ignore SIGTERM, --stop-timeout 1: stopped in parallel, so about 1 s.
# Everything runs in a temp dir with its own roots and socket; our daemon
# and its containers are stopped by PID at the end. A benchmark, not a
# test: it asserts nothing. Needs root and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "containers need root: sudo $0" >&2
    exit 1
fi
command -v hyperfine >/dev/null || { echo "hyperfine is not installed: sudo scripts/provision.sh --test" >&2; exit 1; }

cargo build --release --locked --workspace
scripts/build.sh --static-only
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")
export MINIDOCKER_STATIC_DIR=$TARGET/static

tmp=$(mktemp -d /tmp/mdbench-daemon.XXXXXX)
sock=$tmp/d.sock
export DOCKER_HOST=unix://$sock
# start [FLAGS]: a daemon on the temp roots, in the background, its PID in
# $tmp/pid; returns when /_ping is answered (curl, tried again at once: a
# few milliseconds of granularity, and no interpreter's start in the time).
cat >"$tmp/start" <<EOF
#!/bin/sh
setsid "$TARGET/release/minidockerd" --data-root "$tmp/data" --exec-root "$tmp/run" -H "unix://$sock" "\$@" 2>>"$tmp/log" </dev/null &
echo \$! >"$tmp/pid"
until curl -sf --unix-socket "$sock" http://d/_ping >/dev/null; do :; done
EOF
# stop: SIGTERM, and the wait for the daemon's exit on a pidfd (the moment
# it ends, without polling).
cat >"$tmp/stop" <<'EOF'
#!/usr/bin/env python3
import os, select, sys
pidfile = os.path.join(os.path.dirname(sys.argv[0]), "pid")
if os.path.exists(pidfile):
    pid = int(open(pidfile).read())
    os.remove(pidfile)
    try:
        fd = os.pidfd_open(pid)
        os.kill(pid, 15)
        select.select([fd], [], [])
    except ProcessLookupError:
        pass
EOF
chmod +x "$tmp/start" "$tmp/stop"
cleanup() {
    "$tmp/stop" || true
    # Without --live-restore: the containers are stopped with it.
    "$tmp/start" && "$tmp/stop" || true
    grep -o " $tmp/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

"$tmp/start" --live-restore
hyperfine -N --warmup 2 --runs 15 --prepare "$tmp/stop" -n "start → /_ping, 0 containers" "$tmp/start --live-restore"
for _ in $(seq 50); do docker run -d --network none busybox sleep 100000 >/dev/null; done
hyperfine -N --warmup 2 --runs 15 --prepare "$tmp/stop" -n "start → /_ping, 50 running containers" "$tmp/start --live-restore"
# Until every one is reattached: `ps` answers at once, an inspect of each
# waits for its own container.
hyperfine -N --warmup 1 --runs 5 --prepare "$tmp/stop" -n "start → all 50 inspected" \
    "sh -c '$tmp/start --live-restore && docker inspect -f . \$(docker ps -q) >/dev/null'"
docker rm -f $(docker ps -aq) >/dev/null

# 10 containers that ignore SIGTERM (sleep as PID 1), each with 1 s to stop.
cat >"$tmp/ten" <<EOF
#!/bin/sh
"$tmp/stop"; "$tmp/start"
for i in 1 2 3 4 5 6 7 8 9 10; do docker run -d --network none --stop-timeout 1 busybox sleep 100000 >/dev/null; done
EOF
chmod +x "$tmp/ten"
hyperfine -N --runs 5 --prepare "$tmp/ten" -n "clean stop, 10 containers, --stop-timeout 1" "$tmp/stop"
