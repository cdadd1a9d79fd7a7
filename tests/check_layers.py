#!/usr/bin/env python3
"""check_layers.py - every file includes only files below it.

Each source directory declares its layers in a LAYERS file, top layer first, one layer per
line, the modules of a layer separated by spaces (a module is a .c file and its .h, named
without the extension). A module may include:
  - its own header;
  - a module of a strictly lower layer of its own directory;
  - a module of a directory below its own (DIRS, lowest first: common/ is below all);
and nothing else: not a module of its own layer, not one above, not an undeclared one.
Strict layering leaves no room for an include cycle. System headers (<...>) and the
generated flags.def are not modules.

Usage: tests/check_layers.py [ROOT]   (exit 0: clean; 1: violations, each printed)"""
import os
import re
import sys

# Directories, lowest first. common/ may include only itself; the programs may include
# common/ but never each other.
DIRS = ["common", "proxy", "client", "bench"]
BELOW = {"common": [], "proxy": ["common"], "client": ["common"], "bench": ["common"]}
NOT_MODULES = {"flags.def", "llhttp.h", "commit.h"}  # generated, or a dependency's
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_layers(path):
    layers = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                layers.append(line)
    # rank: 0 is the bottom layer
    rank = {}
    for i, layer in enumerate(reversed(layers)):
        for m in layer:
            if m in rank:
                raise SystemExit(f"{path}: module {m} declared twice")
            rank[m] = i
    return rank


def self_test():
    """The checker must catch what it is for: a fixture with a cycle, an include from
    above, an undeclared module and a cross-program include fails; a clean one passes."""
    import subprocess
    import tempfile
    me = os.path.abspath(__file__)
    with tempfile.TemporaryDirectory() as root:
        def put(path, text):
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        put("common/LAYERS", "buf\n")
        put("common/buf.h", "")
        put("proxy/LAYERS", "top\nmid\nlow\n")
        put("proxy/top.c", '#include "mid.h"\n#include "buf.h"\n')
        put("proxy/mid.h", '#include "low.h"\n')
        put("proxy/low.h", "")
        clean = subprocess.run([sys.executable, me, root], capture_output=True, text=True)
        put("proxy/low.c", '#include "low.h"\n#include "mid.h"\n')  # calls up: a cycle
        put("proxy/stray.c", "")                                   # undeclared
        put("client/LAYERS", "main\n")
        put("client/main.c", '#include "top.h"\n')                # another program's
        dirty = subprocess.run([sys.executable, me, root], capture_output=True, text=True)
    want = ["proxy/low.c: includes mid.h", "proxy/stray.c: module stray",
            "client/main.c: includes top.h"]
    ok = clean.returncode == 0 and dirty.returncode == 1 and all(w in dirty.stdout for w in want)
    print("layers self-test:", "passed" if ok else "FAILED\n" + clean.stdout + dirty.stdout)
    return 0 if ok else 1


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    ranks, errors = {}, []
    for d in DIRS:
        p = os.path.join(root, d, "LAYERS")
        if os.path.exists(p):
            ranks[d] = read_layers(p)
    for d, rank in ranks.items():
        files = sorted(f for f in os.listdir(os.path.join(root, d)) if f.endswith((".c", ".h")))
        for f in files:
            mod = f.rsplit(".", 1)[0]
            if mod not in rank:
                errors.append(f"{d}/{f}: module {mod} is not declared in {d}/LAYERS")
                continue
            with open(os.path.join(root, d, f)) as src:
                text = src.read()
            for inc in INCLUDE.findall(text):
                if inc in NOT_MODULES:
                    continue
                target = inc.rsplit(".", 1)[0]
                if target == mod:
                    continue
                if target in rank:
                    if rank[target] >= rank[mod]:
                        where = "its own layer" if rank[target] == rank[mod] else "a higher layer"
                        errors.append(f"{d}/{f}: includes {inc}, in {where} ({target} is not below {mod})")
                    continue
                lower = [b for b in BELOW[d] if os.path.exists(os.path.join(root, b, inc))]
                if not lower:
                    errors.append(f"{d}/{f}: includes {inc}, which is neither below it in {d}/LAYERS "
                                  f"nor in {', '.join(BELOW[d]) or 'a lower directory'}")
    for e in errors:
        print(e)
    print(f"layers: {len(ranks)} directories checked, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
