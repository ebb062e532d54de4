#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-man.py - man pages of the public API, made from the public headers.

The documentation of every exported function is the comment above its
prototype in include/ha_gs.h and include/cmm.h; this script turns those
comments into one section 3 page per function plus an overview page per
header (its leading comment and a list of its functions), so the pages
cannot say anything the headers do not.

  gen-man.py list HEADER...            page file names, one a line
  gen-man.py pages OUTDIR HEADER...    write the pages into OUTDIR

A header's overview is named after its library's pkg-config name given as
NAME=HEADER (ha_gs=include/ha_gs.h cmm=include/cmm.h).
"""
import os
import re
import sys

VERSION = os.environ.get("HA_GS_VERSION", "")
EXPORT = re.compile(r"^(?:HA_GS|CMM)_EXPORT\b")
FUNCTION = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(")
TITLED = re.compile(r"^([a-z_][a-z0-9_]*) - (.*)$")
SECTION_RULE = re.compile(r"^-+$")
# The overview pages, each naming the others in SEE ALSO.
OVERVIEWS = ["ha_gs", "cmm"]


def comment_lines(block):
    """The text of a /* ... */ block, one string per line, ' * ' removed."""
    lines = block.split("\n")
    out = []
    for line in lines:
        line = line.strip()
        if line.startswith("/*"):
            line = line[2:]
        if line.endswith("*/"):
            line = line[:-2]
        if line.startswith("* "):
            line = line[2:]
        elif line == "*":
            line = ""
        out.append(line.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def parse_header(path):
    """(overview lines, [entry]) where an entry is a dict with the names of
    the functions one comment documents, their prototypes and the comment."""
    text = open(path, encoding="utf-8").read()
    first = re.search(r"/\*.*?\*/", text, re.S)
    second = re.search(r"/\*.*?\*/", text[first.end():], re.S)
    overview = comment_lines(second.group(0)) if second else []
    entries = []
    comment = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("/*"):
            block = [lines[i]]
            while "*/" not in lines[i]:
                i += 1
                block.append(lines[i])
            comment = comment_lines("\n".join(block))
            i += 1
            continue
        if EXPORT.match(stripped):
            prototypes = []
            # Consecutive exported prototypes share the comment above them.
            while i < len(lines) and EXPORT.match(lines[i].strip()):
                proto = lines[i].strip()
                while not proto.rstrip().split("/*")[0].rstrip().endswith(";"):
                    i += 1
                    proto += " " + lines[i].strip()
                proto = re.sub(r"/\*.*?\*/", "", proto).strip()
                proto = EXPORT.sub("", proto).strip()
                proto = re.sub(r"\s+", " ", proto)
                prototypes.append(proto)
                i += 1
            names = [FUNCTION.search(p).group(1) for p in prototypes]
            if comment is None:
                sys.exit(f"{path}: {names[0]} has no comment to document it")
            entries.append({"names": names, "prototypes": prototypes, "comment": comment})
            comment = None
            continue
        if stripped and not stripped.startswith("#"):
            comment = None
        i += 1
    return overview, entries


def escape(text):
    """Plain text as roff: backslashes, and lines that would be requests."""
    text = text.replace("\\", "\\e")
    text = text.replace("-", "\\-")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


EMPHASIS = re.compile(r"\*([A-Za-z][A-Za-z-]*)\*")


def prose(text):
    """escape(), and *word* (the headers' emphasis) in italics."""
    return EMPHASIS.sub(r"\\fI\1\\fP", escape(text))


def render_body(lines):
    """Comment lines as man body: paragraphs filled, indented or columned
    ones (option lists, return codes) kept as they are; 'Title' over
    '-----' becomes a subsection."""
    out = []
    paragraphs = []
    current = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    for para in paragraphs:
        if len(para) >= 2 and SECTION_RULE.match(para[1].strip()):
            out.append(".SS " + escape(para[0].strip()))
            para = para[2:]
            if not para:
                continue
        laid_out = any(l.startswith(" ") or "   " in l for l in para)
        if laid_out:
            out.append(".PP")
            out.append(".nf")
            out.extend(escape(l) for l in para)
            out.append(".fi")
        else:
            out.append(".PP")
            out.extend(prose(l) for l in para)
    return out


def page_header(name, section, title, source, manual):
    # No date: pages built from the same headers are the same bytes.
    return [
        '.\\" Generated by man/gen-man.py from ' + source + "; edit the header, not this file.",
        f'.TH "{name.upper()}" "{section}" "" "ha_gs {VERSION}" "{manual}"',
        ".SH NAME",
        f"{escape(name)} \\- {escape(title)}",
    ]


def wrap_prototype(proto, width=78):
    """One parameter a line, aligned after the parenthesis, when too long."""
    if len(proto) <= width or "(" not in proto:
        return [proto]
    head, rest = proto.split("(", 1)
    params = rest.split(", ")
    indent = " " * (len(head) + 1)
    lines = [head + "(" + params[0] + ","]
    for param in params[1:-1]:
        lines.append(indent + param + ",")
    lines.append(indent + params[-1])
    return lines


def link_line(lib):
    line = f"Link with \\fI$(pkg\\-config \\-\\-libs {lib})\\fP"
    if lib == "ha_gs":
        line += (", or \\fI$(pkg\\-config \\-\\-libs ha_gs_r)\\fP for the thread\\-safe"
                 " library")
    return line + "."


def synopsis(include, lib, prototypes):
    out = [".SH SYNOPSIS", ".nf", f".B #include <{include}>", ".PP"]
    for proto in prototypes:
        out.extend(escape(line) for line in wrap_prototype(proto))
    out.append(".fi")
    out.append(".PP")
    out.append(link_line(lib))
    return out


def split_titles(comment):
    """({name: title}, body) of a comment that starts with "name - title."
    lines, one per function it documents; a title that does not end with a
    full stop goes on on the next line."""
    titles = {}
    current = None
    taken = 0
    for line in comment:
        titled = TITLED.match(line)
        if titled:
            current = titled.group(1)
            titles[current] = titled.group(2)
        elif current and line.strip() and not titles[current].endswith("."):
            titles[current] += " " + line.strip()
        else:
            break
        taken += 1
    return {n: t.rstrip(".") for n, t in titles.items()}, comment[taken:]


def function_page(entry, name, include, lib, overview, source, known):
    comment = entry["comment"]
    titles, body = split_titles(comment)
    if name in titles:
        title = titles[name]
    elif titles:
        title = next(iter(titles.values()))
    else:
        # One comment for several functions: its first sentence is the title.
        title = comment[0].split(":")[0].split(".")[0].strip()
        body = comment
    out = page_header(name, "3", title, source, "ha_gs Programmer's Manual")
    out += synopsis(include, lib, entry["prototypes"])
    out.append(".SH DESCRIPTION")
    out += render_body(body)
    others = [n for n in entry["names"] if n != name]
    # And the functions of the same header its text names.
    text = " ".join(comment)
    named = [n for n in known if n != name and n not in others and
             re.search(r"\b" + re.escape(n) + r"\b", text)]
    see = [f"{overview}(3)"] + [f"{n}(3)" for n in others + named]
    out.append(".SH SEE ALSO")
    out.append(", ".join(see))
    return "\n".join(out) + "\n"


def overview_page(name, include, lib, overview, entries, source):
    title = name
    body = overview
    if overview and " - " in overview[0]:
        title = overview[0].split(" - ", 1)[1]
        taken = 1
        while not title.endswith(".") and taken < len(overview) and overview[taken].strip():
            title += " " + overview[taken].strip()
            taken += 1
        title = title.rstrip(".")
        body = overview[taken:]
    out = page_header(name, "3", title, source, "ha_gs Programmer's Manual")
    out += [".SH SYNOPSIS", ".nf", f".B #include <{include}>", ".fi", ".PP",
            link_line(lib)]
    out.append(".SH DESCRIPTION")
    out += render_body(body)
    out.append(".SH FUNCTIONS")
    for entry in entries:
        comment = entry["comment"]
        titles, _ = split_titles(comment)
        for fn in entry["names"]:
            summary = titles.get(fn) or (next(iter(titles.values())) if titles
                                          else comment[0].split(":")[0])
            out.append(".TP")
            out.append(f".BR {fn} (3)")
            out.append(escape(summary))
    out.append(".SH SEE ALSO")
    see = ["gsd(8)", "gsctl(8)"] + [f"{o}(3)" for o in OVERVIEWS if o != name]
    if name == "cmm":
        see.append("cmm\\-nodes(5)")
    out.append(", ".join(see))
    return "\n".join(out) + "\n"


def pages(spec):
    """[(file name, text)] for NAME=HEADER."""
    name, header = spec.split("=", 1)
    include = os.path.basename(header)
    lib = {"ha_gs": "ha_gs", "cmm": "cgha_cmm"}.get(name, name)
    source = "include/" + include
    overview, entries = parse_header(header)
    result = [(f"{name}.3", overview_page(name, include, lib, overview, entries, source))]
    known = [fn for entry in entries for fn in entry["names"]]
    for entry in entries:
        for fn in entry["names"]:
            result.append((f"{fn}.3",
                           function_page(entry, fn, include, lib, name, source, known)))
    return result


def main(argv):
    if len(argv) >= 2 and argv[1] == "list":
        for spec in argv[2:]:
            for file_name, _ in pages(spec):
                print(file_name)
        return 0
    if len(argv) >= 3 and argv[1] == "pages":
        outdir = argv[2]
        os.makedirs(outdir, exist_ok=True)
        for spec in argv[3:]:
            for file_name, text in pages(spec):
                with open(os.path.join(outdir, file_name), "w", encoding="utf-8") as f:
                    f.write(text)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
