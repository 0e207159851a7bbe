#!/usr/bin/env bash
# bench.sh — how long one API round trip takes: our client and the real
# docker CLI against the chapter 01 daemon. A benchmark, not a test: it
# prints numbers and asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v hyperfine >/dev/null; then
    echo "hyperfine is not installed: sudo scripts/provision.sh --test" >&2
    exit 1
fi

cargo build --release --locked -p api
CH01=$(realpath "${CARGO_TARGET_DIR:-target}/release/ch01")

# A private daemon on a short socket path (sun_path holds 108 bytes).
tmp=$(mktemp -d /tmp/mdbench.XXXXXX)
SOCK=$tmp/d.sock
"$CH01" daemon -H "unix://$SOCK" >"$tmp/daemon.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 50); do
    [ -S "$SOCK" ] && break
    sleep 0.1
done
if [ ! -S "$SOCK" ]; then
    echo "the daemon did not start:" >&2
    cat "$tmp/daemon.log" >&2
    exit 1
fi

commands=("$CH01 -H unix://$SOCK version")
names=("ch01 version")
if command -v docker >/dev/null; then
    commands+=("docker -H unix://$SOCK version")  # -H: the same as DOCKER_HOST=
    names+=("docker version")
else
    echo "no docker CLI here (sudo scripts/provision.sh --test installs one): timing ch01 only"
fi

args=()
for i in "${!commands[@]}"; do args+=(--command-name "${names[$i]}" "${commands[$i]}"); done
# -N: run the commands without a shell; hyperfine cannot subtract a shell's
# start-up precisely enough for a 2 ms command.
hyperfine -N --warmup 5 --runs 50 --export-json "$tmp/bench.json" "${args[@]}"

echo
python3 - "$tmp/bench.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"median {r['median'] * 1000:7.2f} ms  {r['command']}")
PY
