#!/bin/sh
# The wheel as a user gets it: libqmp installed into a temporary prefix (the
# build's `meson install --destdir`, its libqmp.pc pointed at that prefix),
# then, for /usr/bin/python3 and for the first python3 on PATH when it is
# another one, a fresh `python -m venv` in which
#     pip install --no-build-isolation --no-index bindings/python/wheel
# builds the wheel through meson-python and installs it; the asyncio example
# then runs from that venv against a real QEMU, without LD_LIBRARY_PATH.
#   test-wheel.sh BUILD_ROOT SOURCE_ROOT
#
# meson-python is Debian's python3-mesonpy (pure Python).  /usr/bin/python3's
# venv reaches it through PYTHONPATH during the build only; so does a
# Python that is not Debian's (pyenv...), which has no meson-python of its
# own: the build sees Debian's mesonpy, pyproject_metadata and packaging,
# and nothing else from /usr/lib/python3/dist-packages.
set -eu

build_root=$1
src_root=$2
qemu=${QEMU_SYSTEM:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || { echo "test-wheel: $qemu not found" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libqmp-wheel-XXXXXX")
qpid=""
cleanup() {
    [ -n "$qpid" ] && kill "$qpid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== meson install --destdir $tmp/dest"
meson install -C "$build_root" --no-rebuild --quiet --destdir "$tmp/dest" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"; echo "test-wheel: meson install failed" >&2; exit 1; }
pc=$(find "$tmp/dest" -name libqmp.pc | head -n 1)
[ -n "$pc" ] || { echo "test-wheel: no libqmp.pc installed" >&2; exit 1; }
# The temporary prefix: the .pc's prefix moved under the destdir.
mkdir "$tmp/pc"
sed "s|^prefix=|prefix=$tmp/dest|" "$pc" >"$tmp/pc/libqmp.pc"
PKG_CONFIG_PATH=$tmp/pc
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir libqmp)
version=$(pkg-config --modversion libqmp)
test -e "$libdir/libqmp.so.0" || { echo "test-wheel: no $libdir/libqmp.so.0" >&2; exit 1; }

# Debian's meson-python for the build, alone on PYTHONPATH.
dist=$(/usr/bin/python3 -c 'import mesonpy, os; print(os.path.dirname(os.path.dirname(mesonpy.__file__)))') || {
    echo "test-wheel: meson-python missing: apt-get install python3-mesonpy" >&2; exit 1; }
mkdir "$tmp/buildpath"
for m in mesonpy pyproject_metadata packaging; do
    ln -s "$dist/$m" "$tmp/buildpath/$m"
done

# A copy of what the wheel is made of (meson-python writes a file into the
# source directory: not into the repository's).
mkdir -p "$tmp/src/bindings/python"
cp "$src_root/bindings/qmp.i" "$tmp/src/bindings/"
cp -R "$src_root/bindings/python/libqmp" "$src_root/bindings/python/wheel" "$tmp/src/bindings/python/"
rm -f "$tmp/src/bindings/python/libqmp/meson.build"

# QEMU for the example.
sock=$tmp/qmp.sock
"$qemu" -M none -nodefaults -display none -qmp "unix:$sock,server=on,wait=off" \
    </dev/null >"$tmp/qemu.log" 2>&1 &
qpid=$!

pythons=/usr/bin/python3
first=$(command -v python3 || true)
if [ -n "$first" ]; then
    first_real=$("$first" -c 'import sys; print(sys.executable)')
    if [ "$("$first_real" -c 'import sys; print(sys.prefix)')" != "$(/usr/bin/python3 -c 'import sys; print(sys.prefix)')" ]; then
        pythons="$pythons $first_real"
    else
        echo "== the first python3 on PATH is /usr/bin/python3's installation: one venv"
    fi
fi

n=0
for py in $pythons; do
    n=$((n + 1))
    venv=$tmp/venv$n
    echo "== $py ($("$py" -c 'import sys; print(sys.version.split()[0])')): python -m venv $venv"
    "$py" -m venv "$venv"
    ( cd "$tmp/src/bindings/python/wheel" &&
      env -u LD_LIBRARY_PATH PYTHONPATH="$tmp/buildpath" PIP_NO_CACHE_DIR=1 \
          "$venv/bin/python" -m pip install --quiet --no-build-isolation --no-index . ) \
        >"$tmp/pip$n.log" 2>&1 || { cat "$tmp/pip$n.log"; echo "test-wheel: pip install failed for $py" >&2; exit 1; }
    # Run from elsewhere: the package must come from the venv.
    cd "$tmp"
    got=$(env -u LD_LIBRARY_PATH -u PYTHONPATH VIRTUAL_ENV_DIR="$venv" "$venv/bin/python" - <<'PY'
import importlib.metadata, os, libqmp, libqmp.aio, libqmp._libqmp_c as ext
pkg = os.path.dirname(libqmp.__file__)
assert pkg.startswith(os.environ["VIRTUAL_ENV_DIR"]), pkg
assert os.path.exists(os.path.join(pkg, "py.typed")), "no py.typed"
print(importlib.metadata.version("libqmp"), ext.__file__)
PY
    ) || exit 1
    echo "== installed: $got"
    [ "${got%% *}" = "$version" ] || { echo "test-wheel: wheel version ${got%% *} is not libqmp's $version" >&2; exit 1; }
    # The extension loads the prefix's libqmp, through its rpath.
    env -u LD_LIBRARY_PATH ldd "${got#* }" | grep 'libqmp\.so' | tee "$tmp/ldd$n"
    grep -q "$libdir/libqmp.so.0" "$tmp/ldd$n" || { echo "test-wheel: extension does not load $libdir/libqmp.so.0" >&2; exit 1; }
    env -u LD_LIBRARY_PATH -u PYTHONPATH "$venv/bin/python" "$src_root/bindings/python/examples/aio_status.py" "$sock" \
        >"$tmp/example$n.log" 2>&1 || { cat "$tmp/example$n.log"; echo "test-wheel: the example failed with $py" >&2; exit 1; }
    cat "$tmp/example$n.log"
    grep -q "^status: running" "$tmp/example$n.log"
    grep -q "^event: RESUME" "$tmp/example$n.log"
    grep -q "^refused: CommandNotFound" "$tmp/example$n.log"
done
echo "== ok: $n Python(s)"
