#!/usr/bin/env python3
"""Checks that code derivation on bare metal calls no division routine and runs no
division instruction.

Reads the assembly rustc emits for the library (`--emit asm`, one codegen unit), finds the
functions whose symbols match the roots (by default `derive::derive`), follows every call
and tail call to functions defined in the same file, and fails if any reached function
calls a software division routine (whose time depends on its operands: `__aeabi_uldivmod`
and kin) or contains a hardware divide (`udiv`/`sdiv`: early-terminating, so also
variable-time, on Cortex-M3/M4). Prints the call chain to each offence.

Usage: no_division.py FILE.s [ROOT_SUBSTRING ...]
"""
import re
import sys

DIVISION_ROUTINES = re.compile(
    r"^(__aeabi_(u?l?div(mod)?|u?idiv(mod)?)|__u?(div|mod|divmod)[sdt]i[34]|__udivmoddi4|__udivmodsi4)$"
)
DIVIDE_INSTRUCTION = re.compile(r"^\s+[us]div(\.w)?\s")
CALL = re.compile(r"^\s+(?:bl|blx|b|b\.w)\s+([A-Za-z_$][\w$.]*)\s*$")
LABEL = re.compile(r"^([A-Za-z_$][\w$.]*):")


def parse(path):
    """Function name -> (callees, divide instructions) for every function in the file."""
    functions = {}
    current = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            label = LABEL.match(line)
            if label and not label.group(1).startswith(".L"):
                current = label.group(1)
                functions.setdefault(current, (set(), []))
                continue
            if current is None:
                continue
            call = CALL.match(line)
            if call and not call.group(1).startswith(".L"):
                functions[current][0].add(call.group(1))
            if DIVIDE_INSTRUCTION.match(line):
                functions[current][1].append(line.strip())
    return functions


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = sys.argv[1]
    roots_wanted = sys.argv[2:] or ["6derive6derive"]
    functions = parse(path)
    roots = [name for name in functions if any(r in name for r in roots_wanted)]
    if not roots:
        print(f"no function matching {roots_wanted} in {path}", file=sys.stderr)
        return 1
    seen = {}
    queue = [(root, [root]) for root in roots]
    offences = []
    while queue:
        name, chain = queue.pop()
        if name in seen:
            continue
        seen[name] = chain
        callees, divides = functions.get(name, (set(), []))
        for instruction in divides:
            offences.append(" -> ".join(chain) + f": {instruction}")
        for callee in sorted(callees):
            if DIVISION_ROUTINES.match(callee):
                offences.append(" -> ".join(chain + [callee]))
            elif callee in functions:
                queue.append((callee, chain + [callee]))
    print(f"{path}: {len(seen)} functions reached from {len(roots)} root(s)")
    for offence in offences:
        print(f"division: {offence}")
    return 1 if offences else 0


if __name__ == "__main__":
    sys.exit(main())
