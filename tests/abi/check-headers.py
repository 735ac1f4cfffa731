#!/usr/bin/python3
"""Every public header compiles alone: as C99 with -pedantic -Werror -Wall
-Wextra, and as C++17 with -pedantic -Werror -Wall -Wextra (included first
in a translation unit, so a missing #include or a C++-hostile construct
shows).

usage: check-headers.py --cc CC... --cxx CXX... --headers DIR... --include DIR...
(--headers: the folders whose *.h are tested, e.g. include/qmp and the build
tree's include/qmp with the generated qmp-version.h.)
(qmp-glib.h gets glib's cflags, every header jansson's, from pkg-config.)
"""
import os
import subprocess
import sys
import tempfile


def parse_args(argv):
    opts = {"--cc": [], "--cxx": [], "--headers": [], "--include": []}
    cur = None
    for a in argv:
        if a in opts:
            cur = a
        elif cur is None:
            sys.exit(__doc__)
        else:
            opts[cur].append(a)
    if not opts["--cc"] or not opts["--cxx"] or not opts["--headers"]:
        sys.exit(__doc__)
    return opts


def pkg_cflags(*pkgs):
    r = subprocess.run(["pkg-config", "--cflags"] + list(pkgs), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("pkg-config --cflags %s failed: %s" % (" ".join(pkgs), r.stderr))
    return r.stdout.split()


def main():
    opts = parse_args(sys.argv[1:])
    headers = sorted(set(h for d in opts["--headers"] for h in os.listdir(d) if h.endswith(".h")))
    incs = ["-I" + d for d in opts["--include"]]
    langs = [
        ("C99", opts["--cc"], ["-x", "c", "-std=c99"], ".c"),
        ("C++17", opts["--cxx"], ["-x", "c++", "-std=c++17"], ".cpp"),
    ]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for h in headers:
            cflags = pkg_cflags("jansson", "glib-2.0") if h == "qmp-glib.h" else pkg_cflags("jansson")
            for lang, compiler, lflags, ext in langs:
                src = os.path.join(tmp, "t" + ext)
                with open(src, "w") as f:
                    f.write("#include <qmp/%s>\n/* something, so the unit is not empty */\n"
                            "int qmp_header_compiles(void);\n" % h)
                cmd = compiler + lflags + ["-pedantic", "-Werror", "-Wall", "-Wextra", "-fsyntax-only"] \
                    + incs + cflags + [src]
                r = subprocess.run(cmd, capture_output=True, text=True)
                status = "ok" if r.returncode == 0 else "FAILED"
                print("%-14s %-6s %s" % (h, lang, status))
                if r.returncode != 0:
                    failed += 1
                    print("  " + " ".join(cmd))
                    print(r.stdout + r.stderr)
    print("%d headers, %d failures" % (len(headers), failed))
    sys.exit(1 if failed or not headers else 0)


if __name__ == "__main__":
    main()
