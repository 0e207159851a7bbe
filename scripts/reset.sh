#!/usr/bin/env bash
# reset.sh [--state | --all] — clean up what the workshop's programs leave
# behind when they crash: daemons, stale sockets, mounts, cgroups, links.
#
#   sudo scripts/reset.sh           processes, sockets, mounts, cgroups, links
#   sudo scripts/reset.sh --state   also the state dirs /run/minirunc, /run/minishim, /run/minidocker
#   sudo scripts/reset.sh --all     also the data roots under /var/lib (images, containers)
#
# It touches only what the workshop owns: our binary names, our paths, our
# cgroup and link names. Logs stay: they explain the crash. Each chapter adds
# its own leftovers here.
#
# MINIDOCKER_RESET_PREFIX=/tmp/x looks every path up under /tmp/x instead of /
# (and only kills our binaries that live under it, and leaves network links
# alone), so a test can exercise this script safely.
set -euo pipefail

state=false
data=false
case "${1:-}" in
    "") ;;
    --state) state=true ;;
    --all) state=true data=true ;;
    *) echo "usage: $0 [--state | --all]" >&2; exit 2 ;;
esac

P=${MINIDOCKER_RESET_PREFIX:-}
P=${P%/}

# Our processes: "binary-name argument" (the argument must be on its command
# line; "-" means any). Only long-lived ones: the rest exit on their own.
PROCESSES=(
    "minidockerd -"  # SIGTERM: it stops its containers first
    "ch01 daemon"
    "ch03 run"       # its container dies with it (PR_SET_PDEATHSIG)
    "ch04 run"
)
SOCKETS=(
    "$P/run/minidocker-ch01.sock"
    "$P/run/minidocker.sock"
)
MOUNT_ROOTS=(
    "$P/var/lib/minidocker-workshop"
    "$P/var/lib/minidocker"
    "$P/run/minidocker"
    "$P/run/minirunc"
)
STATE_DIRS=(
    "$P/run/minirunc"
    "$P/run/minishim"   # a live shim exits once its container is deleted
    "$P/run/minidocker"
)
DATA_DIRS=(
    "$P/var/lib/minidocker-workshop"
    "$P/var/lib/minidocker"
)
# The cgroups' parent; the tests use one of their own (and say so here).
CGROUP_NAME=${MINIDOCKER_CGROUP_PARENT:-minidocker}
# With a prefix, cgroups are looked up under it too, unless the tests point
# this at the real /sys/fs/cgroup (with a parent name of their own).
CGROUP_ROOT=${MINIDOCKER_RESET_CGROUP_ROOT:-$P/sys/fs/cgroup}
LINK_PREFIX=minidocker

did=0
say() { echo "$*"; did=$((did + 1)); }

# 1. Processes first: a live daemon would recreate what we remove.
kill_ours() {
    local entry name arg dir pid exe args
    for entry in "${PROCESSES[@]}"; do
        read -r name arg <<<"$entry"
        for dir in /proc/[0-9]*; do
            pid=${dir#/proc/}
            # /proc/PID/exe names the binary even if argv[0] lies; after a
            # rebuild it reads "/path/ch01 (deleted)".
            exe=$(readlink "$dir/exe" 2>/dev/null) || continue
            exe=${exe% (deleted)}
            [ "${exe##*/}" = "$name" ] || continue
            [ -z "$P" ] || [[ $exe == "$P"/* ]] || continue
            # The arguments are NUL-separated in /proc/PID/cmdline.
            args=$(tr '\0' '\n' 2>/dev/null <"$dir/cmdline") || continue
            [ "$arg" = - ] || grep -qxF -- "$arg" <<<"$args" || continue
            kill -TERM "$pid" 2>/dev/null || continue
            # Give it 3 seconds to clean up after itself, then insist.
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then
                kill -KILL "$pid" 2>/dev/null || true
                say "killed $name $arg (pid $pid, SIGKILL after SIGTERM)"
            else
                say "stopped $name $arg (pid $pid)"
            fi
        done
    done
}

# 2. A socket file outlives its daemon; remove it only when nobody answers.
remove_stale_sockets() {
    local sock
    for sock in "${SOCKETS[@]}"; do
        [ -S "$sock" ] || continue
        if python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$sock" 2>/dev/null; then
            echo "kept $sock: a daemon is listening on it"
        else
            rm -f "$sock"
            say "removed stale socket $sock"
        fi
    done
}

# 3. Mounts under our directories, deepest first: a parent cannot be
# unmounted while a child is mounted on it. Lazy (-l) so a process still
# inside does not block us. Paths in mountinfo escape spaces as \040.
unmount_ours() {
    local point
    while IFS= read -r point; do
        if umount -l "$point" 2>/dev/null; then
            say "unmounted $point"
        else
            echo "could not unmount $point"
        fi
    done < <(python3 -c '
import re, sys
roots = sys.argv[1:]
points = []
for line in open("/proc/self/mountinfo"):
    point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
    if any(point == r or point.startswith(r + "/") for r in roots):
        points.append(point)
for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
    print(point)
' "${MOUNT_ROOTS[@]}")
}

# 3b. Snapshots `ch02 mount` made (chapter 02). Their mount points can be
# anywhere, so they are found through the overlay mounts whose upper dir is
# in a snapshot directory of ours; then the snapshot records go. A copy
# snapshot's files are left where they are: they are plain files now.
SNAPSHOT_DIRS=(
    "$P/var/lib/minidocker-workshop/snapshots"
)
remove_snapshots() {
    local dir point record
    for dir in "${SNAPSHOT_DIRS[@]}"; do
        [ -d "$dir" ] || continue
        while IFS= read -r point; do
            if umount -l "$point" 2>/dev/null; then
                say "unmounted snapshot $point"
            else
                echo "could not unmount snapshot $point"
            fi
        done < <(python3 -c '
import re, sys
snapshots = sys.argv[1].rstrip("/") + "/"
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    sep = fields.index("-")
    fstype, options = fields[sep + 1], fields[sep + 3]
    unescape = lambda s: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)
    if fstype == "overlay" and any(o.startswith("upperdir=" + snapshots) for o in unescape(options).split(",")):
        print(unescape(fields[4]))
' "$dir")
        for record in "$dir"/*/; do
            [ -e "$record/snapshot.json" ] || [ -d "$record/upper" ] || continue
            rm -rf --one-file-system "$record"
            say "removed snapshot record ${record%/}"
        done
    done
}

# 3c. What a `ch03 run` keeps in its run directory (the snapshot's mount
# point, /etc/hosts and friends) when it dies before removing it. The
# snapshots are unmounted above; a run directory with a mount still inside is
# kept (--one-file-system would stop there anyway).
RUN_DIRS=(
    "$P/var/lib/minidocker-workshop/ch03"   # ch04 runs keep theirs here too
)
remove_runs() {
    local parent run
    for parent in "${RUN_DIRS[@]}"; do
        for run in "$parent"/*/; do
            [ -d "$run" ] || continue
            run=${run%/}
            if grep -qF " $run/" /proc/self/mountinfo; then
                echo "kept ch03 run $run: something is still mounted inside"
                continue
            fi
            rm -rf --one-file-system "$run"
            say "removed ch03 run $run"
        done
    done
}

# 4. cgroups named minidocker. rmdir, never rm -r: in cgroupfs rmdir removes
# only a cgroup with no processes and no children, so a busy one stays.
remove_cgroups() {
    local tops top dir
    if [ -e "$CGROUP_ROOT/cgroup.controllers" ]; then
        tops=("$CGROUP_ROOT/$CGROUP_NAME")                     # v2: one tree
    else
        tops=("$CGROUP_ROOT"/*/"$CGROUP_NAME")                 # v1: one per controller
    fi
    for top in "${tops[@]}"; do
        [ -d "$top" ] || continue
        while IFS= read -r dir; do
            if rmdir "$dir" 2>/dev/null; then
                say "removed cgroup $dir"
            else
                echo "kept cgroup $dir: not empty (processes or files inside)"
            fi
        done < <(find "$top" -depth -type d)
    done
}

# 5. Network links: the bridge and veth ends named minidocker*.
remove_links() {
    [ -z "$P" ] || return 0
    command -v ip >/dev/null || return 0
    local link
    # `ip -o link` prints "4: name@peer: <FLAGS> ..." one link per line.
    for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$LINK_PREFIX" || true); do
        # Deleting one end of a veth pair deletes the other: hence 2>/dev/null.
        ip link delete "$link" 2>/dev/null && say "deleted link $link"
    done
}

# 6. State and data dirs, on request. --one-file-system: should an unmount
# above have failed, never recurse into what is still mounted there.
remove_dirs() {
    local dir
    for dir in "$@"; do
        [ -e "$dir" ] || continue
        rm -rf --one-file-system "$dir"
        say "removed $dir"
    done
}

kill_ours
remove_stale_sockets
remove_snapshots
unmount_ours
remove_runs
remove_cgroups
remove_links
if $state; then remove_dirs "${STATE_DIRS[@]}"; fi
if $data; then remove_dirs "${DATA_DIRS[@]}"; fi
[ "$did" -gt 0 ] || echo "nothing to clean"
