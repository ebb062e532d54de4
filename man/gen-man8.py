#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-man8.py PROGRAM TEMPLATE OUTPUT - a section 8 page from TEMPLATE, its
@OPTIONS@ made from the built PROGRAM's --help and its @COMMANDS@ from the
subcommands that --help lists (each with the options of its own --help), so
the page lists exactly what the program takes, with its current defaults.
Used for gsd(8) and gsctl(8)."""
import os
import re
import subprocess
import sys

OPTION = re.compile(r"^  (-[^\s=]+)(?:[ =](\S.*?))?(?:\s{2,}(\S.*))?$")
POSITIONAL = re.compile(r"^  ([A-Z][A-Z_]*)(?: (\S.*?))?(?:\s{2,}(\S.*))?$")
SUBCOMMAND = re.compile(r"^  ([a-z][a-z-]*)\s{2,}(\S.*)$")
CONTINUATION = re.compile(r"^ {20,}(\S.*)$")


def escape(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def help_sections(command):
    """The sections of COMMAND --help: heading -> [[name, value, text]]."""
    env = dict(os.environ)
    env.pop("HA_GS_SOCKET", None)
    text = subprocess.run(command + ["--help"], check=True, capture_output=True, text=True,
                          env=env).stdout
    sections = {}
    current = None
    for line in text.splitlines():
        if line in ("Options:", "Positionals:", "Subcommands:"):
            current = sections.setdefault(line[:-1], [])
            continue
        if current is None:
            continue
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = None  # the footer
            continue
        match = CONTINUATION.match(line)
        if match and current:
            current[-1][2] = (current[-1][2] + " " + match.group(1)).strip()
            continue
        for pattern in (OPTION, POSITIONAL):
            match = pattern.match(line)
            if match:
                current.append([match.group(1), match.group(2) or "", match.group(3) or ""])
                break
        else:
            match = SUBCOMMAND.match(line)
            if not match:
                sys.exit(f"gen-man8.py: cannot read this line of {' '.join(command)} --help: "
                         f"{line!r}")
            current.append([match.group(1), "", match.group(2)])
    # The endpoint's default depends on the user who built the page; the
    # page describes the rule instead (ENDPOINT).
    for entries in sections.values():
        for entry in entries:
            entry[2] = re.sub(r"else ipc://\S+\)", "else the per-user default, see ENDPOINT)",
                              entry[2])
    return sections


def tagged(entries, skip_help=False):
    lines = []
    for name, value, description in entries:
        if skip_help and name == "-h,--help":
            continue
        lines.append(".TP")
        head = f"\\fB{escape(name)}\\fP"
        if value and value != "REQUIRED":
            head += " " + escape(value.replace(" REQUIRED", ""))
        lines.append(head)
        lines.append(escape(description))
    return lines


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    program, template, output = argv[1:]
    sections = help_sections([program])
    commands = []
    for name, _, description in sections.get("Subcommands", []):
        own = help_sections([program, name])
        usage = " ".join(f"\\fI{escape(p[0])}\\fP" for p in own.get("Positionals", []))
        commands.append(".TP")
        commands.append(f"\\fB{escape(name)}\\fP" + (" " + usage if usage else ""))
        commands.append(escape(description))
        extra = tagged(own.get("Positionals", [])) + tagged(own.get("Options", []), True)
        if extra:
            commands.append(".RS")
            commands.extend(extra)
            commands.append(".RE")
    text = open(template, encoding="utf-8").read()
    text = text.replace("@VERSION@", os.environ.get("HA_GS_VERSION", ""))
    text = text.replace("@CONFIG_FILE@", escape(os.environ.get("HA_GS_CONFIG_FILE", "")))
    text = text.replace("@OPTIONS@\n", "\n".join(tagged(sections.get("Options", []))) + "\n")
    text = text.replace("@COMMANDS@\n", "\n".join(commands) + "\n")
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
