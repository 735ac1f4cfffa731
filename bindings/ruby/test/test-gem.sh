#!/bin/sh
# The gem as a Ruby user gets it: libqmp installed (meson install into a
# temporary DESTDIR, found through pkg-config), the gem built by the build
# (ruby-gem) installed offline with `gem install --local --install-dir`,
# then Ruby tests run against the installed gem alone: no build tree or
# source lib/ on the load path.
#   test-gem.sh BUILD_ROOT GEM RUBY_TEST_DIR TEST...
set -eu

build_root=$1
gem=$2
test_dir=$3
shift 3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libqmp-rbgem-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest

echo "== meson install --destdir $dest"
meson install -C "$build_root" --no-rebuild --quiet --destdir "$dest" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"
    echo "gem test: meson install failed" >&2
    exit 1
}
pc=$(find "$dest" -name libqmp.pc | head -n 1)
test -n "$pc" || { echo "gem test: no libqmp.pc installed" >&2; exit 1; }
# The .pc names the real prefix: the sysroot maps its paths into the destdir.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$dest
PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS
libdir=$(pkg-config --variable=libdir libqmp)
case "$libdir" in
    "$dest"/*) ;;                 # some pkg-config versions add the sysroot
    *) libdir=$dest$libdir ;;
esac

gems=$tmp/gems
echo "== gem install --local --install-dir $gems $(basename "$gem")"
# No network is needed: --local, and the gem depends on nothing.
gem install --local --no-document --install-dir "$gems" "$gem" >"$tmp/gem.log" 2>&1 || {
    cat "$tmp/gem.log"
    find "$gems" -name mkmf.log -exec cat {} \;
    echo "gem test: gem install failed" >&2
    exit 1
}
cat "$tmp/gem.log"

# Only the installed gem: RUBYLIB holds the tests' helper, nothing of libqmp.
GEM_HOME=$gems
GEM_PATH=$gems:$(env -u GEM_HOME -u GEM_PATH gem env gempath)
RUBYLIB=$test_dir
# The extension's run path names the real libdir, which is not where the
# destdir put the library.
LD_LIBRARY_PATH=$libdir
export GEM_HOME GEM_PATH RUBYLIB LD_LIBRARY_PATH

loaded=$(ruby -e 'require "libqmp"; puts $LOADED_FEATURES.grep(/libqmp/); puts LibQMP::VERSION')
echo "== loaded:"
echo "$loaded"
for f in libqmp.rb libqmp_ext.so; do
    echo "$loaded" | grep -q "^$gems/.*/$f\$" || {
        echo "gem test: $f was not loaded from the installed gem" >&2
        exit 1
    }
done

status=0
for t in "$@"; do
    echo "== $t against the installed gem"
    ruby "$test_dir/$t.rb" || status=1
done
exit $status
