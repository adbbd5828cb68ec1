#!/usr/bin/env python3
"""Counts the crate's public types (structs, enums, unions, traits, type aliases) as a
user can name them, doc(hidden) ones included: rustdoc's JSON with hidden items, walked
from the crate root through public modules and re-exports.

Usage: python3 scripts/public_types.py [--list] [--max N] [--default-features]
Counts with every feature on unless --default-features (what `cargo add handover-code` gives).
Needs nightly (rustdoc JSON). Exits 1 when --max is given and the count is above it."""
import json, os, subprocess, sys

def main():
    args = sys.argv[1:]
    listing = "--list" in args
    limit = int(args[args.index("--max") + 1]) if "--max" in args else None
    default = "--default-features" in args
    features = [] if default else ["--all-features"]
    target = "target/public-types" + ("-default" if default else "")
    env = dict(os.environ, RUSTDOCFLAGS="-Z unstable-options --output-format json --document-hidden-items")
    subprocess.run(["cargo", "+nightly", "doc", "--no-deps", "--lib", *features, "-q",
                    "--target-dir", target], check=True, env=env)
    doc = json.load(open(target + "/doc/handover_code.json"))
    index = doc["index"]
    seen, found = set(), {}

    def walk(item_id, path):
        item = index.get(str(item_id))
        if item is None or item["crate_id"] != 0 or (item_id, path) in seen:
            return
        seen.add((item_id, path))
        inner = item["inner"]
        kind = next(iter(inner))
        if kind == "module":
            for child in inner["module"]["items"]:
                c = index.get(str(child))
                if c is None:
                    continue
                if c["visibility"] != "public":
                    continue
                name = c.get("name")
                ckind = next(iter(c["inner"]))
                if ckind == "use":
                    use = c["inner"]["use"]
                    target = use.get("id")
                    if target is None:
                        continue
                    if use.get("is_glob"):
                        walk(target, path)
                    else:
                        walk_named(target, path + "::" + use["name"])
                else:
                    walk_named(child, path + "::" + name)

    def walk_named(item_id, path):
        item = index.get(str(item_id))
        if item is None or item["crate_id"] != 0:
            return
        kind = next(iter(item["inner"]))
        if kind == "module":
            walk(item_id, path)
        elif kind in ("struct", "enum", "union", "trait", "type_alias"):
            found.setdefault(item_id, []).append(path)

    walk(doc["root"], "handover_code")
    paths = sorted(min(p, key=len) for p in found.values())
    if listing:
        print("\n".join(paths))
    print(f"{len(paths)} public types ({'default features' if default else 'all features'})")
    if limit is not None and len(paths) > limit:
        sys.exit(1)

main()
