#!/bin/busybox sh
# init.sh — the /init of the initramfs scripts/vm-test.sh boots: it sets up
# what a container runtime expects of a host (proc, sys, dev, a cgroup v2 tree
# with every controller delegated, overlay/veth/bridge modules, lo), runs the
# program from /vmtest/run.sh, prints the end marker and powers off.
#
# The kernel runs it as PID 1 from the initramfs root. PID 1 must never exit:
# the kernel would panic ("Attempted to kill init!"). That is only the last
# resort below (panic=-1 and qemu -no-reboot turn a panic into a qemu exit).
#
# /vmtest/config (written by vm-test.sh) sets NONCE; /vmtest/modules lists the
# .ko files to insmod, dependencies first; /vmtest/run.sh cds and execs the
# program with its arguments and environment.

# Stage 1: make / a real mount. The initramfs root is the kernel's rootfs,
# the root of the mount tree: pivot_root(2) refuses a process whose root has
# no parent mount (EINVAL), and container runtimes pivot_root. A bind mount of
# rootfs moved on top of itself does have a parent, so once we chroot into it
# pivot_root works, without copying the files to a new tmpfs (switch_root).
if [ "${1:-}" != stage2 ]; then
    if /bin/busybox mount -o bind / /newroot &&
        cd /newroot &&
        /bin/busybox mount -o move . /; then
        exec /bin/busybox chroot . /init stage2
    fi
    echo "vm-test init: could not move / onto a bind mount; pivot_root will fail in the VM" >&2
    exec /init stage2
fi

# Stage 2. The kernel hands PID 1 almost no environment: set ours.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
umask 022
. /vmtest/config

warn() { echo "vm-test init: $*" >&2; }

# devtmpfs: the kernel creates every device node itself (console, null,
# kmsg, loop-control, net/tun...), with no udev in here. The kernel mounts it
# automatically only for a root= disk, never for an initramfs.
mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev || warn "mount devtmpfs failed"
# The kernel opened /dev/console from the archive's node for fds 0-2; reopen
# it from devtmpfs in case that node was missing (the archive was built by a
# non-root user who cannot mknod).
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue 2>/dev/null
# What udev or systemd would add: /dev/fd (bash's process substitution), stdio.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys

# Fresh tmpfs on /tmp and /run, as on a systemd host. Files vm-test.sh put
# there (--file /tmp/x) are carried over: a plain mount would hide them.
for dir in /tmp /run; do
    mode=0755
    [ "$dir" = /tmp ] && mode=1777
    if [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        mount -t tmpfs -o mode=$mode,nosuid,nodev tmpfs /vmtest/mnt &&
            cp -a "$dir"/. /vmtest/mnt/ &&
            mount -o move /vmtest/mnt "$dir"
    else
        mount -t tmpfs -o mode=$mode,nosuid,nodev tmpfs "$dir"
    fi || warn "mount tmpfs on $dir failed"
done

# cgroup v2, the unified hierarchy: one mount holds every controller the
# kernel has (cgroup.controllers). A controller reaches child cgroups only
# once enabled in the parent's cgroup.subtree_control: enable them all in the
# root, one by one, so that one refusal does not block the others (a write of
# several names is all-or-nothing). The root cgroup is exempt from the "no
# internal processes" rule, so we and the program can stay in it.
# nsdelegate, as systemd mounts it: a cgroup namespace is a delegation
# boundary, like on the hosts the workshop targets.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || warn "mount cgroup2 failed"
for controller in $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null); do
    echo "+$controller" >/sys/fs/cgroup/cgroup.subtree_control ||
        warn "could not enable the $controller controller in the root cgroup"
done

# Modules, dependencies first (vm-test.sh ordered them from modules.dep):
# busybox insmod loads one file and resolves nothing, unlike modprobe.
while read -r module; do
    [ -n "$module" ] || continue
    insmod "$module" || warn "insmod $module failed"
done </vmtest/modules

# Loopback only: the VM has no network device (qemu -nic none). lo gets
# 127.0.0.1/8 and ::1 as soon as it is up.
ip link set lo up || warn "could not bring lo up"
hostname vmtest

# The serial tty turns "\n" into "\r\n" (onlcr): keep the program's output
# byte-exact instead. busybox stty applies settings with tcsetattr(TCSADRAIN),
# which also waits until the tty has sent what was written before it.
stty -F /dev/console -onlcr 2>/dev/null

echo "VMTEST-START $NONCE"
# stdin from /dev/null: nothing types on the console, a read would hang.
sh /vmtest/run.sh </dev/null
status=$?

# The marker is the only way the exit status leaves the VM. The nonce (new
# each run) keeps the program's own output from forging it.
echo "VMTEST-EXIT:$status $NONCE"
# Wait until the serial tty has sent the marker: poweroff does not flush the
# tty's buffer, and the last bytes would be lost with the machine.
stty -F /dev/console -onlcr 2>/dev/null

# poweroff -f calls reboot(2) directly: there is no init system to ask. The
# kernel powers the emulated PC off through ACPI and qemu exits.
poweroff -f
# Should that fail: the sysrq power-off, then exiting PID 1 (a panic, which
# panic=-1 and -no-reboot turn into a qemu exit as well).
echo o >/proc/sysrq-trigger
sleep 5
exit "$status"
