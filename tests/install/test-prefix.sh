#!/bin/sh
# Configures the source tree afresh with a temporary --prefix (and the
# bindings of the build under test) and checks meson's install plan: every
# file, the bindings' included, goes under that prefix, none into the
# system's directories (Ruby's site_ruby, Python's site-packages...).
# Configuring is enough: the plan is known before anything is built.
#   test-prefix.sh SOURCE_ROOT BINDINGS(comma-separated, may be empty)
set -eu

src_root=$1
bindings=$2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libqmp-prefix-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

echo "== meson setup --prefix=$prefix -Dbindings=$bindings"
# tests=false: the plan of the library, tools and bindings is what is checked.
meson setup "$tmp/build" "$src_root" --prefix="$prefix" -Dbindings="$bindings" -Dtests=false \
    >"$tmp/setup.log" 2>&1 || {
    cat "$tmp/setup.log"
    echo "prefix test: meson setup failed" >&2
    exit 1
}
meson introspect "$tmp/build" --installed >"$tmp/installed.json"
python3 - "$tmp/installed.json" "$prefix" "$bindings" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
prefix = sys.argv[2].rstrip("/") + "/"
outside = sorted(dest for dest in plan.values() if not dest.startswith(prefix))
print("== %d files planned" % len(plan))
for dest in outside:
    print("outside the prefix: " + dest, file=sys.stderr)
if outside:
    sys.exit("prefix test: %d of %d files would be installed outside %s" % (len(outside), len(plan), prefix))
# The plan is not vacuous: the library, and each binding asked for, is in it.
wanted = {"libqmp.so": "the library", "libqmp.rb": "ruby", "libqmp_ext.so": "ruby"}
for name, what in wanted.items():
    if what != "the library" and what not in sys.argv[3].split(","):
        continue
    if not any(dest.endswith("/" + name) for dest in plan.values()):
        sys.exit("prefix test: %s (%s) is not in the install plan" % (name, what))
print("== every file goes under " + prefix)
PY
