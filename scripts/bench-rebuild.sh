#!/usr/bin/env bash
# bench-rebuild.sh — how long `ch02 build` takes when every step is a cache
# hit: the rebuild you do after changing nothing, or nothing the build reads.
# A benchmark, not a test: it prints numbers and asserts nothing.
#
# The context is small and generated (a Dockerfile of five instructions and
# one source file), so the time is the builder's own: parsing, reading the
# base image, hashing the context for COPY's cache key, probing the cache,
# and writing the new config and manifest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v hyperfine >/dev/null; then
    echo "hyperfine is not installed: sudo scripts/provision.sh --test" >&2
    exit 1
fi

cargo build --release --locked -p images
scripts/build.sh --static-only
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")
CH02=$TARGET/release/ch02
export MINIDOCKER_STATIC_DIR=$TARGET/static

tmp=$(mktemp -d /tmp/mdbench-rebuild.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
R=$tmp/store
CTX=$tmp/context

"$CH02" --root "$R" create-offline-images >/dev/null
mkdir -p "$CTX/src"
echo 'fn main() { println!("bench"); }' >"$CTX/src/main.rs"
cat >"$CTX/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV APP=bench
WORKDIR /app
COPY . .
CMD ["/bin/sh", "-c", "ls /app"]
DOCKERFILE

echo "first build (fills the cache):"
"$CH02" --root "$R" build -t bench:1 "$CTX"
second=$("$CH02" --root "$R" build -t bench:1 "$CTX")
if [[ $second != *"Using cache"* ]]; then
    echo "the second build did not use the cache" >&2
    exit 1
fi

echo
hyperfine --warmup 3 --runs "${RUNS:-30}" -N --export-json "$tmp/bench.json" \
    --command-name "ch02 build (all cache hits)" \
    "$CH02 --root $R build -t bench:1 $CTX"

echo
python3 - "$tmp/bench.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"median {r['median'] * 1000:.1f} ms  (min {r['min'] * 1000:.1f}, max {r['max'] * 1000:.1f})  {r['command']}")
PY
