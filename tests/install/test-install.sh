#!/bin/sh
# Installs the build into a temporary DESTDIR and builds consumer.c against
# it with only pkg-config, then runs it.
#   test-install.sh BUILD_ROOT SOURCE_DIR CC...
set -eu

# Under `meson test --setup=valgrind` the consumer runs under valgrind.
wrap=""
if [ "${LIBQMP_TEST_VALGRIND:-0}" = 1 ]; then
    wrap="$(dirname "$0")/../valgrind-wrap.sh"
fi

build_root=$1
src_dir=$2
shift 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libqmp-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest

echo "== meson install --destdir $dest"
meson install -C "$build_root" --no-rebuild --quiet --destdir "$dest" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"
    echo "install test: meson install failed" >&2
    exit 1
}

pc=$(find "$dest" -name libqmp.pc | head -n 1)
if [ -z "$pc" ]; then
    echo "install test: no libqmp.pc installed" >&2
    find "$dest" >&2
    exit 1
fi
pcdir=$(dirname "$pc")
echo "== $pc"
cat "$pc"

# The .pc names the real prefix: the sysroot maps its paths into the destdir.
PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
PKG_CONFIG_SYSROOT_DIR=$dest
# Keep -I/-L even for a /usr prefix: inside the sysroot they are not the system's.
PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS
cflags=$(pkg-config --cflags libqmp)
libs=$(pkg-config --libs libqmp)
echo "== cflags: $cflags"
echo "== libs: $libs"
case " $libs " in
    *" -L$dest"*) ;;
    *) echo "install test: pkg-config --libs does not point into the destdir" >&2; exit 1 ;;
esac

# shellcheck disable=SC2086 # word splitting of the flags is intended
"$@" -std=c99 -pedantic -Wall -Wextra -Werror -o "$tmp/consumer" \
    "$src_dir/consumer.c" $cflags $libs

libdir=$(pkg-config --variable=libdir libqmp)
case "$libdir" in
    "$dest"/*) ;;                 # some pkg-config versions add the sysroot
    *) libdir=$dest$libdir ;;
esac
echo "== run with LD_LIBRARY_PATH=$libdir"
# The runtime library must be the installed one, under its SONAME.
ls -l "$libdir"/libqmp.so*
test -e "$libdir/libqmp.so.0"
# In a sanitizer build the library needs the ASan runtime loaded first; the
# consumer, built plainly here, does not bring it, so preload it.
preload=$(ldd "$libdir/libqmp.so.0" | awk '/libasan/ { print $3 }')
LD_PRELOAD=$preload LD_LIBRARY_PATH=$libdir $wrap "$tmp/consumer"

# Every example builds out of tree, from the installed files and pkg-config alone.
examples_dir=$src_dir/../../examples
for ex in "$examples_dir"/*.c; do
    name=$(basename "$ex" .c)
    extra=""
    case "$name" in
        # GLib is the system's, outside the sysroot that maps libqmp's paths.
        async-glib) extra=$(env -u PKG_CONFIG_SYSROOT_DIR pkg-config --cflags --libs glib-2.0) ;;
        loop-libuv) extra=$(env -u PKG_CONFIG_SYSROOT_DIR pkg-config --cflags --libs libuv) ;;
        loop-libevent) extra=$(env -u PKG_CONFIG_SYSROOT_DIR pkg-config --cflags --libs libevent libevent_pthreads) ;;
    esac
    # shellcheck disable=SC2086 # word splitting of the flags is intended
    "$@" -std=gnu11 -Wall -Wextra -Werror -o "$tmp/$name" "$ex" \
        $(pkg-config --cflags --libs libqmp) $extra -pthread || {
        echo "install test: example $name does not build against the installed library" >&2
        exit 1
    }
    echo "== example $name builds out of tree"
done

# The man pages are installed: the overview, one per header, one per function, qmpctl(1).
mandir=$(find "$dest" -type d -name man3 | head -n 1)
for page in libqmp qmp-client qmp-command qmp-common qmp-json qmp-glib qmp-schema qmp-mock qmp-call qmp_call_cancel qmp_client_execute qmp_command_new qmp_client_schema_has qmp_mock_expect_str qmp_schema_validate_value; do
    test -f "$mandir/$page.3" || { echo "install test: no man page $page(3)" >&2; exit 1; }
done
test -f "$mandir/../man1/qmpctl.1" || { echo "install test: no man page qmpctl(1)" >&2; exit 1; }
echo "== man pages installed"
echo "== install test passed"
