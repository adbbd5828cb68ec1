#!/usr/bin/env bash
# Issue 23: a newcomer's first hour, in a fresh project. README's `cargo add` lines (pointed
# at this checkout instead of crates.io), README's first example as `src/main.rs`, built and
# run; then the axum service a newcomer writes first (tests/fresh/axum_service.rs: the
# service in `State`, `?` on constructors in a handler, a SQLite service moved into
# `spawn_blocking`), with the crates it names added the same way, built and run.
# Last, every install line of README's is checked and run (scripts/readme_installs.py).
# Usage: bash scripts/fresh_project.sh   (needs the crates.io registry for axum and tokio)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$repo/target/fresh-project"
cd "$work"
cargo new -q --vcs none newcomer
cd newcomer
add=$(grep -m1 '^cargo add handover-code' "$repo/README.md" | sed 's/ *#.*$//')
[ -n "$add" ] || { echo "README has no 'cargo add handover-code' line" >&2; exit 1; }
echo "+ $add   (from $repo)"
${add/cargo add handover-code/cargo add -q handover-code --path $repo}
python3 "$repo/scripts/readme_example.py" "$repo/README.md" > src/main.rs
cargo run -q

# The axum service uses SQLite, from its adapter crate, as README's install lines add it.
cargo add -q handover-code-sqlite --path "$repo/stores/sqlite"
cargo add -q axum@0.8
cargo add -q tokio@1 --features macros,rt-multi-thread
cp "$repo/tests/fresh/axum_service.rs" src/main.rs
cargo run -q

# Every install line of README's, each in a fresh project of its own, each crate from this
# checkout, after the checks cargo would make of the line as typed (scripts/readme_installs.py).
python3 "$repo/scripts/readme_installs.py" "$repo" "$work"
