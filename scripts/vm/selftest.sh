#!/usr/bin/env bash
# selftest.sh — test scripts/vm-test.sh itself: three boots, 35-45 s
# under TCG.
#
#   sudo scripts/vm/selftest.sh
#
# 1. A check script, run in the VM, that needs what the privileged tests need:
#    the cgroup v2 controllers available and enabled in the root's
#    subtree_control, a child cgroup with memory.max, veth, bridge, overlay,
#    pivot_root, lo; and what the harness promises: arguments, --env,
#    --file (files, directories, HOST:VM, a dynamic host binary), --workdir.
#    It exits 1 if any check fails, and vm-test.sh must pass that on.
# 2. A dynamically linked program (the host's /bin/sh) that exits 3:
#    vm-test.sh must exit 3.
# 3. A program that never ends, with --timeout: vm-test.sh must fail with
#    125 and leave no qemu behind.
set -euo pipefail
cd "$(dirname "$0")/../.."

failed=0
pass() { echo "selftest: ok   $*"; }
fail() { echo "selftest: FAIL $*"; failed=1; }

work=$(mktemp -d /tmp/vm-selftest.XXXXXX)
trap 'rm -rf "$work"' EXIT
# vm-test.sh makes its temporary directory under TMPDIR: a qemu still running
# from one of our runs would have $work in its command line.
export TMPDIR=$work

no_qemu_left() {
    local cmdline
    for cmdline in /proc/[0-9]*/cmdline; do
        if tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -q "^qemu-system.*$work"; then
            fail "a qemu from this run is still running: ${cmdline%/cmdline}"
            return
        fi
    done
    pass "no qemu left running"
}

# The VM's side of test 1. It runs under busybox sh (the VM's /bin/sh).
mkdir -p "$work/dir/sub"
echo "from a directory" >"$work/dir/sub/file.txt"
echo "from a file" >"$work/file.txt"
cat >"$work/check.sh" <<'EOF'
#!/bin/sh
fail=0
check() {
    what=$1
    shift
    if "$@" >/tmp/check.out 2>&1; then
        echo "vm: ok   $what"
    else
        echo "vm: FAIL $what: $(head -n3 /tmp/check.out)"
        fail=1
    fi
}
has_word() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

cg=/sys/fs/cgroup
check "cgroup2 is mounted on $cg" grep -q "^cgroup2 $cg cgroup2" /proc/mounts
controllers=$(cat $cg/cgroup.controllers)
subtree=$(cat $cg/cgroup.subtree_control)
echo "vm: cgroup.controllers: $controllers"
echo "vm: cgroup.subtree_control: $subtree"
for c in cpuset cpu io memory pids; do
    check "controller $c is available" has_word "$controllers" $c
    check "controller $c is enabled for children" has_word "$subtree" $c
done
check "mkdir a child cgroup" mkdir $cg/vmtest-selftest
check "the child offers memory.max and pids.max" test -e $cg/vmtest-selftest/memory.max -a -e $cg/vmtest-selftest/pids.max
check "write memory.max" sh -c "echo 64M >$cg/vmtest-selftest/memory.max"
check "memory.max reads 67108864" test "$(cat $cg/vmtest-selftest/memory.max)" = 67108864
check "write pids.max" sh -c "echo 16 >$cg/vmtest-selftest/pids.max"
check "a process moves into the child" sh -c "echo \$\$ >$cg/vmtest-selftest/cgroup.procs && grep -qx 0::/vmtest-selftest /proc/self/cgroup"
check "rmdir the child" rmdir $cg/vmtest-selftest

check "ip link add a veth pair" ip link add v0 type veth peer name v1
check "ip link add a bridge" ip link add br0 type bridge
check "a veth end joins the bridge" ip link set v0 master br0
check "lo is up with 127.0.0.1" ping -c 1 -W 2 127.0.0.1

mkdir -p /tmp/ov/lower /tmp/ov/upper /tmp/ov/work /tmp/ov/merged
echo lower >/tmp/ov/lower/file
check "mount -t overlay" mount -t overlay overlay -o lowerdir=/tmp/ov/lower,upperdir=/tmp/ov/upper,workdir=/tmp/ov/work /tmp/ov/merged
check "an overlay write copies up" sh -c "echo changed >/tmp/ov/merged/file && test \"\$(cat /tmp/ov/upper/file)\" = changed && test \"\$(cat /tmp/ov/lower/file)\" = lower"
check "pivot_root works (/ is not the initramfs rootfs)" unshare -m sh -c \
    'mkdir -p /tmp/pr && mount -t tmpfs pr /tmp/pr && mkdir /tmp/pr/old && cd /tmp/pr && pivot_root . old'

check "the arguments arrive intact" test "$#:$1:$2" = "2:first arg:it's \$HOME"
check "--env arrives" test "${VMTEST_SELFTEST:-}" = "a b'c"
check "RUST_BACKTRACE=1" test "${RUST_BACKTRACE:-}" = 1
check "--workdir is the working directory" test "$(pwd)" = /work/selftest
check "PROGRAM is at its host path (under /tmp, kept)" test -f "$0"
check "--file FILE is at its host path" test "$(cat "$SELFTEST_WORK/file.txt")" = "from a file"
check "--file DIR:VM holds the directory" test "$(cat /opt/selftest/dir/sub/file.txt)" = "from a directory"
check "--file a dynamic host binary runs (its libraries came along)" test "$(/opt/selftest/host-cat /opt/selftest/dir/sub/file.txt)" = "from a directory"
check "/dev has the kernel's nodes" test -c /dev/null -a -c /dev/kmsg -a -c /dev/ptmx -a -L /dev/fd

exit $fail
EOF
chmod +x "$work/check.sh"

echo "selftest: 1. the VM has what the privileged tests need"
start=$SECONDS
set +e
scripts/vm-test.sh --env "VMTEST_SELFTEST=a b'c" --env "SELFTEST_WORK=$work" \
    --file "$work/file.txt" --file "$work/dir:/opt/selftest/dir" \
    --file "$(command -v cat):/opt/selftest/host-cat" --workdir /work/selftest \
    -- "$work/check.sh" "first arg" "it's \$HOME"
status=$?
set -e
if [ "$status" -eq 0 ]; then pass "every check in the VM ($((SECONDS - start))s)"; else fail "checks in the VM: vm-test.sh exited $status"; fi
no_qemu_left

echo "selftest: 2. the exit status comes out"
start=$SECONDS
set +e
scripts/vm-test.sh -- /bin/sh -c 'echo "exiting 3"; exit 3'
status=$?
set -e
if [ "$status" -eq 3 ]; then pass "exit 3 in the VM -> vm-test.sh exits 3 ($((SECONDS - start))s)"; else fail "exit 3 in the VM, but vm-test.sh exited $status"; fi
no_qemu_left

echo "selftest: 3. a hung program ends in a timeout"
start=$SECONDS
set +e
scripts/vm-test.sh --timeout 20 -- /bin/sh -c 'echo sleeping; sleep 1000'
status=$?
set -e
if [ "$status" -eq 125 ]; then pass "a hung program: vm-test.sh exits 125 ($((SECONDS - start))s)"; else fail "a hung program: vm-test.sh exited $status, wanted 125"; fi
no_qemu_left

if [ "$failed" -ne 0 ]; then
    echo "selftest: FAILED"
    exit 1
fi
echo "selftest: all passed"
