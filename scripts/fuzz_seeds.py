#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from SPEC.md's vectors (the same tables
`spec_vectors.py` holds), in the byte layout the `arbitrary` crate reads them back from:

- `fuzz/seeds/normalize_input/`: each typed-input vector as (digit selector, text): one
  byte, 0/1/2 for 4/5/6 digits, then the text's UTF-8 (the last field takes the rest).
- `fuzz/seeds/encode_message/`: each derivation vector's (context, booking, generation,
  digit selector): the byte strings' lengths are read from the end of the input, one byte
  each for inputs up to 256 bytes (`Unstructured::arbitrary_byte_size`), the generation as
  four little-endian bytes.

`tests/fuzz_seeds.rs` decodes every seed with `arbitrary` and checks it is the vector it
was made from. `--check` fails if the files on disk differ from what this writes.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import spec_vectors as spec  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "fuzz", "seeds")
SELECTOR = {4: 0, 5: 1, 6: 2}


def typed_seeds():
    for i, (typed, digits, _answer, _note) in enumerate(spec.TYPED):
        yield f"typed-{i:03}", bytes([SELECTOR[digits]]) + typed.encode("utf-8")


def message_seeds():
    for i, (_key, context, booking, generation, digits, _note) in enumerate(spec.VECTORS):
        body = context + booking + generation.to_bytes(4, "little") + bytes([SELECTOR[digits]])
        total = len(body) + 2
        assert total <= 256, "lengths past one byte are not written here"
        # The booking's length is read second, from the data left after the context's:
        # the last byte but one; the context's from the very last byte.
        yield f"vector-{i + 1:02}", body + bytes([len(booking), len(context)])


def files():
    for target, seeds in (("normalize_input", typed_seeds()), ("encode_message", message_seeds())):
        for name, data in seeds:
            yield os.path.join(ROOT, target, name), data


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for path, data in files():
        if check:
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except FileNotFoundError:
                same = False
            if not same:
                stale.append(path)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
    if stale:
        print(f"{len(stale)} seed files differ; run scripts/fuzz_seeds.py", file=sys.stderr)
        return 1
    print("fuzz seeds match SPEC.md's vectors" if check else "fuzz seeds written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
