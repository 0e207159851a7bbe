#!/usr/bin/env bash
# test.sh [--unprivileged] [CHAPTER] — every test of the workshop.
#
#   sudo scripts/test.sh                 provision, build, all tests, the book, the Vagrantfile
#   sudo scripts/test.sh 01              build, then chapter 01's tests only
#   scripts/test.sh --unprivileged [NN]  without root: skip the privileged_ tests, and name them
#
# Tests that need root are named `privileged_…` (unit or integration tests).
# Without root they would fail, so a non-root run must say --unprivileged
# and gets the list of what it did not run: never a silent pass.
#
# Environment:
#   SKIP_PROVISION=1       skip scripts/provision.sh --test (fast local loops)
#   UPDATE_TRANSCRIPTS=1   the tests rewrite book/src/transcripts/ instead of
#                          comparing against them (this script only passes it on)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 [--unprivileged] [CHAPTER, e.g. 01]" >&2; exit 2; }
unprivileged=false
chapter=""
for arg in "$@"; do
    case $arg in
        --unprivileged) unprivileged=true ;;
        [0-9] | [0-9][0-9]) printf -v chapter '%02d' "$((10#$arg))" ;;
        *) usage ;;
    esac
done

if ! $unprivileged && [ "$(id -u)" -ne 0 ]; then
    echo "the tests need root: sudo scripts/test.sh (or scripts/test.sh --unprivileged to run the rest)" >&2
    exit 1
fi

# Which packages to test: one chapter's (its Cargo.toml names it), or all.
if [ -n "$chapter" ]; then
    dirs=(chapters/"$chapter"-*/)
    if [ ! -f "${dirs[0]}Cargo.toml" ]; then
        echo "no chapter $chapter (nothing matches chapters/$chapter-*/Cargo.toml)" >&2
        exit 2
    fi
    package=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "${dirs[0]}Cargo.toml" | head -n1)
    selection=(-p "$package")
else
    selection=(--workspace)
fi

if ! $unprivileged && [ "${SKIP_PROVISION:-}" != 1 ]; then
    scripts/provision.sh --test
fi

passed=0
failed=0
# step NAME COMMAND...: run one step, count it, keep going after a failure.
step() {
    local name=$1
    shift
    echo "==> $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "==> FAILED: $name"
    fi
}

# Every failed test, "target (binary): name", collected from cargo's output so the
# summary at the end lists them all (cargo runs on past a failing test
# binary with --no-fail-fast, and the first failure no longer hides the rest).
failed_tests=$(mktemp)
trap 'rm -f "$failed_tests"' EXIT
# cargo_test ARGS...: cargo test --no-fail-fast, its output shown as it
# comes and its failures noted in $failed_tests. Its status is cargo's
# (callers run it where errexit is off: in `if`, or before `||`).
cargo_test() {
    cargo test --locked --no-fail-fast "$@" 2>&1 | awk -v out="$failed_tests" '
        { print; fflush() }
        /^ *Running / { target = $0; sub(/^ *Running /, "", target) }
        /^test .* \.\.\. FAILED$/ { print target ": " $2 >> out; fflush(out) }
    '
    return "${PIPESTATUS[0]}"
}

run_tests() {
    if ! $unprivileged; then
        cargo_test "${selection[@]}"
        return
    fi
    # The names of the privileged tests, from the harness's own list
    # ("path::to::name: test"). Skip them by exact name: a plain
    # `--skip privileged_` is a substring match and would also skip
    # `unprivileged_anything`.
    local all list skip=() name status=0
    if ! all=$(cargo test --locked "${selection[@]}" -- --list 2>/dev/null); then
        cargo test --locked "${selection[@]}"  # does not build: show why
        echo "skipped (needs root): unknown, the tests did not build"
        return 1
    fi
    list=$(sed -n 's/: test$//p' <<<"$all" | grep -E '(^|::)privileged_' | sort -u) || true
    while IFS= read -r name; do
        [ -n "$name" ] && skip+=(--skip "$name")
    done <<<"$list"
    cargo_test "${selection[@]}" -- --exact "${skip[@]}" || status=$?
    if [ -n "$list" ]; then
        sed 's/^/skipped (needs root): /' <<<"$list"
    else
        echo "skipped (needs root): none"
    fi
    return $status
}

build_book() {
    if ! command -v mdbook >/dev/null; then
        echo "mdbook is not installed: sudo scripts/provision.sh"
        return 1
    fi
    local out status=0
    out=$(mktemp -d)
    # create-missing=false: by default mdbook quietly creates any page that
    # SUMMARY.md lists but book/src lacks; here a missing page is an error.
    MDBOOK_BUILD__CREATE_MISSING=false mdbook build book -d "$out" || status=$?
    rm -rf "$out"
    return $status
}

# The same test as provision.sh's: is this the workshop's own VM?
in_vagrant_vm() {
    [ -d /vagrant ] || { id vagrant >/dev/null 2>&1 && systemd-detect-virt -q --vm 2>/dev/null; }
}

validate_vagrantfile() {
    if ! command -v vagrant >/dev/null; then
        echo "vagrant is not installed: sudo scripts/provision.sh --test"
        return 1
    fi
    # A throw-away VAGRANT_HOME and dotfile dir: validate needs neither boxes
    # nor plugins, and must not leave .vagrant/ behind in the repository.
    local home status=0
    home=$(mktemp -d)
    # --ignore-provider: the file is still read whole, but a machine with no
    # hypervisor (CI) has no provider to check the provider blocks against,
    # and validate would refuse to start ("No usable default provider").
    VAGRANT_HOME=$home/home VAGRANT_DOTFILE_PATH=$home/dot vagrant validate --ignore-provider || status=$?
    rm -rf "$home"
    return $status
}

# Chapter 04's limits must also work on cgroup v2. A host with v1 (or
# hybrid) cgroups runs these tests again in a throw-away VM that has v2
# (scripts/vm-test.sh); on a v2 host the run above already covered them.
# One "TEST-TARGET TEST-NAME..." per line (package cgroups).
V2_TESTS=(
    "limits privileged_a_memory_hog_is_oom_killed privileged_a_fork_bomb_is_held_by_the_pids_limit privileged_cpus_sets_quota_and_period_and_a_busy_loop_is_throttled privileged_a_denied_device_cannot_be_opened"
    "devices_v2 privileged_a_bpf_device_program_refuses_what_the_rules_deny"
    "manager privileged_freeze_thaw_kill_all_and_destroy"
)
# test_binary PACKAGE TARGET: the path of that test binary, from cargo's
# JSON messages.
test_binary() {
    cargo test --locked -p "$1" --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and "test" in m["target"]["kind"] and m.get("executable"):
        print(m["executable"])
' "$2"
}
run_v2_tests_in_vm() {
    local target names exe script="" files=()
    for entry in "${V2_TESTS[@]}"; do
        read -r target names <<<"$entry"
        exe=$(test_binary cgroups "$target")
        [ -n "$exe" ] || { echo "no test binary for $target"; return 1; }
        files+=(--file "$exe")
        # shellcheck disable=SC2086 # the names are words on purpose
        script+="$exe --exact --test-threads=1 $names || status=1; "
    done
    local target_dir
    target_dir=$(realpath "${CARGO_TARGET_DIR:-target}")
    # The tests run ch04 (at the path compiled into them), the static
    # binaries, and coreutils' timeout (busybox's lacks --kill-after).
    scripts/vm-test.sh --memory 1G "${files[@]}" --file "$target_dir/debug/ch04" \
        --file "$target_dir/static" --file "$(command -v timeout)" \
        -- /bin/sh -c "status=0; $script exit \$status"
}

# The engine on cgroup v2: `docker stats` reads v2's files there, and
# `docker update` writes them.
run_engine_v2_tests_in_vm() {
    local stats engine target_dir
    stats=$(test_binary minidocker stats)
    engine=$(test_binary minidocker engine)
    [ -n "$stats" ] && [ -n "$engine" ] || { echo "no engine test binaries"; return 1; }
    target_dir=$(realpath "${CARGO_TARGET_DIR:-target}")
    local files=(--file "$stats" --file "$engine" --file "$target_dir/static" --file /bin/busybox
        --file "$(command -v docker)")
    for bin in minidockerd minishim minirunc minidocker; do
        files+=(--file "$target_dir/debug/$bin")
    done
    scripts/vm-test.sh --memory 2G --timeout 600 "${files[@]}" -- /bin/sh -c \
        "status=0; $stats --test-threads=1 || status=1; \
         $engine --exact --test-threads=1 privileged_update_changes_a_running_containers_limits || status=1; \
         exit \$status"
}

step "cargo build" cargo build --workspace --all-targets --locked
# The static binaries images are made of (the offline `hello` image).
step "static binaries" scripts/build.sh --static-only
step "cargo test ${selection[*]}" run_tests
if ! $unprivileged && { [ -z "$chapter" ] || [ "$chapter" = 04 ]; }; then
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
        echo "skipped: cgroup v2 tests in a VM (this host has cgroup v2: the run above covered it)"
    else
        step "cgroup v2 tests in a VM" run_v2_tests_in_vm
    fi
fi
if ! $unprivileged && [ -z "$chapter" ] && [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
    step "the engine on cgroup v2 in a VM" run_engine_v2_tests_in_vm
fi

if [ -z "$chapter" ]; then
    step "book check self-test" scripts/check-book.py --self-test
    step "book check" scripts/check-book.py
    step "mdbook build" build_book
    if in_vagrant_vm; then
        # provision.sh installs no Vagrant inside the VM Vagrant made.
        echo "skipped: vagrant validate (this is the Vagrant VM; the host checks it)"
    else
        step "vagrant validate" validate_vagrantfile
    fi
fi

if [ -s "$failed_tests" ]; then
    echo "==> failed tests:"
    sed 's/^/    /' "$failed_tests"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
