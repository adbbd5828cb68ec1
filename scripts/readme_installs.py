#!/usr/bin/env python3
"""Runs README's install lines (`cargo add ...` in its "## Install" block) as a newcomer
would, each crate taken from this checkout instead of crates.io: each line in a fresh
project of its own under WORKDIR, so no line leans on one before it.

A line that names several crates cannot be given to cargo with `--path` as it stands, so
the crates are added one by one, after the checks cargo would make of the line as typed:
every crate is a crate of the workspace, every feature is its crate's, and `--features`
with several crates is qualified (`crate/feature`), which cargo otherwise refuses. A flag
the checks do not know fails the line rather than pass unread. Exits 1 with the reasons
where a line could not run as written, and when the block has no line at all.

Usage: python3 scripts/readme_installs.py REPO WORKDIR"""
import json, os, re, shlex, subprocess, sys

repo, work = sys.argv[1], sys.argv[2]
meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--no-deps", "--format-version", "1", "--manifest-path", f"{repo}/Cargo.toml"],
    check=True, capture_output=True, text=True).stdout)
crates = {p["name"]: (os.path.dirname(p["manifest_path"]), set(p["features"])) for p in meta["packages"]}

text = open(f"{repo}/README.md", encoding="utf-8").read()
found = re.search(r"## Install\n\n```sh\n(.*?)```", text, re.S)
if not found:
    sys.exit("README has no sh block under '## Install'")


def read(words):
    """The crates and features a `cargo add` line names, or why it cannot be read."""
    names, features, i = [], [], 0
    while i < len(words):
        w = words[i]
        if w in ("--features", "-F"):
            if i + 1 == len(words):
                return None, None, f"{w} with no value"
            features += words[i + 1].replace(",", " ").split()
            i += 2
            continue
        if w.startswith("--features="):
            features += w.split("=", 1)[1].replace(",", " ").split()
        elif w.startswith("-F") and len(w) > 2:
            features += w[2:].replace(",", " ").split()
        elif w.startswith("-"):
            return None, None, f"flag {w}, which this check does not read"
        else:
            names.append(w.split("@", 1)[0])
        i += 1
    return names, features, None


problems, lines = [], 0
for line in found.group(1).splitlines():
    words = shlex.split(line, comments=True)
    if words[:2] != ["cargo", "add"]:
        continue
    lines += 1
    typed = " ".join(words)
    names, features, why = read(words[2:])
    if why:
        problems.append(f"`{typed}`: {why}")
        continue
    wrong = [n for n in names if n not in crates]
    if wrong or not names:
        problems.append(f"`{typed}` names {', '.join(wrong) or 'no crate'}, not a crate of the workspace")
        continue
    own = {n: [] for n in names}
    for f in features:
        crate, _, feature = f.rpartition("/")
        if not crate and len(names) > 1:
            problems.append(f"`{typed}`: unqualified --features with several crates, which cargo refuses")
            break
        crate = crate or names[0]
        if crate not in own:
            problems.append(f"`{typed}`: feature {f} is for a crate the line does not add")
            break
        if feature not in crates[crate][1]:
            problems.append(f"`{typed}`: {crate} has no feature {feature}")
            break
        own[crate].append(feature)
    else:
        project = os.path.join(work, f"install-{lines}")
        subprocess.run(["cargo", "new", "-q", "--vcs", "none", project], check=True)
        for name in names:
            add = ["cargo", "add", "-q", name, "--path", crates[name][0]]
            if own[name]:
                add += ["--features", ",".join(own[name])]
            print("+", shlex.join(add))
            subprocess.run(add, check=True, cwd=project)
if lines == 0:
    problems.append("no `cargo add` line in README's Install block")
for p in problems:
    print("README:", p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"README's {lines} install lines each ran, as written, in a project of its own")
