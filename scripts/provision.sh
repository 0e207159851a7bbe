#!/usr/bin/env bash
# provision.sh [--test] — prepare a machine for the workshop: the Vagrant VM
# (Ubuntu 24.04), CI (Debian 12) or your own Debian/Ubuntu box.
#
#   sudo scripts/provision.sh          what the quickstart needs
#   sudo scripts/provision.sh --test   plus the real peers the tests talk to
#
# Safe to run again: every step checks first and prints one line. It never
# replaces or removes an existing Docker, and leaves no daemon enabled that was
# not enabled before.
set -euo pipefail

# Packages, one per line: adding one is adding a line.
BASE_PACKAGES=(
    build-essential   # cc and the linker rustc calls
    pkg-config
    busybox-static    # a static busybox: the offline `busybox` image
    iproute2          # ip: links, addresses, namespaces (network chapter)
    procps            # ps, the books' and tests' window on processes
    iptables          # NAT and port publishing (network chapter)
    curl
    ca-certificates
    git
    python3           # scripts/check-book.py, scripts/reset.sh
    socat             # the book's raw-HTTP experiments
    libseccomp-dev    # chapter 05: minirunc links libseccomp for seccomp filters
    jq                # chapter 05: editing config.json in the book and its transcripts
    openssl           # scripts/make-certs.sh: certificates for minidockerd over TLS
)
TEST_PACKAGES=(
    hyperfine         # scripts/bench.sh
    skopeo            # reads and writes what `ch02 save` and `load` exchange
    umoci             # unpacks our OCI layouts
    runc              # the reference OCI runtime: our bundles run under it
    crun              # the other reference runtime (chapter 05's benchmark)
)
# The Python docker SDK, the engine's other real client (final/tests/docker_py.rs).
# pip installs it into a venv of its own: Debian's pip refuses to install into
# the system Python (PEP 668, "externally-managed-environment").
DOCKER_PY_VENV=/opt/minidocker/docker-py
DOCKER_PY_REQUIREMENT='docker>=7,<8'
# The oldest Rust the workspace builds with (Cargo.toml: rust-version).
MIN_RUST=1.85

with_tests=false
case "${1:-}" in
    --test) with_tests=true ;;
    "") ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    echo "run it as root: sudo scripts/provision.sh${1:+ $1}" >&2
    exit 1
fi

# No debconf questions, and never let apt remove a package to make room for
# ours (for example containerd.io from docker-ce): fail instead.
export DEBIAN_FRONTEND=noninteractive
APT_INSTALL=(apt-get install -y -q --no-install-recommends --no-remove)

apt_updated=false
apt_update_once() {
    if ! $apt_updated; then
        echo "apt: updating package lists"
        apt-get update -q >/dev/null
        apt_updated=true
    fi
}

# grep reads to the end (no -q): with pipefail, a grep -q that quits at the
# first match can kill the writer with SIGPIPE and fail the pipeline.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'install ok installed' >/dev/null; }
available() { apt_update_once; apt-cache policy "$1" 2>/dev/null | grep 'Candidate: [^(]' >/dev/null; }

# apt_ensure PKG...: install the packages that are missing, in one apt call.
apt_ensure() {
    local missing=() pkg
    for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "apt: $* already installed"
        return
    fi
    apt_update_once
    echo "apt: installing ${missing[*]}"
    "${APT_INSTALL[@]}" "${missing[@]}" >/dev/null
}

# Rust, system-wide: toolchains in /usr/local/rustup, links in /usr/local/bin.
# Linking the toolchain's own binaries (not rustup's proxies) is what makes
# `sudo cargo` work for the VM's user: sudo resets the environment, and a proxy
# without RUSTUP_HOME would look for toolchains in /root/.rustup and find none.
install_rust() {
    export RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo
    local rustup
    if available rustup; then
        apt_ensure rustup                      # Ubuntu 24.04 and Debian 13 have it
        rustup=/usr/bin/rustup
    else
        # What https://sh.rustup.rs does, minus the shell script: fetch
        # rustup-init for this machine from the official host and run it.
        echo "rust: downloading rustup-init"
        # It must be called rustup-init: rustup picks its role from its name.
        local dir
        dir=$(mktemp -d)
        curl -sSf --proto '=https' --tlsv1.2 -o "$dir/rustup-init" \
            "https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init"
        chmod +x "$dir/rustup-init"
        "$dir/rustup-init" -y -q --no-modify-path --profile minimal --default-toolchain none >/dev/null
        rm -rf "$dir"
        rustup=$CARGO_HOME/bin/rustup
    fi
    echo "rust: installing the stable toolchain into $RUSTUP_HOME"
    "$rustup" -q toolchain install --no-self-update stable --profile minimal --component clippy,rustfmt >/dev/null
    "$rustup" -q default stable >/dev/null
    local exe
    for exe in "$(dirname "$("$rustup" which rustc)")"/*; do
        ln -sfn "$exe" /usr/local/bin/
    done
    # rustup itself does need to know where everything lives.
    printf '#!/bin/sh\nexport RUSTUP_HOME=%s CARGO_HOME=%s\nexec %s "$@"\n' \
        "$RUSTUP_HOME" "$CARGO_HOME" "$rustup" >/usr/local/bin/rustup
    chmod +x /usr/local/bin/rustup
    echo "rust: $(/usr/local/bin/cargo --version) in /usr/local/bin"
}

ensure_rust() {
    if ! command -v cargo >/dev/null; then
        install_rust
        return
    fi
    local version
    version=$(cargo --version | awk '{print $2}')
    if [ "$(printf '%s\n' "$MIN_RUST" "$version" | sort -V | head -n1)" = "$MIN_RUST" ]; then
        echo "rust: cargo $version already installed"
    else
        # A distro cargo (Ubuntu 24.04 ships 1.75) cannot build edition 2024.
        echo "rust: WARNING cargo $version is older than $MIN_RUST; remove the distro's cargo and rustc, then run this again"
    fi
}

ensure_mdbook() {
    if command -v mdbook >/dev/null; then
        echo "mdbook: $(mdbook --version) already installed"
        return
    fi
    # --root /usr/local: /usr/local/bin is on every user's PATH and on sudo's.
    echo "mdbook: building with cargo install (a few minutes)"
    cargo install --locked --quiet --root /usr/local mdbook
}

# The docker CLI, to drive our daemon. Only where there is no docker at all.
ensure_docker() {
    # Chapter 05 plugs minirunc into the real engine: dockerd is needed, and
    # a docker CLI alone does not count.
    if command -v dockerd >/dev/null; then
        echo "docker: $(dockerd --version) already installed"
        return
    fi
    # Debian 12 and Ubuntu 24.04 ship dockerd, containerd and a CLI in
    # docker.io. A policy-rc.d that exits 101 tells the package scripts "do
    # not start services"; then we disable what the packages enabled: the
    # tests start their own dockerd, isolated.
    local had_containerd=false own_policy=false
    command -v containerd >/dev/null && had_containerd=true
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        own_policy=true
    fi
    apt_ensure docker.io
    if $own_policy; then rm -f /usr/sbin/policy-rc.d; fi
    local units=(docker.service docker.socket)
    $had_containerd || units+=(containerd.service)
    if command -v systemctl >/dev/null; then
        # `disable` works on the unit files even where systemd is not running
        # (a container); stopping needs a running systemd.
        systemctl disable -q "${units[@]}" 2>/dev/null || true
        if [ -d /run/systemd/system ]; then systemctl stop "${units[@]}" 2>/dev/null || true; fi
    fi
    echo "docker: installed docker.io (dockerd, containerd, CLI); ${units[*]} left disabled"
}

# Vagrant, to check the Vagrantfile (`vagrant validate`). Not inside the
# workshop VM itself: a VM in a VM is not something we want to teach.
ensure_vagrant() {
    if [ -d /vagrant ] || { id vagrant >/dev/null 2>&1 && systemd-detect-virt -q --vm 2>/dev/null; }; then
        echo "vagrant: skipped (this is the Vagrant VM)"
    elif command -v vagrant >/dev/null; then
        echo "vagrant: $(vagrant --version) already installed"
    elif available vagrant; then
        apt_ensure vagrant
    else
        echo "vagrant: no apt package on this system; see https://developer.hashicorp.com/vagrant/install"
    fi
}

# The docker SDK in $DOCKER_PY_VENV. Checked by importing it: a venv left
# half-made (no network during pip) has a python but no docker package.
ensure_docker_py() {
    local python=$DOCKER_PY_VENV/bin/python version
    if version=$("$python" -c 'import docker; print(docker.__version__)' 2>/dev/null); then
        echo "docker-py: docker $version already in $DOCKER_PY_VENV"
        return
    fi
    # python3-venv brings ensurepip, without which `python3 -m venv` fails.
    apt_ensure python3-venv
    # Debian's /usr/bin/python3 by full path: a python3 earlier on PATH
    # (pyenv, a user's own build) may be gone tomorrow, and the venv with it.
    # --clear: start again from nothing if an earlier attempt left a broken venv.
    echo "docker-py: installing $DOCKER_PY_REQUIREMENT into $DOCKER_PY_VENV"
    mkdir -p "$(dirname "$DOCKER_PY_VENV")"
    /usr/bin/python3 -m venv --clear "$DOCKER_PY_VENV"
    "$python" -m pip install -q --disable-pip-version-check "$DOCKER_PY_REQUIREMENT" >/dev/null
    echo "docker-py: docker $("$python" -c 'import docker; print(docker.__version__)') in $DOCKER_PY_VENV"
}

# The group whose members may use /run/minidocker.sock (minidockerd makes
# the socket 0660, group minidocker), as the docker group does for Docker.
ensure_group() {
    if ! getent group minidocker >/dev/null; then
        groupadd --system minidocker
        echo "group: created minidocker"
    else
        echo "group: minidocker already exists"
    fi
    local user=${SUDO_USER:-}
    if [ -n "$user" ] && [ "$user" != root ] && ! id -nG "$user" | tr ' ' '\n' | grep -x minidocker >/dev/null; then
        usermod -aG minidocker "$user"
        echo "group: added $user to minidocker (log in again to use it)"
    fi
}

apt_ensure "${BASE_PACKAGES[@]}"
ensure_group
ensure_rust
ensure_mdbook
if $with_tests; then
    apt_ensure "${TEST_PACKAGES[@]}"
    ensure_docker
    ensure_docker_py
    ensure_vagrant
fi
echo "provision: done"
