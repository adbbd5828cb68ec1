#!/usr/bin/env python3
"""An independent implementation of SPEC.md's derivation, using only Python's standard library.

It prints the test vectors that SPEC.md lists between its `<!-- vectors:begin -->` and
`<!-- vectors:end -->` markers. `--check SPEC.md` exits non-zero if SPEC.md's copy differs,
so the vectors in the spec are always the ones this script computes; the crate's test
`tests/vectors.rs` checks the Rust implementation against the same text.
"""
import hashlib
import hmac
import sys

TAG = b"handover-code/v1"


def message(context: bytes, booking: bytes, generation: int, digits: int) -> bytes:
    assert 1 <= len(context) <= 64 and 1 <= len(booking) <= 128
    assert 0 <= generation < 2**32 and digits in (4, 5, 6)
    return (
        TAG
        + bytes([len(context)]) + context
        + bytes([len(booking)]) + booking
        + generation.to_bytes(4, "big")
        + bytes([digits])
    )


def code(key: bytes, context: bytes, booking: bytes, generation: int, digits: int):
    msg = message(context, booking, generation, digits)
    mac = hmac.new(key, msg, hashlib.sha256).digest()
    value = int.from_bytes(mac[:8], "big") % 10**digits
    return msg, mac, str(value).zfill(digits)


KEY_A = bytes(range(32))  # 00 01 02 .. 1f
KEY_B = hashlib.sha256(b"handover-code test key B").digest() * 2  # 64 bytes
KEY_C = bytes([0xAA]) * 100  # longer than a block: hashed first

VECTORS = [
    # (key, context, booking id, generation, digits, what it covers)
    (KEY_A, b"cowin/dose", b"SLOT-2021-000123", 0, 4, "CoWIN security code"),
    (KEY_A, b"cowin/dose", b"SLOT-2021-000123", 0, 5, "same booking, 5 digits"),
    (KEY_A, b"cowin/dose", b"SLOT-2021-000123", 0, 6, "same booking, 6 digits"),
    (KEY_A, b"cowin/dose", b"SLOT-2021-000123", 1, 4, "after one re-issue"),
    (KEY_A, b"post/parcel", b"EE123456789IN", 0, 6, "India Post delivery OTP"),
    (KEY_A, b"ride/start", b"ride-7f3a", 4294967295, 4, "largest generation"),
    (KEY_A, b"post/parcel", b"EE123456789IN", 2**31, 5, "generation 2^31"),
    (KEY_A, b"c", b"b", 0, 4, "shortest context and booking id"),
    (KEY_A, b"x" * 64, b"y" * 128, 7, 6, "longest context and booking id"),
    (KEY_A, "टीका/खुराक".encode(), "बुकिंग-१२३".encode(), 0, 4, "non-ASCII (Devanagari) fields"),
    (KEY_A, b"ctx\x00zero", b"\x00\x00\x01", 0, 6, "zero bytes inside fields"),
    (KEY_A, b"\xff\xfe", b"\x80\x00\xff", 3, 5, "non-UTF-8 bytes"),
    (KEY_B, b"cowin/dose", b"SLOT-2021-000123", 0, 4, "another key (64 bytes)"),
    (KEY_C, b"cowin/dose", b"SLOT-2021-000123", 0, 4, "a 100-byte key, hashed first"),
    (KEY_B, b"post/parcel", b"EE000000001IN", 12, 6, "another key, 6 digits"),
    (KEY_A, b"cowin/dose", b"SLOT-2021-000141", 0, 4, "a 4-digit code with two leading zeros"),
    (KEY_A, b"cowin/dose", b"SLOT-2021-000221", 0, 6, "a 6-digit code with two leading zeros"),
    (KEY_A, b"cowin/dose", b"ab", 0, 4, "booking 'ab' ..."),
    (KEY_A, b"cowin/dosea", b"b", 0, 4, "... and a byte moved from booking to context"),
]


def render() -> str:
    lines = []
    for i, (key, ctx, booking, gen, d, note) in enumerate(VECTORS, 1):
        msg, mac, c = code(key, ctx, booking, gen, d)
        lines += [
            f"# vector {i}: {note}",
            f"key        = {key.hex()}",
            f"context    = {ctx.hex()}",
            f"booking    = {booking.hex()}",
            f"generation = {gen}",
            f"digits     = {d}",
            f"message    = {msg.hex()}",
            f"mac        = {mac.hex()}",
            f"code       = {c}",
            "",
        ]
    return "```text\n" + "\n".join(lines).rstrip("\n") + "\n```\n"


def main() -> int:
    out = render()
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        spec = open(sys.argv[2], encoding="utf-8").read()
        begin, end = "<!-- vectors:begin -->\n", "<!-- vectors:end -->"
        start = spec.index(begin) + len(begin)
        if spec[start:spec.index(end)] != out:
            print("SPEC.md vectors differ from scripts/spec_vectors.py; regenerate them", file=sys.stderr)
            return 1
        print(f"SPEC.md: {len(VECTORS)} vectors match the independent implementation")
        return 0
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
