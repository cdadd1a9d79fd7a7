#!/usr/bin/env python3
"""README flag tables, from each binary's --help.

  tests/readme_flags.py --write BUILD   rewrites the tables between the markers in README.md
  tests/readme_flags.py --check BUILD   exits 1 if a table differs from --help (run by make test)

The markers are <!-- flags:NAME --> ... <!-- /flags:NAME --> with NAME one of proxy,
client, bench; a binary that is not built is skipped."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAG = re.compile(r"^\s+(?:-h, )?--(\[no-\])?([a-z0-9][a-z0-9._-]*)(?:=(.*))?$")


def bools_on(binary):
    """The boolean flags that default to true: --help shows a boolean as --[no-]name
    alone, as kingpin does; the man page (--help-man) says "Default: true." under it."""
    man = subprocess.run([binary, "--help-man"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    on = set()
    for i, line in enumerate(man):
        m = re.match(r"^\\fB\\-\\-\[no\\-\](.+?)\\fR$", line)
        if m and "Default: true." in man[i + 1:i + 3]:
            on.add(m.group(1).replace("\\-", "-"))
    return on


def table(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    on = bools_on(binary)
    lines = out.splitlines()
    rows = []
    for i, line in enumerate(lines):
        m = FLAG.match(line)
        if not m:
            continue
        negatable, name, default = m.groups()
        if name in ("help", "help-long", "help-man", "version"):  # the meta flags
            continue
        desc = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if default is None:
            default = ("true" if name in on else "false") if negatable else ""
        elif default == name.upper().replace("-", "-"):
            default = ""  # a placeholder such as TLS.CERT, not a default
        default = default.strip('"')
        desc = desc.replace("|", "\\|")
        rows.append(f"| `--{name}` | {'`' + default + '`' if default else ''} | {desc} |")
    return "\n".join(["| Flag | Default | Meaning |", "|---|---|---|"] + rows)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("--write", "--check"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, build = sys.argv[1], Path(sys.argv[2])
    readme = (ROOT / "README.md").read_text()
    new = readme
    for name in ("proxy", "client", "bench"):
        binary = build / f"pushprox-{name}"
        if not binary.exists():
            continue
        pat = re.compile(rf"(<!-- flags:{name} -->)(.*?)(<!-- /flags:{name} -->)", re.S)
        if not pat.search(new):
            print(f"README.md has no <!-- flags:{name} --> table", file=sys.stderr)
            return 1
        new = pat.sub(lambda m: m.group(1) + "\n" + table(str(binary)) + "\n" + m.group(3), new)
    if mode == "--write":
        (ROOT / "README.md").write_text(new)
        return 0
    if new != readme:
        print("README.md flag tables differ from --help; run: tests/readme_flags.py --write "
              f"{build}", file=sys.stderr)
        return 1
    print("README flag tables match --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
