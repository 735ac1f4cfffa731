#!/usr/bin/env bash
# Prepares a Debian 12 machine to build and test libqmp, then builds it.
#
#   scripts/setup.sh            install what is missing, configure build/, compile,
#                               then show qmpctl's demo against a private QEMU
#
# Idempotent: packages that are already installed are not asked for again (no
# apt at all when nothing is missing), and an existing build/ is reconfigured
# rather than recreated.  Needs root, or sudo, only when something must be
# installed.
set -euo pipefail

cd "$(dirname "$0")/.."

# Build: compilers, meson, and the libraries the code uses.
# qmpctl: libedit (BSD licensed) for its shell's line editing.
# Tests: CMocka (unit/client/interop), valgrind (the valgrind test setup),
# qemu-system-x86_64 and qemu-storage-daemon (the interop tests;
# qemu-storage-daemon is in qemu-system-common, a dependency of
# qemu-system-x86), qemu-utils (qemu-img, for images), python3 (scripts) and
# abigail-tools (abidiff: the ABI test against tests/abi/libqmp.abi).
# Bindings (bindings/): swig, python3-dev for the Python extension,
# python3-mesonpy, python3-venv and python3-pip for its wheel (pip install),
# ruby-dev for the Ruby one and golang-go for the Go one.
# Tracing: systemtap-sdt-dev for sys/sdt.h, the USDT probes (docs/tracing.md;
# the 'probes' suite expects them).
# Benchmarks (bench/, whose quick run is the 'bench' test suite): golang-go and
# golang-github-digitalocean-go-qemu-dev for the go-qemu peer.
PACKAGES=(
    meson ninja-build pkg-config gcc g++
    libjansson-dev libglib2.0-dev libcmocka-dev libedit-dev
    libuv1-dev libevent-dev
    valgrind qemu-system-x86 qemu-utils qemu-guest-agent python3
    abigail-tools systemtap-sdt-dev
    swig python3-dev ruby-dev
    python3-mesonpy python3-venv python3-pip
    golang-go golang-github-digitalocean-go-qemu-dev
)
BUILD_DIR=build
# The SWIG bindings built into build/ and tested (meson option -Dbindings):
# a comma-separated list; each language appends itself here.
BINDINGS=python,ruby,go

step=""
on_error() {
    echo "setup.sh: FAILED during: ${step}" >&2
}
trap on_error ERR

run_step() {
    step="$1"
    echo "==> ${step}"
}

missing_packages() {
    local p status
    for p in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        if [ "$status" != "install ok installed" ]; then
            printf '%s\n' "$p"
        fi
    done
}

run_step "checking Debian packages"
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "setup.sh: dpkg-query not found: this script expects Debian 12 (bookworm)" >&2
    false
fi
mapfile -t missing < <(missing_packages)

if [ "${#missing[@]}" -eq 0 ]; then
    echo "    all ${#PACKAGES[@]} packages are installed"
else
    echo "    missing: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        step="installing packages (not root and no sudo)"
        echo "setup.sh: run as root or install sudo to install: ${missing[*]}" >&2
        false
    fi
    run_step "apt-get update"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    run_step "apt-get install ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
    mapfile -t still_missing < <(missing_packages)
    if [ "${#still_missing[@]}" -ne 0 ]; then
        step="verifying the installed packages"
        echo "setup.sh: still not installed: ${still_missing[*]}" >&2
        false
    fi
fi

if [ -f "${BUILD_DIR}/meson-private/coredata.dat" ]; then
    run_step "meson setup --reconfigure ${BUILD_DIR} -Dbindings=${BINDINGS}"
    if ! meson setup --reconfigure "${BUILD_DIR}" -Dbindings="${BINDINGS}"; then
        # A build dir from another meson version, or a broken one.
        run_step "meson setup --wipe ${BUILD_DIR} -Dbindings=${BINDINGS}"
        meson setup --wipe "${BUILD_DIR}" -Dbindings="${BINDINGS}"
    fi
else
    run_step "meson setup ${BUILD_DIR} -Dbindings=${BINDINGS}"
    meson setup "${BUILD_DIR}" -Dbindings="${BINDINGS}"
fi

run_step "meson compile -C ${BUILD_DIR}"
meson compile -C "${BUILD_DIR}"

run_step "qmpctl --launch (the demo)"
"${BUILD_DIR}/tools/qmpctl/qmpctl" --launch

step=""
echo "==> setup done: built in ${BUILD_DIR}/; run scripts/test.sh to test"
