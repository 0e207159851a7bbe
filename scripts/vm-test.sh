#!/usr/bin/env bash
# vm-test.sh — run one program inside a throw-away qemu VM that has a full
# cgroup v2 (every controller delegated from the root), overlay, veth and
# bridge: for privileged tests a host with cgroup v1 (or a shared CI box)
# cannot run.
#
#   scripts/vm-test.sh [OPTIONS] -- PROGRAM [ARGS...]
#
#   --memory SIZE          the VM's RAM, qemu syntax (default 1G)
#   --timeout SECONDS      give up and kill the VM after this long (default 300)
#   --file HOST[:VM]       also put HOST (a file or a directory) in the VM, at
#                          VM (default: HOST's absolute path); repeatable
#   --env KEY=VALUE        set a variable for PROGRAM; repeatable
#   --workdir DIR          PROGRAM's working directory in the VM (default: the
#                          current directory's path, created empty)
#   --module NAME          load another kernel module (with its dependencies)
#
# PROGRAM is a host executable; it goes into the VM at its own absolute path
# (so that `current_exe()`-relative lookups still work: target/debug/deps/x
# finds target/static/), with every shared library `ldd` names and the
# dynamic loader. So do the ELF executables --file brings in. busybox provides
# /bin/sh and the usual tools. PROGRAM runs as root, a child of /init, in the
# root cgroup, with RUST_BACKTRACE=1 and stdin from /dev/null; its output comes
# out on the serial console, streamed to our stdout. We exit with its status.
# One boot and run of a trivial program takes about 6 s under TCG.
#
# A cargo test binary takes the usual filter and harness arguments:
#
#   cargo test -p images --no-run --message-format=json \
#       | jq -r 'select(.executable != null and .profile.test) | .executable'
#   scripts/vm-test.sh --file target/static -- \
#       target/debug/deps/images-0123abcd privileged_ --test-threads=1
#
# (Without jq: grep -o '"executable":"[^"]*"' on the same output.) Tests that
# run the chapter binaries need those too: --file target/debug/ch02.
# The VM has no network device: only 127.0.0.0/8 and ::1 are reachable.
#
# Exit status: PROGRAM's; 2 for a usage error; 125 when the harness itself
# failed (no qemu, no kernel, kernel panic, timeout), with one line that says
# why and what to do.
#
# Environment:
#   VMTEST_ACCEL=kvm|tcg   force the accelerator (default: kvm when usable)
#   VMTEST_KERNEL=PATH     boot this bzImage (modules from the matching
#                          lib/modules/VERSION next to it or in /lib/modules);
#                          VMTEST_KERNEL=apt boots Debian's current
#                          linux-image-amd64, downloaded once into
#                          ${CARGO_TARGET_DIR:-target}/vm-test/
#   VMTEST_KEEP=1          keep the temporary directory (initramfs, console log)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
init_script=$repo/scripts/vm/init.sh

# Modules every run loads: overlay (image layers), veth and bridge (the
# network chapter). Their dependencies come from modules.dep.
MODULES=(overlay veth bridge)
# Where the harness's own failures exit (as git bisect run's "cannot test").
HARNESS_FAILED=125
KVM_BOOT_LIMIT=30   # seconds a KVM guest gets to reach /init before we try TCG

usage() { sed -n '2,/^set -euo/{/^#/{s/^# \{0,1\}//;p}}' "$0" >&2; exit 2; }
die() { echo "vm-test: $*" >&2; exit "$HARNESS_FAILED"; }
info() { echo "vm-test: $*" >&2; }

memory=1G
timeout=300
files=()
envs=()
workdir=$PWD
extra_modules=()
while [ $# -gt 0 ]; do
    case $1 in
        --memory) memory=${2:?--memory needs a size}; shift 2 ;;
        --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
        --file) files+=("${2:?--file needs HOSTPATH[:VMPATH]}"); shift 2 ;;
        --env) envs+=("${2:?--env needs KEY=VALUE}"); shift 2 ;;
        --workdir) workdir=${2:?--workdir needs a directory}; shift 2 ;;
        --module) extra_modules+=("${2:?--module needs a name}"); shift 2 ;;
        -h | --help) usage ;;
        --) shift; break ;;
        -*) echo "vm-test: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || usage
[[ $timeout =~ ^[1-9][0-9]*$ ]] || { echo "vm-test: --timeout wants whole seconds, not $timeout" >&2; exit 2; }
for kv in "${envs[@]}"; do
    [[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || { echo "vm-test: --env wants KEY=VALUE, not $kv" >&2; exit 2; }
done
[[ $workdir == /* ]] || { echo "vm-test: --workdir wants an absolute path, not $workdir" >&2; exit 2; }

program=$(realpath -s -- "$1")
shift
[ -f "$program" ] && [ -x "$program" ] || die "$program is not an executable file: build it first (cargo test --no-run)"

is_root() { [ "$(id -u)" -eq 0 ]; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'install ok installed' >/dev/null; }
candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p'; }

# apt_install [APT OPTIONS] PKG...: the need steps' installs, one line each.
apt_install() {
    is_root || die "missing ${*: -1}: run as root to install it, or: sudo apt-get install ${*: -1}"
    # Package lists can be absent on a fresh machine: update only then.
    local want=${*: -1}
    [ -n "$(candidate "${want%%=*}")" ] && [ "$(candidate "${want%%=*}")" != "(none)" ] ||
        apt-get update -q >/dev/null 2>&1 || true
    info "installing $* (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        >"$tmp/apt.log" 2>&1 || {
        tail -n 5 "$tmp/apt.log" >&2
        die "apt-get install $* failed (log above): install it by hand, then run again"
    }
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vm-test.XXXXXX")
qemu_pid=""
stream_pid=""
cleanup() {
    # Never leave qemu running: it is ours, by PID.
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -KILL "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    if [ -n "$stream_pid" ]; then
        kill "$stream_pid" 2>/dev/null || true
        wait "$stream_pid" 2>/dev/null || true
    fi
    if [ "${VMTEST_KEEP:-}" = 1 ]; then
        info "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- need: qemu, busybox ------------------------------------------------------

qemu="qemu-system-x86_64"
if ! command -v "$qemu" >/dev/null; then
    # Some images carry a backported qemu-utils (10.x) whose
    # "Breaks: qemu-system-common (<< 1:8.0)" rules out the distribution's
    # qemu-system-x86 (7.2 on Debian 12): pin qemu-utils to the version
    # qemu-system-x86 comes in (same source package), a downgrade.
    apt-get update -q >/dev/null 2>&1 || true
    want=$(candidate qemu-system-x86)
    [ -n "$want" ] && [ "$want" != "(none)" ] ||
        die "qemu-system-x86_64 is missing and apt knows no qemu-system-x86: install QEMU (apt-get install qemu-system-x86)"
    pin=()
    have_utils=$(dpkg-query -W -f='${Status} ${Version}' qemu-utils 2>/dev/null |
        sed -n 's/^install ok installed //p')
    if [ -n "$have_utils" ] && dpkg --compare-versions "$have_utils" gt "$want"; then
        pin=(--allow-downgrades "qemu-utils=$want")
    fi
    apt_install "${pin[@]}" qemu-system-x86
    command -v "$qemu" >/dev/null ||
        die "qemu-system-x86 is installed but $qemu is not on PATH: reinstall qemu-system-x86"
fi

# The host tools that build the initramfs.
command -v cpio >/dev/null || apt_install cpio
command -v readelf >/dev/null || apt_install binutils
command -v depmod >/dev/null || apt_install kmod

# A static busybox: the VM's /bin/sh, mount, insmod, ip, poweroff. Static, so
# it needs nothing else from the host.
busybox=/bin/busybox
elf_interp() { # prints the ELF interpreter (dynamic loader) of $1, if any
    local headers
    # Captured first: with pipefail, `readelf | grep -q` can fail on SIGPIPE.
    headers=$(LC_ALL=C readelf --program-headers --wide "$1" 2>/dev/null) || return 0
    sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p' <<<"$headers"
}
if ! pkg_installed busybox-static || [ ! -x "$busybox" ] || [ -n "$(elf_interp "$busybox")" ]; then
    apt_install busybox-static
fi

# --- the kernel and its modules ----------------------------------------------

target_dir=${CARGO_TARGET_DIR:-$repo/target}
kernel=""
modules_dir=""

# kernel_version PATH: from the file name vmlinuz-VERSION.
kernel_version() { local name=${1##*/}; [[ $name == vmlinuz-* ]] && echo "${name#vmlinuz-}"; }

# Debian's current kernel package, unpacked once into target/vm-test/ (no
# root needed: apt-get download + dpkg -x). The .deb has no modules.dep:
# depmod writes it, as the package's postinst would.
fetch_kernel() {
    local cache=$target_dir/vm-test/kernel pkg deb version
    if ! compgen -G "$cache/boot/vmlinuz-*" >/dev/null; then
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
            awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
        [ -n "$pkg" ] || die "no kernel in /boot and apt knows no linux-image-amd64: apt-get update, or set VMTEST_KERNEL=/path/to/vmlinuz"
        info "downloading $pkg (apt-get download) into $cache"
        (cd "$tmp" && apt-get download -q "$pkg" >"$tmp/download.log" 2>&1) ||
            die "apt-get download $pkg failed ($(tail -n1 "$tmp/download.log")): check the apt mirror, or set VMTEST_KERNEL"
        deb=$(compgen -G "$tmp/${pkg}_*.deb" | head -n1)
        rm -rf "$cache.partial"
        mkdir -p "$cache.partial"
        dpkg -x "$deb" "$cache.partial" || die "dpkg -x $deb failed: check the free space in $target_dir"
        version=$(kernel_version "$(compgen -G "$cache.partial/boot/vmlinuz-*" | head -n1)") ||
            die "$deb holds no boot/vmlinuz-*: set VMTEST_KERNEL=/path/to/vmlinuz"
        depmod -b "$cache.partial" "$version" || die "depmod -b $cache.partial $version failed: is kmod installed?"
        rm -rf "$cache"
        mv "$cache.partial" "$cache"
    fi
    kernel=$(compgen -G "$cache/boot/vmlinuz-*" | sort -V | tail -n1)
    modules_dir=$cache/lib/modules/$(kernel_version "$kernel")
}

if [ "${VMTEST_KERNEL:-}" = apt ]; then
    fetch_kernel
elif [ -n "${VMTEST_KERNEL:-}" ]; then
    kernel=$VMTEST_KERNEL
    [ -r "$kernel" ] || die "VMTEST_KERNEL=$kernel is not a readable file: point it at a bzImage"
    version=$(kernel_version "$kernel") || die "VMTEST_KERNEL=$kernel is not named vmlinuz-VERSION: name it so, to find its modules"
    modules_dir=$(dirname "$kernel")/../lib/modules/$version
    [ -e "$modules_dir/modules.dep" ] || modules_dir=/lib/modules/$version
else
    # The host's own kernels, newest first, that have their modules here:
    # the running kernel is often a different one (a VM host's own build).
    for candidate_kernel in $(compgen -G "/boot/vmlinuz-*" | sort -rV); do
        version=$(kernel_version "$candidate_kernel") || continue
        if [ -r "$candidate_kernel" ] && [ -e "/lib/modules/$version/modules.dep" ]; then
            kernel=$candidate_kernel
            modules_dir=/lib/modules/$version
            break
        fi
    done
    [ -n "$kernel" ] || fetch_kernel
fi
[ -e "$modules_dir/modules.dep" ] ||
    die "no modules.dep in $modules_dir for $kernel: install the kernel package properly, or set VMTEST_KERNEL"
kver=${modules_dir##*/}

# --- the initramfs -----------------------------------------------------------

root=$tmp/root
mkdir -p "$root"/{usr/bin,usr/sbin,etc,root,proc,sys,dev,tmp,run,var/tmp,newroot,vmtest/mnt}
# The host's merged-/usr links (/bin -> usr/bin, /lib64 -> usr/lib64...), so
# that every path names the same file as on the host.
for link in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$link" ]; then
        target=$(readlink "/$link")
        mkdir -p "$root/$target"
        ln -s "$target" "$root/$link"
    fi
done
mkdir -p "$root"/{bin,sbin}
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"

# The kernel opens /dev/console for init's stdin/out/err before init runs:
# without this node init starts with nothing (init.sh reopens it later).
# mknod needs root; as non-root the first lines of /init are lost.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

# What a libc or a test asks of /etc.
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
printf '127.0.0.1\tlocalhost vmtest\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
echo vmtest >"$root/etc/hostname"

cp "$busybox" "$root/bin/busybox"
install -m 0755 "$init_script" "$root/init"
# The applet links busybox --install -s would make, made here: in the VM it
# would need /proc mounted first (it reads /proc/self/exe). Never over a file
# PROGRAM or --file put in place.
add_applets() {
    local applet
    while IFS= read -r applet; do
        [ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    done < <("$busybox" --list-full)
}

# Shared libraries: ldd resolves them with the host's ld.so.cache; each is
# copied to the path ldd printed, and ldconfig -r writes the VM's cache.
declare -A libs=()
add_libraries() { # add_libraries ELF: the libraries and loader it needs
    local file=$1 out line lib
    [ -n "$(elf_interp "$file")" ] || return 0   # static (or not an executable)
    out=$(ldd "$file" 2>&1) || die "ldd $file failed: $out"
    while read -r line; do   # read -r strips ldd's leading tab
        case $line in
            *"=> not found"*) die "$file needs ${line%% =>*}, which is not installed here: install the library" ;;
            *"=> /"*) lib=${line#*=> }; lib=${lib%% (*} ;;
            /*) lib=${line%% (*} ;;                       # the dynamic loader
            *) continue ;;                                # linux-vdso.so.1
        esac
        libs[$lib]=1
    done <<<"$out"
}
is_elf() { [ "$(head -c 4 -- "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }

# place HOST VM: copy a file or a directory into the initramfs.
place() {
    local host=$1 vm=$2 file
    case $vm in
        /proc | /proc/* | /sys | /sys/* | /dev | /dev/*)
            die "cannot put $host at $vm: the VM mounts proc, sysfs and devtmpfs there; choose another path" ;;
        /*) ;;
        *) die "$vm: VM paths are absolute" ;;
    esac
    [ -e "$host" ] || die "$host does not exist: build it first, or fix the --file path"
    mkdir -p "$root$(dirname "$vm")"
    if [ -d "$host" ]; then
        mkdir -p "$root$vm"
        cp -a -- "$host"/. "$root$vm"/
        while IFS= read -r -d '' file; do
            is_elf "$file" && add_libraries "$file"
        done < <(find "$host" -type f -perm /111 -print0)
    else
        cp -L -- "$host" "$root$vm"
        is_elf "$host" && add_libraries "$host"
    fi
    return 0
}

place "$program" "$program"
for spec in "${files[@]}"; do
    host=${spec%%:*}
    if [ "$host" = "$spec" ]; then vm=$(realpath -s -- "$host"); else vm=${spec#*:}; fi
    place "$host" "$vm"
done
if [ ${#libs[@]} -gt 0 ]; then
    for lib in "${!libs[@]}"; do
        mkdir -p "$root$(dirname "$lib")"
        [ -e "$root$lib" ] || cp -L -- "$lib" "$root$lib"
        dirname "$lib"
    done | sort -u >"$root/etc/ld.so.conf"
    ldconfig -r "$root" 2>"$tmp/ldconfig.log" || die "ldconfig -r failed: $(head -n1 "$tmp/ldconfig.log")"
fi
add_applets

# Kernel modules, dependencies first. A modules.dep line is
# "kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko":
# the full closure, and modprobe loads it right to left. Built-in modules
# (modules.builtin) need nothing. busybox insmod reads plain ELF only, so
# .ko.xz/.ko.zst/.ko.gz are decompressed here.
declare -A loaded=()
module_order=()
module_path() { # module_path NAME: its modules.dep key ("-" and "_" are one)
    local want=${1//-/_}
    awk -F: -v want="$want" '{
        name = $1; sub(/.*\//, "", name); sub(/\.ko(\.(xz|zst|gz))?$/, "", name); gsub(/-/, "_", name)
        if (name == want) { print $1; exit }
    }' "$modules_dir/modules.dep"
}
add_module() {
    local name=$1 key deps i
    key=$(module_path "$name")
    if [ -z "$key" ]; then
        grep -q "/${name//-/[-_]}\.ko" "$modules_dir/modules.builtin" 2>/dev/null && return 0
        die "kernel $kver has no module $name (not in $modules_dir/modules.dep nor built in): drop --module $name or use another kernel"
    fi
    read -r -a deps <<<"$(awk -F': *' -v key="$key" '$1 == key { print $2; exit }' "$modules_dir/modules.dep")"
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
        [ -n "${loaded[${deps[i]}]:-}" ] || { loaded[${deps[i]}]=1; module_order+=("${deps[i]}"); }
    done
    [ -n "${loaded[$key]:-}" ] || { loaded[$key]=1; module_order+=("$key"); }
}
for module in "${MODULES[@]}" "${extra_modules[@]}"; do add_module "$module"; done
: >"$root/vmtest/modules"
for key in "${module_order[@]}"; do
    plain=/lib/modules/$kver/${key%.xz}
    plain=${plain%.zst}
    plain=${plain%.gz}
    mkdir -p "$root$(dirname "$plain")"
    case $key in
        *.xz) xz -dc "$modules_dir/$key" >"$root$plain" ;;
        *.zst) zstd -q -dc "$modules_dir/$key" >"$root$plain" ;;
        *.gz) gzip -dc "$modules_dir/$key" >"$root$plain" ;;
        *) cp "$modules_dir/$key" "$root$plain" ;;
    esac
    echo "$plain" >>"$root/vmtest/modules"
done

# sq WORD: WORD single-quoted for sh.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
echo "NONCE=$nonce" >"$root/vmtest/config"
{
    echo "mkdir -p $(sq "$workdir") && cd $(sq "$workdir") || exit $HARNESS_FAILED"
    # env -i: only what we say, not what the kernel passed to PID 1.
    printf 'exec env -i %s %s %s %s' "$(sq PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)" \
        "$(sq HOME=/root)" "$(sq TERM=dumb)" "$(sq RUST_BACKTRACE=1)"
    for kv in "${envs[@]}"; do printf ' %s' "$(sq "$kv")"; done
    printf ' %s' "$(sq "$program")"
    for arg in "$@"; do printf ' %s' "$(sq "$arg")"; done
    echo
} >"$root/vmtest/run.sh"

# newc is the only cpio format the kernel unpacks; -R 0:0 makes every file
# root's, whoever builds it. Not compressed: under TCG the kernel's own
# decompression is emulated and slower than loading the bytes.
initrd=$tmp/initrd.cpio
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --quiet -R 0:0) >"$initrd"

# --- boot ----------------------------------------------------------------------

# KVM when /dev/kvm opens read-write and a hardware backend (kvm_intel,
# kvm_amd) drives it. A nested "kvm_pvm" host (/sys/module/kvm_pvm) runs only
# PVM-patched guest kernels: a stock kernel hangs right after the BIOS.
# Otherwise TCG, qemu's software emulation (about 10x slower, but works
# anywhere).
accel=${VMTEST_ACCEL:-}
if [ -z "$accel" ]; then
    accel=tcg
    if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] &&
        { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; } &&
        [ ! -d /sys/module/kvm_pvm ]; then
        accel=kvm
    fi
fi
case $accel in kvm | tcg) ;; *) die "VMTEST_ACCEL=$accel: use kvm or tcg" ;; esac

console=$tmp/console.log
info "booting $kernel ($kver, $accel, $memory) with $(du -m "$initrd" | cut -f1) MiB of initramfs; timeout ${timeout}s"

# boot ACCEL: run the VM, stream its console to stdout, set $outcome
# (exit, panic, timeout, noboot, died) and $status.
boot() {
    local accel=$1 cpu=() start=$SECONDS seen_start=false seen_exit="" exit_line
    [ "$accel" = kvm ] && cpu=(-cpu host)
    : >"$console"
    # -nodefaults: no VGA, floppy, CD, NIC or default serial: less to emulate.
    # -nic none: no network device, so tests cannot reach past 127.0.0.0/8.
    # -serial file: the console (console=ttyS0) goes to a file we stream.
    # -no-reboot: a reboot exits qemu; with panic=-1 (reboot at once on a
    # panic) a kernel panic ends the run instead of looping or hanging.
    # -display none, -monitor none, stdin /dev/null: nothing interactive, so
    # qemu never touches the terminal.
    "$qemu" -accel "$accel" "${cpu[@]}" -m "$memory" -smp 2 \
        -nodefaults -no-user-config -display none -monitor none -nic none \
        -serial "file:$console" -no-reboot \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1" \
        </dev/null >"$tmp/qemu.out" 2>&1 &
    qemu_pid=$!
    # tail --pid ends once qemu has exited and the file is read to its end.
    tail -n +1 -s 0.1 -f --pid="$qemu_pid" "$console" | tr -d '\r' &
    stream_pid=$!

    outcome=""
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if ! $seen_start && grep -aq "VMTEST-START $nonce" "$console"; then
            seen_start=true
        fi
        if [ -z "$seen_exit" ] && tail -c 65536 "$console" | grep -aq "VMTEST-EXIT:[0-9]* $nonce"; then
            seen_exit=$SECONDS
        fi
        if [ -n "$seen_exit" ]; then
            # The marker is out: poweroff takes well under a second. Should
            # it not come, the run is still complete: end it ourselves.
            if ((SECONDS - seen_exit >= 10)); then
                kill -KILL "$qemu_pid" 2>/dev/null || true
                break
            fi
        elif [ "$accel" = kvm ] && ! $seen_start && ((SECONDS - start >= KVM_BOOT_LIMIT)); then
            outcome=noboot
        elif ((SECONDS - start >= timeout)); then
            outcome=timeout
        fi
        if [ -n "$outcome" ]; then
            kill -KILL "$qemu_pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=""
    wait "$stream_pid" 2>/dev/null || true
    stream_pid=""

    [ -z "$outcome" ] || return 0
    exit_line=$(grep -ao "VMTEST-EXIT:[0-9]* $nonce" "$console" | tail -n1 || true)
    if [ -n "$exit_line" ]; then
        outcome="exit"
        status=${exit_line#VMTEST-EXIT:}
        status=${status%% *}
    elif grep -aq "Kernel panic" "$console"; then
        outcome=panic
    else
        outcome=died
    fi
}

status=""
boot "$accel"
if [ "$outcome" = noboot ]; then
    info "no sign of /init after ${KVM_BOOT_LIMIT}s under KVM: booting again with TCG (VMTEST_ACCEL=tcg skips KVM)"
    boot tcg
fi
elapsed=$SECONDS
case $outcome in
    exit)
        info "${program##*/} exited with $status (${elapsed}s in all)"
        exit "$status" ;;
    timeout)
        if grep -aq "VMTEST-START $nonce" "$console"; then
            die "${program##*/} did not finish within ${timeout}s (qemu killed): it hangs, or needs a longer --timeout"
        fi
        die "the VM did not reach /init within ${timeout}s (qemu killed): see the console output above, or raise --timeout" ;;
    panic)
        die "kernel panic in the VM: $(grep -a -m1 'Kernel panic' "$console" | tr -d '\r'); see the console output above" ;;
    *)
        reason=$(tr -d '\r' <"$tmp/qemu.out" | grep -v '^$' | tail -n1 || true)
        die "qemu exited without the end marker${reason:+ ($reason)}: see the console output above" ;;
esac
