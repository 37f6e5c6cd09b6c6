#!/usr/bin/env python3
"""Typed CSV with each type's edge cases, for tests/it/convert.sh.

    typed_csv.py SEED DIR

writes DIR/<type>.csv for every type below: lines "id,value", the value a
CSV field as a program could write it (quoted or not, NULL as an unquoted
empty field, the empty string quoted), the edge cases first, then
thousands of random values in the spellings programs print (which the
daemon converts: the test checks that most rows went as binary). Some edge
cases are ones the server refuses: the test keeps the lines the server takes
(it casts each value first), so every file loads whole.
"""
import os
import random
import struct
import sys
import uuid

rnd = random.Random(int(sys.argv[1]))
out_dir = sys.argv[2]
N = 2500  # random values per type


def field(v, quote=None):
    """v as a CSV field; None is NULL (unquoted empty)."""
    if v is None:
        return ""
    if quote is None:
        quote = v == "" or any(c in v for c in ',"\n\r') or rnd.random() < 0.1
    if quote:
        return '"' + v.replace('"', '""') + '"'
    return v


types = {}


def edge(t, *vals):
    types.setdefault(t, []).extend(vals)


for t, bits in (("int2", 16), ("int4", 32), ("int8", 64)):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    edge(t, str(lo), str(hi), str(lo - 1), str(hi + 1), "0", "-0", "+5",
         "007", " 5", "5 ", " -12 ", "1_000", "0x1F", "1.0", "1e3", None, "")
    for _ in range(N):
        edge(t, str(rnd.randint(lo, hi)))

for t in ("float4", "float8"):
    edge(t, "0", "-0", "1.5", ".5", "5.", "1e308", "-1e308", "1e309",
         "4.9e-324", "5e-324", "1e-400", "2.2250738585072014e-308",
         "1.17549435e-38", "1.4e-45", "3.4028235e38", "3.5e38", "NaN", "nan",
         "-nan", "Infinity", "-Infinity", "+Infinity", "inf", "-INF", " 1",
         "1 ", "+.5e-3", "00012.500", "123456789012345678901234567890",
         "0.1", "1e-7", None, "")
    n = 0
    while n < N:
        if t == "float8":
            x = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
            tiny = 2.2250738585072014e-308
        else:
            x = struct.unpack("<f", struct.pack("<I", rnd.getrandbits(32)))[0]
            tiny = 1.17549435e-38
        if x != x or x in (float("inf"), float("-inf")) or 0 < abs(x) < tiny:
            continue  # the edge cases above have these
        n += 1
        r = rnd.random()
        if r < 0.4:
            edge(t, repr(x))
        elif r < 0.7:
            edge(t, "%.17g" % x if t == "float8" else "%.9g" % x)
        else:
            edge(t, "%.6f" % (rnd.uniform(-1e6, 1e6)))

edge("numeric", "0", "-0", "0.000", "-0.000", "+1.5", "1.", ".5", "NaN",
     "nan", "Infinity", "-Infinity", "1e5", "1.5E-3", " 1", "1 ",
     "9" * 300 + "." + "9" * 300, "-" + "1" * 131072, "0." + "0" * 200 + "1",
     "12345678901234567890.12345678901234567890", "1_000", None, "")
for _ in range(N):
    ip = str(rnd.randint(0, 10 ** rnd.randint(0, 40)))
    fp = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(0, 30)))
    s = rnd.choice(["", "-", "+"]) + ip + ("." + fp if fp or rnd.random() < .2 else "")
    edge("numeric", s)

bools = ["t", "true", "y", "yes", "on", "1", "f", "false", "n", "no", "off",
         "0", "TRUE", "False", "YES", "On", "OFF", "tr", "tru", "fa", "ye",
         "o", "of", " t", "t ", "2", "maybe", None, ""]
edge("bool", *bools)
for _ in range(N):
    edge("bool", rnd.choice(bools[:17]))

for _ in range(N):
    u = uuid.UUID(int=rnd.getrandbits(128))
    r = rnd.random()
    s = str(u)
    if r < 0.2:
        s = s.upper()
    elif r < 0.3:
        s = u.hex
    elif r < 0.35:
        s = "{" + s + "}"
    edge("uuid", s)
edge("uuid", "{" + str(uuid.UUID(int=5)) + "}", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
     "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", "a0eebc999c0b4ef8bb6d6bb9bd380a1",
     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11x", None, "")

texts = ["", "plain", " spaced ", "comma,inside", 'quote"inside', "line\nbreak",
         "crlf\r\ninside", "tab\there", "caf\u00e9", "\u65e5\u672c", "\U0001f600",
         "back\\slash", "\\.", "NULL", "\\N", "x" * 5000]
for t in ("text", "varchar", "bpchar", "name"):
    edge(t, *texts, None)
    for _ in range(N):
        n = rnd.randint(0, 20)  # name: at most 63 bytes (namein cuts)
        edge(t, "".join(rnd.choice("abc XYZ,.\"'\u00e9\u4e2d-_0123") for _ in range(n)))

dates = ["2024-02-29", "2023-02-29", "0001-01-01", "9999-12-31", "4713-11-24 BC",
         "0044-03-15 BC", "infinity", "-infinity", "epoch", "01/02/2024",
         "02/01/2024", "2024-1-2", "20240102", "2024-01-02 ", "Jan 2 2024",
         "10000-01-01", "0000-01-01", None, ""]
edge("date", *dates)
for _ in range(N):
    edge("date", "%04d-%02d-%02d" % (rnd.randint(1, 9999), rnd.randint(1, 12),
                                      rnd.randint(1, 28)))

stamps = ["2024-01-01 00:00:00", "2024-01-01 24:00:00", "2024-03-10 02:30:00",
          "2024-11-03 01:30:00", "2024-03-31 02:30:00", "2024-01-01T12:00:00",
          "2024-01-01 12:00:00.1234567", "2024-01-01 12:00:00.999999",
          "2024-01-01 12:00:00.9999995", "2016-12-31 23:59:60", "infinity",
          "-infinity", "0044-03-15 12:00:00 BC", "2024-01-01", "01/02/2024 10:00",
          "2024-01-01 12:00", "2024-01-01 12:00:00+05:30", "2024-01-01 12:00:00Z",
          "2024-01-01 12:00:00-08", "2024-06-01 12:00:00 America/New_York",
          "epoch", None, ""]
for t in ("timestamp", "timestamptz"):
    edge(t, *stamps)
    for _ in range(N):
        s = "%04d-%02d-%02d %02d:%02d:%02d" % (
            rnd.randint(1, 9999), rnd.randint(1, 12), rnd.randint(1, 28),
            rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59))
        if rnd.random() < 0.5:
            s += "." + str(rnd.randint(0, 999999)).zfill(rnd.choice([1, 3, 6]))[:6]
        if t == "timestamptz":  # without an offset: the edge cases
            h = rnd.randint(-12, 14)
            s += "%+03d" % h + (":%02d" % rnd.choice([0, 30, 45]) if rnd.random() < .5 else "")
        edge(t, s)

js = ['{"a":1}', '{"a":1,"a":2}', '{"b":1,"a":2}', '"\\u00e9"', '"\\u0000"',
      '[1, 2, {"x": null}]', ' {"sp" : true} ', '{"n":1.0e10}', '{bad', '',
      '{"deep":' * 50 + '1' + '}' * 50, None]
for t in ("json", "jsonb"):
    edge(t, *js)
    for _ in range(N):
        edge(t, '{"k%d": %d, "s": "%s"}' % (rnd.randint(0, 9), rnd.randint(-1e9, 1e9),
                                              rnd.choice(["x", "\u00e9", "a\\nb", ""])))

edge("bytea", "\\x", "\\x00ff", "\\xDEADbeef", "\\x0", "\\xzz", "abc",
     "a\\000b", "\\\\", "\\x 00", None, "")
for _ in range(N):
    edge("bytea", "\\x" + os.urandom(rnd.randint(0, 40)).hex())

os.makedirs(out_dir, exist_ok=True)
for t, vals in types.items():
    with open(os.path.join(out_dir, t + ".csv"), "w", newline="") as f:
        for i, v in enumerate(vals, 1):
            f.write("%d,%s\n" % (i, field(v)))
