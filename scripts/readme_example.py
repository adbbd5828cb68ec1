#!/usr/bin/env python3
"""Prints README's first Rust example as the `src/main.rs` of a fresh project: the code
block under "## The whole flow", its hidden `# ` lines shown, inside a `main` that returns
`Result<(), Box<dyn Error>>` as the doctest's last line says it does.

Usage: python3 scripts/readme_example.py README.md > src/main.rs"""
import re, sys

text = open(sys.argv[1], encoding="utf-8").read()
section = text[text.index("## The whole flow"):]
block = re.search(r"```rust\n(.*?)```", section, re.S).group(1)
lines = []
for line in block.splitlines():
    if line == "#" or line.startswith("# "):
        line = line[2:]
    lines.append(line)
last = lines.pop()
if last.strip() != "Ok::<(), Box<dyn std::error::Error>>(())":
    sys.exit(f"README's first example ends with {last!r}, not the doctest's Ok line")
uses = [l for l in lines if l.startswith("use ")]
body = [l for l in lines if not l.startswith("use ")]
print("\n".join(uses))
print("\nfn main() -> Result<(), Box<dyn std::error::Error>> {")
print("\n".join(("    " + l) if l else "" for l in body))
print('    println!("README\'s first example ran");')
print("    Ok(())\n}")
