#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-gsd-man.py GSD TEMPLATE OUTPUT - gsd(8) from TEMPLATE, its OPTIONS
section made from the built gsd's --help, so the page lists exactly the
options gsd takes, with their current defaults."""
import os
import re
import subprocess
import sys

OPTION = re.compile(r"^  (-[^\s=]+)(?:[ =](\S.*?))?(?:\s{2,}(\S.*))?$")
CONTINUATION = re.compile(r"^ {20,}(\S.*)$")


def escape(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def options(gsd):
    env = dict(os.environ)
    env.pop("HA_GS_SOCKET", None)
    help_text = subprocess.run([gsd, "--help"], check=True, capture_output=True, text=True,
                               env=env).stdout
    found = []
    in_options = False
    for line in help_text.splitlines():
        if line.startswith("Options:"):
            in_options = True
            continue
        if not in_options or not line.strip():
            continue
        match = OPTION.match(line)
        if match:
            found.append([match.group(1), match.group(2) or "", match.group(3) or ""])
            continue
        match = CONTINUATION.match(line)
        if match and found:
            found[-1][2] = (found[-1][2] + " " + match.group(1)).strip()
            continue
        sys.exit(f"gen-gsd-man.py: cannot read this line of gsd --help: {line!r}")
    # The endpoint's default depends on the user who built the page; the
    # page describes the rule instead (ENDPOINT).
    for option in found:
        option[2] = re.sub(r"else ipc://\S+\)", "else the per-user default, see ENDPOINT)",
                           option[2])
    return found


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    gsd, template, output = argv[1:]
    lines = []
    for name, value, description in options(gsd):
        lines.append(".TP")
        head = f"\\fB{escape(name)}\\fP"
        if value:
            head += " " + escape(value)
        lines.append(head)
        lines.append(escape(description))
    text = open(template, encoding="utf-8").read()
    text = text.replace("@VERSION@", os.environ.get("HA_GS_VERSION", ""))
    text = text.replace("@OPTIONS@\n", "\n".join(lines) + "\n")
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
