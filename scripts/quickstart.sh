#!/usr/bin/env bash
# quickstart.sh — from a fresh checkout to the real docker CLI talking to
# our chapter 01 daemon. Run as root: sudo scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "run it as root: sudo scripts/quickstart.sh" >&2
    exit 1
fi

SOCK=/run/minidocker-ch01.sock
HOST=unix://$SOCK
LOG=/run/minidocker-ch01.log
CH01=${CARGO_TARGET_DIR:-target}/release/ch01

# show CMD...: print the command as you would type it, then run it.
show() {
    echo
    echo "\$ $*"
    "$@"
}

scripts/provision.sh
echo "==> building chapter 01"
cargo build --release --locked -p api

if "$CH01" -H "$HOST" version >/dev/null 2>&1; then
    echo "==> a chapter 01 daemon already answers on $SOCK: using it"
    pid=""
else
    echo "==> starting the chapter 01 daemon on $SOCK (log: $LOG)"
    # Nobody answers, so a socket file left there is stale.
    rm -f "$SOCK"
    # nohup and </dev/null: the daemon outlives this script and its terminal.
    nohup "$CH01" daemon -H "$HOST" </dev/null >>"$LOG" 2>&1 &
    pid=$!
    ready=false
    for _ in $(seq 50); do
        if "$CH01" -H "$HOST" version >/dev/null 2>&1; then ready=true; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if ! $ready; then
        echo "the daemon did not come up; the end of $LOG:" >&2
        tail -n 20 "$LOG" >&2
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
fi

echo
echo "==> our own client, $CH01, talking HTTP to the daemon over $SOCK"
show "$CH01" -H "$HOST" version
show "$CH01" -H "$HOST" run --rm -- echo hello from a chapter 01 container

echo
if command -v docker >/dev/null; then
    echo "==> the real docker CLI, pointed at our daemon"
    echo "\$ export DOCKER_HOST=$HOST"
    export DOCKER_HOST=$HOST
    show docker version
    echo
    echo "# Chapter 01 has no images yet: the daemon ignores 'busybox' and runs"
    echo "# 'echo hi' as a plain process on this host. Images come in chapter 02."
    show docker run --rm busybox echo hi
else
    echo "==> no docker CLI here (sudo scripts/provision.sh --test installs one): skipping it"
fi

echo
if [ -n "$pid" ]; then
    echo "The daemon keeps running (pid $pid). Stop it with: sudo kill $pid"
else
    echo "The daemon keeps running. Stop it with: sudo scripts/reset.sh"
fi
echo "  (sudo scripts/reset.sh also cleans up after a crash)"
echo "Next: read the book, chapter 1 — mdbook serve book, then open http://localhost:3000"
