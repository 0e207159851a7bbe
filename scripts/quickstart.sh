#!/usr/bin/env bash
# quickstart.sh — from a fresh checkout to containers run by the workshop's
# engine: minidockerd on /run/minidocker.sock, driven by the real docker
# CLI and by the engine's own, minidocker. Every hop is ours: the Engine API, the image store, the overlay
# snapshot, config.json, minishim, minirunc, namespaces and cgroups.
# Run as root: sudo scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "run it as root: sudo scripts/quickstart.sh" >&2
    exit 1
fi

SOCK=/run/minidocker.sock
HOST=unix://$SOCK
LOG=/run/minidockerd.log
RELEASE=$(realpath "${CARGO_TARGET_DIR:-target}")/release
MINIDOCKERD=$RELEASE/minidockerd
MINIDOCKER=$RELEASE/minidocker

# show CMD...: print the command as you would type it, then run it.
show() {
    echo
    echo "\$ $*"
    "$@"
}

# Whether a daemon answers /_ping on the socket.
answers() {
    python3 - "$SOCK" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
PY
}

scripts/provision.sh
echo "==> building the workspace and the static binaries the images are made of"
scripts/build.sh

echo
echo "==> what the engine needs from this machine"
# Before the daemon: a ✘ here says what to fix first.
if ! show "$MINIDOCKER" doctor; then
    echo "fix the ✘ lines above, then run this again" >&2
    exit 1
fi

if answers; then
    echo "==> a daemon already answers on $SOCK: using it"
    pid=""
else
    echo "==> starting minidockerd on $SOCK (log: $LOG)"
    # Nobody answers, so a socket file left there is stale.
    rm -f "$SOCK"
    # setsid and </dev/null: the daemon outlives this script and its terminal.
    setsid "$MINIDOCKERD" -H "$HOST" </dev/null >>"$LOG" 2>&1 &
    pid=$!
    ready=false
    for _ in $(seq 100); do
        if answers; then ready=true; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! $ready; then
        echo "the daemon did not come up; the end of $LOG:" >&2
        tail -n 20 "$LOG" >&2
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
fi

echo
echo "==> the engine's own CLI (docker's verbs and flags)"
show "$MINIDOCKER" version --format 'client {{.Client.Version}}, server: {{.Server.Platform.Name}} {{.Server.Version}}'
# The offline images, made on the daemon's first start (no network needed).
show "$MINIDOCKER" images
show "$MINIDOCKER" run --rm hello
show "$MINIDOCKER" run --rm --memory 64m busybox sh -c 'echo "hello from $(hostname): I am PID $$, and my memory limit is $(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes) bytes"'

if command -v docker >/dev/null; then
    echo
    echo "==> the real docker CLI, pointed at our engine"
    echo "\$ export DOCKER_HOST=$HOST"
    export DOCKER_HOST=$HOST
    show docker run --rm busybox echo hello from minidocker
else
    echo
    echo "==> no docker CLI here (sudo scripts/provision.sh --test installs one); minidocker does the same"
fi

echo
if [ -n "$pid" ]; then
    echo "minidockerd keeps running (pid $pid). Stop it with: sudo kill $pid"
else
    echo "minidockerd keeps running. Stop it with: sudo scripts/reset.sh"
fi
echo "  (sudo scripts/reset.sh also cleans up after a crash)"
echo "Try: sudo $MINIDOCKER run -it --rm busybox sh   (ctrl-p ctrl-q detaches, exit ends it)"
echo "Next: read the book — mdbook serve book, then open http://localhost:3000 —"
echo "from chapter 1, or straight to \"The engine\" to see what just happened."
