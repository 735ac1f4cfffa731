#!/bin/sh
# Builds the gem: stages the gemspec, lib/libqmp.rb and lib/libqmp/mock.rb, extconf.rb, SWIG's
# wrapper (made by the build) and the version in a fresh directory and
# runs `gem build` there.
#   make-gem.sh OUTPUT.gem RUBY_SOURCE_DIR WRAPPER.c VERSION
set -eu

out=$1
src=$2
wrapper=$3
version=$4

stage=$(mktemp -d "${TMPDIR:-/tmp}/libqmp-gem-XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib/libqmp" "$stage/ext/libqmp_ext"
cp "$src/libqmp.gemspec" "$stage/"
cp "$src/lib/libqmp.rb" "$stage/lib/"
cp "$src/lib/libqmp/mock.rb" "$stage/lib/libqmp/"
cp "$src/ext/libqmp_ext/extconf.rb" "$stage/ext/libqmp_ext/"
cp "$wrapper" "$stage/ext/libqmp_ext/libqmp_ext_wrap.c"
printf '%s\n' "$version" >"$stage/VERSION"
case "$out" in
    /*) ;;
    *) out=$(pwd)/$out ;;
esac
(cd "$stage" && gem build --silent libqmp.gemspec --output "$out")
test -s "$out"
