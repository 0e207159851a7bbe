#!/usr/bin/env bash
# bench-unpack.sh — how fast `layer::unpack` writes a layer, next to GNU tar.
# A benchmark, not a test: it prints numbers and asserts nothing.
#
# The layer is generated, not taken from the host, so every machine times
# the same bytes: a fixed-seed mix of small text files, medium files and
# large incompressible ones (140 MB of tar, 115 MB gzipped). Both tools are
# timed on the gzip layer and on the plain tar, so the gzip share shows.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v hyperfine >/dev/null; then
    echo "hyperfine is not installed: sudo scripts/provision.sh --test" >&2
    exit 1
fi

cargo build --release --locked -p images --example unpack
UNPACK=$(realpath "${CARGO_TARGET_DIR:-target}/release/examples/unpack")

tmp=$(mktemp -d /tmp/mdbench-unpack.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "generating the layer in $tmp ..."
python3 - "$tmp/src" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20240601)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(2000)]

def text(n):
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
    return bytes(out[:n])

def write(path, data):
    path = os.path.join(root, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

# (count, size, kind): like a distro layer, many small files, a few big binaries.
plan = [
    (4000, 1 << 10, "text"),      # configs, scripts, docs
    (1500, 16 << 10, "mixed"),    # small libraries
    (200, 256 << 10, "mixed"),    # medium libraries
    (9, 6 << 20, "random"),       # big binaries, already compressed data
]
n = 0
for count, size, kind in plan:
    for i in range(count):
        if kind == "text":
            data = text(size)
        elif kind == "random":
            data = rng.randbytes(size)
        else:
            data = rng.randbytes(size // 2) + text(size - size // 2)
        write(f"usr/{kind}/d{n % 64:02d}/f{n:05d}", data)
        n += 1
for i in range(200):
    os.symlink(f"../mixed/d{i % 64:02d}", os.path.join(root, f"usr/text/link{i:03d}"))
PY
# Sorted names, fixed owner and mtime, gzip without a timestamp: the same bytes every time.
tar --sort=name --mtime=@1600000000 --owner=0 --group=0 --numeric-owner -C "$tmp/src" -cf "$tmp/layer.tar" .
gzip -n -6 -c "$tmp/layer.tar" >"$tmp/layer.tar.gz"
rm -rf "$tmp/src"
tar_bytes=$(stat -c %s "$tmp/layer.tar")
gz_bytes=$(stat -c %s "$tmp/layer.tar.gz")
files=$(tar -tf "$tmp/layer.tar" | wc -l)
echo "layer: $files entries, $((tar_bytes / 1000000)) MB uncompressed, $((gz_bytes / 1000000)) MB gzipped"

OUT=$tmp/out
hyperfine --warmup 1 --runs "${RUNS:-5}" --export-json "$tmp/bench.json" \
    --prepare "rm -rf $OUT && mkdir $OUT" \
    --command-name "tar -xzf (gzip)" "tar -xzf $tmp/layer.tar.gz -C $OUT" \
    --command-name "layer::unpack (gzip)" "$UNPACK $tmp/layer.tar.gz $OUT" \
    --command-name "tar -xf (plain)" "tar -xf $tmp/layer.tar -C $OUT" \
    --command-name "layer::unpack (plain)" "$UNPACK $tmp/layer.tar $OUT"

echo
python3 - "$tmp/bench.json" "$tar_bytes" "$gz_bytes" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
tar_bytes, gz_bytes = int(sys.argv[2]), int(sys.argv[3])
for r in results:
    median = r["median"]
    given = gz_bytes if "gzip" in r["command"] else tar_bytes
    print(f"median {median * 1000:8.1f} ms  {tar_bytes / median / 1e6:6.1f} MB/s written"
          f"  {given / median / 1e6:6.1f} MB/s read  {r['command']}")
PY
