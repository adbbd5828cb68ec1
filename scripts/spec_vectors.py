#!/usr/bin/env python3
"""An independent implementation of SPEC.md, using only Python's standard library.

It computes codes (SPEC.md's derivation) and reads typed input (SPEC.md's "Typed input"),
and generates every part of SPEC.md, README.md and docs/derivation.md that states what those do: the derivation
vectors, the table of characters read and dropped, the typed-input vectors, the figures for
wrong arithmetic, and README's summary of typed input. Each part sits between a
`<!-- NAME:begin -->` and a `<!-- NAME:end -->` marker.

    python3 scripts/spec_vectors.py                          print every part
    python3 scripts/spec_vectors.py --check SPEC.md README.md docs/derivation.md  exit 1 if a copy differs
    python3 scripts/spec_vectors.py --write SPEC.md README.md docs/derivation.md  rewrite the copies

So the text in the spec is always what this script computes; the crate's test
`tests/vectors.rs` checks the Rust implementation against the same text.
"""
import hashlib
import hmac
import math
import os
import sys
import textwrap
import unicodedata


def fill(text: str, indent: str = "") -> str:
    """Wraps a paragraph at 92 columns, never inside a hyphenated name."""
    return textwrap.fill(text, width=92, subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=False)


# ---------------------------------------------------------------------------------------------
# Derivation
# ---------------------------------------------------------------------------------------------

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


# Vector 1's key written as hex text: 64 ASCII bytes, a different key from vector 1's.
KEY_A_AS_HEX_TEXT = KEY_A.hex().encode("ascii")

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
VECTORS += [
    (KEY_A_AS_HEX_TEXT, COWIN, SLOT, 0, 4,
     "vector 1's key as hex text: 64 other bytes, another code"),
]

# What the vectors promise, checked here so that an edit cannot drop it.
assert [len(message(*v[1:5])) for v in VECTORS[19:31]] == [n for _, n in PADDING_EDGES]
assert {len(v[0]) for v in VECTORS} >= {32, 33, 63, 64, 65, 100, 256}


def render_vectors() -> str:
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


# ---------------------------------------------------------------------------------------------
# Arithmetic that implementations get wrong
# ---------------------------------------------------------------------------------------------


def signed(value: int) -> int:
    """The 64-bit pattern read as a two's-complement signed integer (Java's `long`)."""
    return value - 2**64 if value >= 2**63 else value


def java_format(r: int, d: int) -> str:
    """`String.format("%0" + d + "d", r)`: a minus sign for a negative remainder."""
    return ("-" + str(-r).zfill(d - 1)) if r < 0 else str(r).zfill(d)


def truncating_rem(a: int, m: int) -> int:
    """Java's and JavaScript's `%`: the sign of the dividend."""
    r = abs(a) % m
    return -r if a < 0 else r


MISTAKES = [
    (
        "a signed 64-bit `%`: Java `long`, C# `long`, JavaScript `getBigInt64` then `%`",
        lambda v, d: java_format(truncating_rem(signed(v), 10**d), d),
    ),
    (
        "a signed 64-bit `Math.floorMod`: no minus sign, still the wrong code",
        lambda v, d: str(signed(v) % 10**d).zfill(d),
    ),
    (
        "a JavaScript number (a double): `Number(...)`, `parseInt(hex, 16)`",
        lambda v, d: str(int(math.fmod(float(v), 10**d))).zfill(d),
    ),
]


def wrong_vectors(mistake) -> list:
    wrong = []
    for i, (key, ctx, booking, gen, d, _) in enumerate(VECTORS, 1):
        _, mac, right = code(key, ctx, booking, gen, d)
        if mistake(int.from_bytes(mac[:8], "big"), d) != right:
            wrong.append(i)
    return wrong


def render_arithmetic() -> str:
    high = [
        i for i, v in enumerate(VECTORS, 1) if code(*v[:5])[1][0] >= 0x80
    ]
    rows = [
        "| reducing the first 8 MAC bytes with | wrong codes, vectors 1 to 19 "
        f"| wrong codes, all {len(VECTORS)} vectors |",
        "|---|---|---|",
        "| unsigned 64-bit arithmetic, as specified | 0 | 0 |",
    ]
    for what, mistake in MISTAKES:
        wrong = wrong_vectors(mistake)
        rows.append(f"| {what} | {len([i for i in wrong if i <= 19])} | {len(wrong)} |")
    assert wrong_vectors(MISTAKES[0][1]) == high, "a signed % is wrong exactly on the high MACs"
    first19 = len([i for i in high if i <= 19])
    text = "\n".join(rows) + "\n\n" + fill(
        f"A signed `%` gets wrong exactly the vectors whose MAC starts with a byte of 0x80 or "
        f"more ({first19} of the first 19 and {len(high)} of all {len(VECTORS)}: vectors "
        + ", ".join(str(i) for i in high)
        + "): about half of all MACs."
    ) + "\n"
    return text


def render_key_text() -> str:
    n = next(i for i, v in enumerate(VECTORS, 1) if v[0] == KEY_A_AS_HEX_TEXT)
    first = code(KEY_A, COWIN, SLOT, 0, 4)[2]
    assert VECTORS[0][:5] == (KEY_A, COWIN, SLOT, 0, 4)
    wrong = code(KEY_A_AS_HEX_TEXT, COWIN, SLOT, 0, 4)[2]
    assert wrong != first
    text = KEY_A_AS_HEX_TEXT
    return fill(
        f"Vector {n} shows the difference. Vector 1's key is the {len(KEY_A)} bytes "
        f"`{KEY_A[:3].hex(' ')} … {KEY_A[-1:].hex()}`; written as hex text it is the "
        f"{len(text)} ASCII bytes `{text[:6].hex(' ')} … {text[-2:].hex(' ')}` "
        f"(`{text[:6].decode()}…{text[-2:].decode()}`). With the bytes, vector 1's booking gets "
        f"the code `{first}`; with the text, `{wrong}`."
    ) + "\n"


# ---------------------------------------------------------------------------------------------
# Typed input
# ---------------------------------------------------------------------------------------------

MAX_INPUT_LEN = 64  # UTF-8 bytes

# Every script whose digits are read: (script, code point of its digit zero, its Unicode name).
# Its digits are the ten code points from its zero, valued 0 to 9.
SCRIPTS = [
    ("ASCII", 0x0030, "DIGIT ZERO"),
    ("Arabic-Indic", 0x0660, "ARABIC-INDIC DIGIT ZERO"),
    ("Extended Arabic-Indic", 0x06F0, "EXTENDED ARABIC-INDIC DIGIT ZERO"),
    ("Devanagari", 0x0966, "DEVANAGARI DIGIT ZERO"),
    ("Bengali", 0x09E6, "BENGALI DIGIT ZERO"),
    ("Gurmukhi", 0x0A66, "GURMUKHI DIGIT ZERO"),
    ("Gujarati", 0x0AE6, "GUJARATI DIGIT ZERO"),
    ("Odia", 0x0B66, "ORIYA DIGIT ZERO"),
    ("Tamil", 0x0BE6, "TAMIL DIGIT ZERO"),
    ("Telugu", 0x0C66, "TELUGU DIGIT ZERO"),
    ("Kannada", 0x0CE6, "KANNADA DIGIT ZERO"),
    ("Malayalam", 0x0D66, "MALAYALAM DIGIT ZERO"),
    ("Full-width", 0xFF10, "FULLWIDTH DIGIT ZERO"),
]

# Every character dropped: (code point, Unicode name).
DROPPED = [
    (0x0020, "SPACE"),
    (0x00A0, "NO-BREAK SPACE"),
    (0x2007, "FIGURE SPACE"),
    (0x202F, "NARROW NO-BREAK SPACE"),
    (0x3000, "IDEOGRAPHIC SPACE"),
    (0x002D, "HYPHEN-MINUS"),
    (0x2010, "HYPHEN"),
    (0x2011, "NON-BREAKING HYPHEN"),
    (0x2012, "FIGURE DASH"),
    (0x2013, "EN DASH"),
    (0x2014, "EM DASH"),
    (0x2212, "MINUS SIGN"),
    (0xFE63, "SMALL HYPHEN-MINUS"),
    (0xFF0D, "FULLWIDTH HYPHEN-MINUS"),
]

# Characters a person might type that are *not* dropped: each is NotADigit.
NOT_DROPPED = [
    (0x2015, "HORIZONTAL BAR"),
    (0xFE58, "SMALL EM DASH"),
    (0x2E3A, "TWO-EM DASH"),
    (0x058A, "ARMENIAN HYPHEN"),
    (0x00AD, "SOFT HYPHEN"),
    (0x2043, "HYPHEN BULLET"),
    (0x2796, "HEAVY MINUS SIGN"),
    (0x2009, "THIN SPACE"),
    (0x2002, "EN SPACE"),
    (0x2003, "EM SPACE"),
    (0x200A, "HAIR SPACE"),
    (0x205F, "MEDIUM MATHEMATICAL SPACE"),
    (0x200B, "ZERO WIDTH SPACE"),
    (0xFEFF, "ZERO WIDTH NO-BREAK SPACE"),
    (0x200F, "RIGHT-TO-LEFT MARK"),
    (0x061C, "ARABIC LETTER MARK"),
    (0x066C, "ARABIC THOUSANDS SEPARATOR"),
    (0x0009, "CHARACTER TABULATION"),
    (0x000A, "LINE FEED"),
    (0x000D, "CARRIAGE RETURN"),
    (0x002E, "FULL STOP"),
    (0x002C, "COMMA"),
    (0x005F, "LOW LINE"),
    (0x002B, "PLUS SIGN"),
]

# Decimal digits of scripts that are *not* read: (zero, Unicode name of the zero).
NOT_READ = [
    (0x0E50, "THAI DIGIT ZERO"),
    (0x0ED0, "LAO DIGIT ZERO"),
    (0x0F20, "TIBETAN DIGIT ZERO"),
    (0x1040, "MYANMAR DIGIT ZERO"),
    (0x17E0, "KHMER DIGIT ZERO"),
    (0x0DE6, "SINHALA LITH DIGIT ZERO"),
    (0x1C50, "OL CHIKI DIGIT ZERO"),
    (0x1D7CE, "MATHEMATICAL BOLD DIGIT ZERO"),
]

# The tables agree with the Unicode character database (names never change once assigned).
CONTROL_NAMES = {0x0009: "CHARACTER TABULATION", 0x000A: "LINE FEED", 0x000D: "CARRIAGE RETURN"}
for _, zero, name in SCRIPTS + [(None, z, n) for z, n in NOT_READ]:
    assert unicodedata.name(chr(zero)) == name, name
    assert [unicodedata.decimal(chr(zero + v)) for v in range(10)] == list(range(10)), name
for cp, name in DROPPED + NOT_DROPPED:
    assert CONTROL_NAMES.get(cp) or unicodedata.name(chr(cp)) == name, name
    assert unicodedata.decimal(chr(cp), None) is None
assert not {cp for cp, _ in DROPPED} & {cp for cp, _ in NOT_DROPPED}

DROPPED_SET = {cp for cp, _ in DROPPED}


def digit_value(point: int):
    """The value of a digit of a script that is read, else None."""
    for _, zero, _ in SCRIPTS:
        if zero <= point <= zero + 9:
            return point - zero
    return None


def read_typed(typed: str, digits: int) -> str:
    """SPEC.md's "Typed input": the code as ASCII digits, or the name of the error."""
    assert digits in (4, 5, 6)
    if len(typed.encode("utf-8")) > MAX_INPUT_LEN:
        return "TooLong"
    read = ""
    for ch in typed:
        if ord(ch) in DROPPED_SET:
            continue
        value = digit_value(ord(ch))
        if value is None:
            return "NotADigit"
        if len(read) == digits:
            return "WrongLength"
        read += str(value)
    if not read:
        return "Empty"
    if len(read) < digits:
        return "WrongLength"
    return read


def in_script(zero: int, ascii_digits: str) -> str:
    return "".join(chr(zero + int(c)) for c in ascii_digits)


def script_zero(name: str) -> int:
    return next(z for s, z, _ in SCRIPTS if s == name)


def cp(c: int) -> str:
    return f"U+{c:04X}"


IDEO = "\u3000"  # IDEOGRAPHIC SPACE: dropped, 3 bytes of UTF-8
DEV, ARABIC, EXT = script_zero("Devanagari"), script_zero("Arabic-Indic"), script_zero(
    "Extended Arabic-Indic")

# (typed, digit count, the answer SPEC.md's rules give, what the vector shows)
TYPED = []
for script, zero, _ in SCRIPTS:
    TYPED += [
        (in_script(zero, "012345"), 6, "012345", f"{script} digits 0 to 5"),
        (in_script(zero, "6789"), 4, "6789", f"{script} digits 6 to 9"),
    ]
for c, name in DROPPED:
    TYPED.append((f"04{chr(c)}27", 4, "0427", f"{cp(c)} {name}: dropped"))
TYPED += [
    (" 0427-", 4, "0427", "dropped characters before and after the digits"),
    ("04 - 27", 4, "0427", "several dropped characters in a row"),
    ("\u00a0\u20140\u3000\u22124\u20102\u2011\u20127\u2013", 4, "0427",
     "a different dropped character between every two digits"),
    ("0" + in_script(ARABIC, "4") + in_script(DEV, "2") + in_script(EXT, "7"), 4, "0427",
     "mixed scripts: ASCII, Arabic-Indic, Devanagari, Extended Arabic-Indic"),
    ("".join(chr(script_zero(s) + v) for s, v in [
        ("Full-width", 1), ("Bengali", 2), ("Tamil", 3), ("Gujarati", 4), ("Malayalam", 5),
        ("Odia", 6)]), 6, "123456", "mixed scripts: six digits, six scripts"),
    ("12345", 5, "12345", "five digits for a 5-digit code"),
    ("12345", 4, "WrongLength", "... one too many for a 4-digit code"),
    ("12345", 6, "WrongLength", "... one too few for a 6-digit code"),
    ("", 4, "Empty", "nothing typed"),
    (" -\u00a0\u2014\u3000", 4, "Empty", "only dropped characters"),
    ("123", 4, "WrongLength", "too few digits"),
    ("0427", 6, "WrongLength", "a 4-digit code typed for a 6-digit booking"),
    ("123456", 4, "WrongLength", "a 6-digit code typed for a 4-digit booking"),
    ("04a7", 4, "NotADigit", "a letter"),
    ("O427", 4, "NotADigit", "a capital O for a zero"),
    ("x", 4, "NotADigit", "order: a letter alone is NotADigit, not Empty"),
    ("12x", 4, "NotADigit", "order: a letter before the end is NotADigit, though too few digits"),
    ("12345x", 4, "WrongLength", "order: the fifth digit comes first, so WrongLength"),
    ("1234x5", 4, "NotADigit", "order: the letter comes first, so NotADigit"),
    ("0427x", 4, "NotADigit", "order: a letter after a complete code"),
    ("0427 5", 4, "WrongLength", "order: a digit after a complete code"),
    ("0427\n", 4, "NotADigit", "a line break after the code is not dropped"),
    (IDEO * 19 + " 123456", 6, "123456", "exactly at the cap: read"),
    (IDEO * 19 + "\u00a0123456", 6, "TooLong",
     "one byte over: TooLong, though the digits are right"),
    (IDEO * 21 + " ", 4, "Empty", "only dropped characters, at the cap: Empty"),
    (IDEO * 21 + "\u00a0", 4, "TooLong",
     "only dropped characters, 22 of them, one byte over: TooLong before Empty"),
    ("ab" + IDEO * 21, 4, "TooLong", "letters, one byte over: TooLong before NotADigit"),
    (in_script(DEV, "0427") * 5 + in_script(DEV, "0"), 4, "WrongLength",
     "21 Devanagari digits, under the cap: WrongLength"),
    (in_script(DEV, "0427") * 5 + in_script(DEV, "04"), 4, "TooLong",
     "22 Devanagari digits, 22 characters: TooLong (bytes count, not characters)"),
]
for c, name in NOT_DROPPED:
    TYPED.append((f"04{chr(c)}27", 4, "NotADigit", f"{cp(c)} {name}: not dropped"))
for zero, name in NOT_READ:
    TYPED.append((in_script(zero, "0427"), 4, "NotADigit",
                  f"{name.replace(' ZERO', 'S')} ({cp(zero)} to {cp(zero + 9)}): not read"))
TYPED += [
    ("\u2070\u2074\u00b2\u2077", 4, "NotADigit", "superscript digits: not read"),
    ("\u2080\u2084\u2082\u2087", 4, "NotADigit", "subscript digits: not read"),
    ("\u2460\u2463\u2461\u2466", 4, "NotADigit", "circled digits: not read"),
]
for script, zero, _ in SCRIPTS:
    TYPED += [
        (f"04{chr(zero - 1)}7", 4, "NotADigit", f"{cp(zero - 1)}, just below {script} zero"),
        (f"04{chr(zero + 10)}7", 4, "NotADigit", f"{cp(zero + 10)}, just above {script} nine"),
    ]

for typed, d, want, note in TYPED:
    got = read_typed(typed, d)
    assert got == want, f"{note}: the rules give {got}, the vector says {want}"
assert {want for _, _, want, _ in TYPED} >= {"Empty", "TooLong", "WrongLength", "NotADigit"}
assert {len(t.encode()) for t, _, _, _ in TYPED} >= {64, 65}


def render_input_table() -> str:
    rows = [
        "| script | digits 0 to 9 | Unicode name of the zero | UTF-8 bytes each |",
        "|---|---|---|---|",
    ]
    for script, zero, name in SCRIPTS:
        n = len(chr(zero).encode())
        rows.append(f"| {script} | {cp(zero)} to {cp(zero + 9)} | {name} | {n} |")
    rows += [
        "",
        "| dropped | Unicode name | UTF-8 bytes |",
        "|---|---|---|",
    ]
    for c, name in DROPPED:
        rows.append(f"| {cp(c)} | {name} | {len(chr(c).encode())} |")
    return "\n".join(rows) + "\n"


def render_input_vectors() -> str:
    lines = []
    for i, (typed, d, want, note) in enumerate(TYPED, 1):
        n = len(typed.encode())
        lines.append(f"# input {i}, {n} byte{'' if n == 1 else 's'}: {note}")
        lines.append(" ".join([str(d), want.ljust(11)] + [cp(ord(c)) for c in typed]).rstrip())
    return "```text\n" + "\n".join(lines) + "\n```\n"


def readme_summary() -> str:
    names = [s for s, _, _ in SCRIPTS]
    return (
        "spaces and hyphens dropped, and the digits of "
        + ", ".join(names[:-1]) + " and " + names[-1].lower()
        + " forms read as the digits they are"
    )


def render_readme_input() -> str:
    def listing(items):
        return ", ".join(items[:-1]) + " and " + items[-1]

    scripts = listing([f"{s} ({cp(z)}–{cp(z + 9)})" for s, z, _ in SCRIPTS])
    dropped = listing([f"{cp(c)} {name}" for c, name in DROPPED])
    not_dropped = [f"{cp(c)} {name}" for c, name in NOT_DROPPED[:2] + NOT_DROPPED[7:8]]
    not_dropped += ["a tab or a line break"]
    paragraphs = [
        f"[`input::normalize`](crate::input::normalize) reads typed input exactly as SPEC.md specifies. Input longer "
        f"than {MAX_INPUT_LEN} bytes of UTF-8 is refused (`TooLong`) before it is read. Then "
        f"each character in turn is dropped, read as a digit, or refused:",
        f"- **Dropped:** {dropped}. Nothing else: not "
        f"{listing(not_dropped).replace(' and a tab', ', a tab')}.",
        f"- **Read as the digits 0 to 9:** those of {scripts}, mixed as you like. No others: "
        f"not Thai digits, not superscripts.",
        "- **Refused:** any other character (`NotADigit`), and a digit past the code's length "
        "(`WrongLength`), whichever comes first. At the end, no digit at all is `Empty` and "
        "too few is `WrongLength`.",
    ]
    out = []
    for p in paragraphs:
        indent = "  " if p.startswith("- ") else ""
        out.append(fill(p, indent))
    return "\n\n".join(out[:1] + ["\n".join(out[1:])]) + "\n"


# ---------------------------------------------------------------------------------------------
# The generated parts and where they go
# ---------------------------------------------------------------------------------------------

# (file, marker name, text, inline). An inline part sits inside a paragraph: its copy is
# compared with whitespace collapsed, so the paragraph may be wrapped as its file likes.
PARTS = [
    ("SPEC.md", "vectors", render_vectors, False),
    ("SPEC.md", "arithmetic", render_arithmetic, False),
    ("SPEC.md", "key-text", render_key_text, False),
    ("SPEC.md", "typed-input-table", render_input_table, False),
    ("SPEC.md", "typed-input-vectors", render_input_vectors, False),
    ("README.md", "typed-input-summary", readme_summary, True),
    ("derivation.md", "typed-input", render_readme_input, False),
]


def region(text: str, name: str, inline: bool):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if not inline:
        begin += "\n"
    if text.count(begin) != 1 or text.count(end) != 1:
        raise SystemExit(f"expected one {begin.strip()} and one {end}")
    start = text.index(begin) + len(begin)
    stop = text.index(end)
    if stop < start:
        raise SystemExit(f"{end} comes before {begin.strip()}")
    return start, stop


def same(copy: str, want: str, inline: bool) -> bool:
    return " ".join(copy.split()) == " ".join(want.split()) if inline else copy == want


def main() -> int:
    args = sys.argv[1:]
    if not args:
        for file, name, render, _ in PARTS:
            sys.stdout.write(f"<!-- {name}:begin --> ({file})\n{render()}<!-- {name}:end -->\n\n")
        return 0
    if args[0] not in ("--check", "--write") or len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    checked = []
    for path in args[1:]:
        parts = [p for p in PARTS if p[0] == os.path.basename(path)]
        if not parts:
            raise SystemExit(f"{path}: no generated parts for a file of that name")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for _, name, render, inline in parts:
            checked.append(f"{path} {name}")
            want = render()
            start, stop = region(text, name, inline)
            if same(text[start:stop], want, inline):
                continue
            if args[0] == "--write":
                text = text[:start] + (want.rstrip("\n") if inline else want) + text[stop:]
            else:
                print(f"{path}: {name} differs from scripts/spec_vectors.py; regenerate it "
                      f"with --write", file=sys.stderr)
                failed = True
        if args[0] == "--write":
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if failed:
        return 1
    if args[0] == "--check":
        print(f"{len(VECTORS)} derivation vectors, {len(TYPED)} typed-input vectors; "
              f"these match the independent implementation: {', '.join(checked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
