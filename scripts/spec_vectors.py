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
    assert 32 <= len(key) <= 256
    msg = message(context, booking, generation, digits)
    mac = hmac.new(key, msg, hashlib.sha256).digest()
    value = int.from_bytes(mac[:8], "big") % 10**digits
    return msg, mac, str(value).zfill(digits)


KEY_A = bytes(range(32))  # 00 01 02 .. 1f
KEY_B = hashlib.sha256(b"handover-code test key B").digest() * 2  # 64 bytes
KEY_C = bytes([0xAA]) * 100  # longer than a block: hashed first


def counting_key(n: int) -> bytes:
    """n bytes counting up from 00: 00 01 .. (n - 1)."""
    assert n <= 256
    return bytes(range(n))


COWIN, SLOT = b"cowin/dose", b"SLOT-2021-000123"
POST = b"post/parcel"
LONG_CONTEXT = (b"handover/" + b"abcdefghijklmnopqrstuvwxyz0123456789" * 2)[:64]
ISSUED = 1_623_000_000  # a generation as `issue` sets it: the issue time in seconds


def booking_for(context: bytes, message_len: int) -> bytes:
    """A booking id that makes the message exactly `message_len` bytes long."""
    n = message_len - len(TAG) - 1 - len(context) - 1 - 4 - 1
    booking = b"SLOT-2021-" + b"123".rjust(n - len(b"SLOT-2021-"), b"0")
    assert len(booking) == n
    return booking


# Message lengths at SHA-256's padding edges. The inner hash reads the 64-byte padded key,
# then the message, then the padding (0x80, zeros, the 8-byte length): it fits in the
# message's last partial block if that holds at most 55 bytes, takes one more block if it
# holds 56 to 63, and a block of its own after a message of a multiple of 64 bytes.
PADDING_EDGES = [
    (COWIN, 55), (COWIN, 56), (COWIN, 63), (COWIN, 64),
    (POST, 119), (POST, 120), (POST, 127), (POST, 128),
    (LONG_CONTEXT, 183), (LONG_CONTEXT, 184), (LONG_CONTEXT, 191), (LONG_CONTEXT, 192),
]

VECTORS = [
    # (key, context, booking id, generation, digits, what it covers)
    (KEY_A, COWIN, SLOT, 0, 4, "CoWIN security code"),
    (KEY_A, COWIN, SLOT, 0, 5, "same booking, 5 digits"),
    (KEY_A, COWIN, SLOT, 0, 6, "same booking, 6 digits"),
    (KEY_A, COWIN, SLOT, 1, 4, "after one re-issue"),
    (KEY_A, POST, b"EE123456789IN", 0, 6, "India Post delivery OTP"),
    (KEY_A, b"ride/start", b"ride-7f3a", 4294967295, 4, "largest generation"),
    (KEY_A, POST, b"EE123456789IN", 2**31, 5, "generation 2^31"),
    (KEY_A, b"c", b"b", 0, 4, "shortest context and booking id"),
    (KEY_A, b"x" * 64, b"y" * 128, 7, 6, "longest context and booking id"),
    (KEY_A, "टीका/खुराक".encode(), "बुकिंग-१२३".encode(), 0, 4, "non-ASCII (Devanagari) fields"),
    (KEY_A, b"ctx\x00zero", b"\x00\x00\x01", 0, 6, "zero bytes inside fields"),
    (KEY_A, b"\xff\xfe", b"\x80\x00\xff", 3, 5, "non-UTF-8 bytes"),
    (KEY_B, COWIN, SLOT, 0, 4, "another key (64 bytes)"),
    (KEY_C, COWIN, SLOT, 0, 4, "a 100-byte key, hashed first"),
    (KEY_B, POST, b"EE000000001IN", 12, 6, "another key, 6 digits"),
    (KEY_A, COWIN, b"SLOT-2021-000141", 0, 4, "a 4-digit code with two leading zeros"),
    (KEY_A, COWIN, b"SLOT-2021-000221", 0, 6, "a 6-digit code with two leading zeros"),
    (KEY_A, COWIN, b"ab", 0, 4, "booking 'ab' ..."),
    (KEY_A, b"cowin/dosea", b"b", 0, 4, "... and a byte moved from booking to context"),
]
VECTORS += [
    (KEY_A, ctx, booking_for(ctx, n), ISSUED + i, 4 + i % 3, f"a {n}-byte message")
    for i, (ctx, n) in enumerate(PADDING_EDGES)
]
VECTORS += [
    (counting_key(n), COWIN, SLOT, 0, 4, f"vector 1 with a {n}-byte key{note}")
    for n, note in [
        (33, ""),
        (63, ""),
        (65, ", hashed first"),
        (256, " (the longest), hashed first"),
    ]
]

# What the vectors promise, checked here so that an edit cannot drop it.
assert [len(message(*v[1:5])) for v in VECTORS[19:31]] == [n for _, n in PADDING_EDGES]
assert {len(v[0]) for v in VECTORS} >= {32, 33, 63, 64, 65, 100, 256}


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
