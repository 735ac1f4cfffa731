#!/usr/bin/python3
"""The exported symbols of libqmp.so are exactly the global section of
lib/libqmp.syms: every name listed is exported as a function (T, or W), and
nothing else is exported (the version node itself aside).

usage: check-symbols.py LIBQMP_SO LIBQMP_SYMS
"""
import re
import subprocess
import sys


def listed(syms_path):
    """Names in the global: parts of the version script (every node)."""
    text = re.sub(r"/\*.*?\*/", "", open(syms_path).read(), flags=re.S)
    text = re.sub(r"#[^\n]*", "", text)
    names = set()
    for node in re.finditer(r"global\s*:(.*?)(?:local\s*:|\})", text, flags=re.S):
        for item in node.group(1).split(";"):
            item = item.strip()
            if item:
                names.add(item)
    return names


def exported(so_path):
    out = subprocess.run(["nm", "-D", "--defined-only", so_path], check=True,
                         capture_output=True, text=True).stdout
    functions, others = set(), []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        kind, name = parts[-2], parts[-1]
        name = name.split("@")[0]
        if kind in ("T", "W"):
            functions.add(name)
        elif kind == "A":  # the version node (QMP_0.1)
            continue
        else:
            others.append("%s %s" % (kind, name))
    return functions, others


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    want = listed(sys.argv[2])
    have, others = exported(sys.argv[1])
    ok = True
    if not want:
        print("no names found in the global section of %s" % sys.argv[2])
        ok = False
    for name in sorted(want - have):
        print("listed in libqmp.syms but not exported as a function: %s" % name)
        ok = False
    for name in sorted(have - want):
        print("exported but not listed in libqmp.syms: %s" % name)
        ok = False
    for o in others:
        print("exported non-function symbol: %s" % o)
        ok = False
    print("%d symbols listed, %d exported" % (len(want), len(have)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
