#!/usr/bin/env bash
# build.sh — release builds of every chapter's binaries, then the static
# binaries that go into images, copied to ${CARGO_TARGET_DIR:-target}/static/
# (where the chapters' `static_binary::find` looks for them).
set -euo pipefail
cd "$(dirname "$0")/.."

# --static-only: just the static binaries (scripts/test.sh needs those).
if [ "${1:-}" != --static-only ]; then
    cargo build --release --locked --workspace
fi

# The static binaries, one "NAME PACKAGE" per line: adding one is adding a line.
# Each is std-only and runs in a root filesystem that holds nothing else, so
# it must not need the dynamic loader or libc.so.
STATIC_BINARIES=(
    "hello images"                # the offline `hello` image; the labs' probe
    "minidocker-init namespaces"  # the `--init` PID 1 (chapter 03)
    "chroot-escape namespaces"    # the chroot escape the chapter 03 tests run inside
)

target_dir=${CARGO_TARGET_DIR:-target}
static_dir=$target_dir/static
mkdir -p "$static_dir"

for entry in "${STATIC_BINARIES[@]}"; do
    read -r name package <<<"$entry"
    # crt-static links the C runtime into the binary (static-pie on
    # x86_64-unknown-linux-gnu). The flag goes after `--` to `cargo rustc`,
    # which passes it to this one binary's final rustc call only: the same
    # flag in RUSTFLAGS would reach every crate, and proc-macro crates
    # (serde_derive) cannot be built with crt-static on a gnu target.
    cargo rustc --release --locked -p "$package" --bin "$name" -- -C target-feature=+crt-static
    built=$target_dir/release/$name
    # PT_INTERP names the dynamic loader: a binary with one is not static,
    # and would fail with ENOENT in an image that has no /lib64.
    # (Captured first: with pipefail, `readelf | grep -q` can fail on SIGPIPE.)
    program_headers=$(LC_ALL=C readelf --program-headers --wide "$built")
    if grep -q INTERP <<<"$program_headers"; then
        echo "build.sh: $built is dynamically linked despite crt-static" >&2
        exit 1
    fi
    # target/release/$name is whichever build ran last (cargo re-links it even
    # when fresh, so a later `cargo build` puts the dynamic one back): the
    # static copy lives in static/, written under a temporary name first so
    # a reader never sees half a file.
    cp "$built" "$static_dir/$name.tmp"
    mv -f "$static_dir/$name.tmp" "$static_dir/$name"
    echo "static: $static_dir/$name"
done
