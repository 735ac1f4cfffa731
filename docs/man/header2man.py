#!/usr/bin/env python3
"""Writes a section-3 man page from one public libqmp header.

The headers are the reference: every declaration is documented by the
comment above it (or beside it).  This turns such a header into roff:

  header2man.py include/qmp/qmp-client.h OUT.3 [--list]

With --list, prints the names of the functions the header declares instead
(meson uses it to install one stub page per function, pointing here).
"""
import re
import sys

API_RE = re.compile(r"QMP_API\s+[^;]*?\b(qmp_[a-z0-9_]+)\s*\(", re.S)


def roff_escape(line):
    line = line.replace("\\", "\\e")
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line


def split_items(text):
    """Yields (comment, code) pairs: a comment block and the code after it."""
    body = text
    # Drop the include guard and extern "C" scaffolding.
    body = re.sub(r"#ifndef QMP_[A-Z_]+_H\s*\n#define QMP_[A-Z_]+_H\s*\n", "", body)
    body = re.sub(r"#ifdef __cplusplus\s*\nextern \"C\" \{\s*\n#endif\s*\n", "", body)
    body = re.sub(r"#ifdef __cplusplus\s*\n\}\s*\n#endif\s*\n", "", body)
    body = re.sub(r"#endif /\* QMP_[A-Z_]+_H \*/\s*", "", body)
    items = []
    pos = 0
    comment = None
    for m in re.finditer(r"/\*.*?\*/", body, re.S):
        code = body[pos:m.start()].strip("\n")
        if code.strip() or comment is not None:
            items.append((comment, code))
        comment = m.group(0)
        pos = m.end()
    items.append((comment, body[pos:].strip("\n")))
    return items


def comment_text(c):
    if c is None:
        return []
    lines = c[2:-2].split("\n")
    out = []
    for l in lines:
        l = re.sub(r"^\s*\* ?", "", l) if l.strip().startswith("*") else l.strip()
        out.append(l.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def paragraph(w, lines):
    """Prose as filled text, two-space-indented lines as unfilled code."""
    in_code = False
    for l in lines:
        indented = l.startswith("  ")
        if indented and not in_code:
            w.append(".nf")
            in_code = True
        elif not indented and in_code and l.strip():
            w.append(".fi")
            in_code = False
        w.append(roff_escape(l) if (l.strip() or in_code) else ".PP")
    if in_code:
        w.append(".fi")


SECTION_RE = re.compile(r"^-+\s*(.*?)\s*-+$")


def render(header_path, out_path):
    text = open(header_path, encoding="utf-8").read()
    name = header_path.rsplit("/", 1)[-1]
    page = name[:-2]  # qmp-client
    items = split_items(text)
    first_comment = comment_text(items[0][0]) if items else []
    summary = first_comment[0].split(":", 1)[-1].strip() if first_comment else name
    w = []
    w.append('.TH %s 3 "" "libqmp" "libqmp Reference"' % page.upper())
    w.append(".SH NAME")
    w.append("%s \\- %s" % (page, roff_escape(summary)))
    w.append(".SH SYNOPSIS")
    w.append(".nf")
    w.append("#include <qmp/%s>" % name)
    w.append("")
    w.append("Link with \\fI$(pkg-config \\-\\-libs libqmp)\\fP.")
    w.append(".fi")
    w.append(".SH DESCRIPTION")
    paragraph(w, first_comment[1:])
    w.append(".SH REFERENCE")
    for comment, code in items[1:]:
        lines = comment_text(comment)
        code_lines = [c for c in code.split("\n") if not c.startswith("#include")]
        while code_lines and not code_lines[0].strip():
            code_lines.pop(0)
        if not lines and not any(c.strip() for c in code_lines):
            continue
        section = SECTION_RE.match(lines[0]) if len(lines) == 1 else None
        if section:
            w.append(".SS " + roff_escape(section.group(1).capitalize()))
            lines = []
        names = API_RE.findall(code)
        if names:
            w.append(".TP")
            w.append(".B " + ", ".join(names))
        if lines:
            w.append(".PP")
            paragraph(w, lines)
        if any(c.strip() for c in code_lines):
            w.append(".PP")
            w.append(".nf")
            w.append(".B")
            for c in code_lines:
                w.append(roff_escape(c.replace("QMP_API ", "")))
            w.append(".fi")
    w.append(".SH SEE ALSO")
    w.append("\\fBlibqmp\\fP(3)")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(w) + "\n")


def main():
    if len(sys.argv) == 3 and sys.argv[2] == "--list":
        text = open(sys.argv[1], encoding="utf-8").read()
        print("\n".join(sorted(set(API_RE.findall(text)))))
        return 0
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    render(sys.argv[1], sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
