#!/usr/bin/env python3
"""README's install lines (`cargo add ...` in its "## Install" block) as a newcomer would
run them, each crate taken from this checkout instead of crates.io: prints one
`cargo add -q CRATE --path DIR [FLAGS]` a crate, for a shell to run in a fresh project.

Fails (exit 1, saying why) where a line could not run as written: a crate that is not in
the workspace, a feature the crate does not have, or `--features` with several crates whose
features are not qualified (`crate/feature`), which cargo refuses.

Usage: python3 scripts/readme_installs.py REPO"""
import json, re, shlex, subprocess, sys

repo = sys.argv[1]
meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--no-deps", "--format-version", "1", "--manifest-path", f"{repo}/Cargo.toml"],
    check=True, capture_output=True, text=True).stdout)
crates = {p["name"]: (p["manifest_path"].rsplit("/", 1)[0], set(p["features"])) for p in meta["packages"]}

text = open(f"{repo}/README.md", encoding="utf-8").read()
block = re.search(r"## Install\n\n```sh\n(.*?)```", text, re.S).group(1)
failed = False
for line in block.splitlines():
    words = shlex.split(line.split("#", 1)[0])
    if words[:2] != ["cargo", "add"]:
        continue
    names, features, i = [], [], 2
    while i < len(words):
        if words[i] in ("--features", "-F"):
            features += words[i + 1].replace(",", " ").split()
            i += 2
        else:
            names.append(words[i])
            i += 1
    for name in names:
        if name not in crates:
            print(f"README: `{line.strip()}` names {name}, which is not a crate of the workspace", file=sys.stderr)
            failed = True
    if len(names) > 1 and any("/" not in f for f in features):
        print(f"README: `{line.strip()}` gives unqualified --features with several crates: cargo refuses it", file=sys.stderr)
        failed = True
        continue
    for name in names:
        if name not in crates:
            continue
        own = [f.split("/", 1)[-1] for f in features if len(names) == 1 or f.startswith(name + "/")]
        missing = [f for f in own if f not in crates[name][1]]
        if missing:
            print(f"README: `{line.strip()}`: {name} has no feature {', '.join(missing)}", file=sys.stderr)
            failed = True
            continue
        flags = f" --features {','.join(own)}" if own else ""
        print(f"cargo add -q {name} --path {crates[name][0]}{flags}")
sys.exit(1 if failed else 0)
