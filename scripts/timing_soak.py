#!/usr/bin/env python3
"""Runs CI's timing-leak step many times and counts its verdicts (issue 21's proof).

    python3 scripts/timing_soak.py --runs 50              # unchanged build, quiet machine
    python3 scripts/timing_soak.py --runs 50 --load       # a second process on the other core
    python3 scripts/timing_soak.py --runs 10 --leak early-exit

Builds `cargo bench --bench timing` once, then runs its binary with `--quick` (and
`--leak NAME`) `--runs` times. Prints how many runs exited 0 and 1 (anything else is a
crash and stops the soak), how many needed a second measurement, and the worst |t| of the
null pairs and of the real pairs. With `--load`, a busy loop runs on the other core for
the whole soak. Outside CI: 50 runs take about four minutes.
"""

import argparse
import re
import subprocess
import sys

LINE = re.compile(r"^  (?P<name>.+?): \|t\| = (?P<t>[0-9.]+) .*: (?P<verdict>ok|TOO NOISY|above the line.*)$")


def bench_binary():
    out = subprocess.run(
        ["cargo", "bench", "--bench", "timing", "--no-run", "--message-format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = re.findall(r'"executable":"([^"]+/timing-[^"]+)"', out)
    if not found:
        sys.exit("cargo did not name the timing bench's binary")
    return found[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--load", action="store_true", help="busy-loop the other core")
    parser.add_argument("--leak", help="early-exit, utf8-branch or search-tree")
    args = parser.parse_args()

    binary = bench_binary()
    command = [binary, "--quick"] + (["--leak", args.leak] if args.leak else [])
    load = None
    if args.load:
        load = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    exits = {0: 0, 1: 0}
    again = 0
    worst = {kind: (0.0, "") for kind in ("null", "real", "length")}
    caught = {}
    try:
        for run in range(args.runs):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode not in exits:
                print(done.stdout, done.stderr)
                sys.exit(f"run {run + 1} exited {done.returncode}: a crash, not a verdict")
            exits[done.returncode] += 1
            if done.returncode != 0 and not args.leak:
                print(done.stdout, done.stderr, flush=True)
            again += done.stdout.count("measuring again")
            for name in re.findall(r"^LEAK: (.+)$", done.stdout, re.M):
                caught[name] = caught.get(name, 0) + 1
            for line in done.stdout.splitlines():
                m = LINE.match(line)
                if not m:
                    continue
                kind = m["name"].split(":")[0].split(",")[0]
                kind = kind if kind in ("null", "length") else "real"
                t = float(m["t"])
                if t > worst[kind][0]:
                    worst[kind] = (t, m["name"])
            print(f"run {run + 1}: exit {done.returncode}", flush=True)
    finally:
        if load:
            load.kill()
    print(f"\n{' '.join(command[1:])}{' with load' if args.load else ''}: {args.runs} runs")
    print(f"  exit 0 (no leak): {exits[0]}; exit 1 (leak, or too noisy): {exits[1]}")
    print(f"  runs measured again (a pair or a null pair above its line): {again}")
    print(f"  worst null pair |t|: {worst['null'][0]:.2f} ({worst['null'][1]})")
    print(f"  worst real pair |t| in any run: {worst['real'][0]:.2f} ({worst['real'][1]})")
    print(f"  worst length pair |t| (reported, not judged): {worst['length'][0]:.2f}")
    for name, count in sorted(caught.items()):
        print(f"  judged LEAK in {count} of {args.runs} runs: {name}")


if __name__ == "__main__":
    main()
