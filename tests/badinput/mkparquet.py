#!/usr/bin/env python3
"""Craft small, deliberately bad Parquet files for tests/run_badinput.sh.

A minimal Parquet writer (Thrift compact protocol by hand, one row group, one PLAIN data
page v1 per column, REQUIRED columns) whose page headers can lie. Kinds:

  good      product_id int32, category text: 3 rows (a sanity check of the writer)
  bomb      a GZIP page claiming 2,147,483,647 uncompressed bytes (over the 1 GiB cap)
  liar      a GZIP page whose data inflates to 64 MiB of zeros while the header claims
            1 MiB (a decompression bomb: output past the claimed size must stop)
  short     a GZIP page claiming 8 MiB whose data inflates to a few bytes
  other     a different schema: x int64, y double (a file that does not match the stream)
  swapped   category text, product_id int32 (right columns, other order)
  wrongtype product_id int64, category text (right names, wrong type)

usage: mkparquet.py KIND OUT.parquet
"""
import gzip
import struct
import sys

# Thrift compact type ids
T_TRUE, T_FALSE, T_I32, T_I64, T_BIN, T_LIST, T_STRUCT = 1, 2, 5, 6, 8, 9, 12


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n):
    return (n << 1) ^ (n >> 63)


class Struct:
    """Fields as (id, type, value); value encoded by type."""

    def __init__(self, *fields):
        self.fields = [f for f in fields if f is not None]

    def encode(self):
        out = bytearray()
        last = 0
        for fid, ftype, val in self.fields:
            delta = fid - last
            out.append((delta << 4) | ftype if 0 < delta <= 15 else ftype)
            if not 0 < delta <= 15:
                out += varint(zigzag(fid))
            last = fid
            out += encode_value(ftype, val)
        out.append(0)
        return bytes(out)


def encode_value(ftype, val):
    if ftype in (T_I32, T_I64):
        return varint(zigzag(val))
    if ftype == T_BIN:
        b = val.encode() if isinstance(val, str) else val
        return varint(len(b)) + b
    if ftype == T_STRUCT:
        return val.encode()
    if ftype == T_LIST:
        etype, items = val
        head = bytes([(len(items) << 4) | etype]) if len(items) < 15 else \
            bytes([0xF0 | etype]) + varint(len(items))
        return head + b"".join(encode_value(etype, v) for v in items)
    raise ValueError(ftype)


INT32, INT64, DOUBLE, BYTE_ARRAY = 1, 2, 5, 6
UNCOMPRESSED, GZIP = 0, 2


def plain(ptype, values):
    if ptype == INT32:
        return b"".join(struct.pack("<i", v) for v in values)
    if ptype == INT64:
        return b"".join(struct.pack("<q", v) for v in values)
    if ptype == DOUBLE:
        return b"".join(struct.pack("<d", v) for v in values)
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def write(path, columns, n_rows, page_lie=None):
    """columns: [(name, ptype, converted_or_None, values, codec)].
    page_lie: (column index, claimed uncompressed size, raw page body or None)."""
    out = bytearray(b"PAR1")
    chunks = []
    for ci, (name, ptype, _conv, values, codec) in enumerate(columns):
        body = plain(ptype, values)
        usize = len(body)
        if page_lie is not None and page_lie[0] == ci:
            usize = page_lie[1]
            if page_lie[2] is not None:
                body = page_lie[2]
        comp = gzip.compress(body) if codec == GZIP else body
        header = Struct(
            (1, T_I32, 0),  # DATA_PAGE
            (2, T_I32, usize),
            (3, T_I32, len(comp)),
            (5, T_STRUCT, Struct((1, T_I32, n_rows), (2, T_I32, 0), (3, T_I32, 3),
                                 (4, T_I32, 3))),
        ).encode()
        offset = len(out)
        out += header + comp
        meta = Struct(
            (1, T_I32, ptype),
            (2, T_LIST, (T_I32, [0, 3])),
            (3, T_LIST, (T_BIN, [name])),
            (4, T_I32, codec),
            (5, T_I64, n_rows),
            (6, T_I64, len(header) + usize),
            (7, T_I64, len(header) + len(comp)),
            (9, T_I64, offset),
        )
        chunks.append(Struct((2, T_I64, offset), (3, T_STRUCT, meta)))
    schema = [Struct((4, T_BIN, "schema"), (5, T_I32, len(columns)))]
    for name, ptype, conv, _v, _c in columns:
        schema.append(Struct((1, T_I32, ptype), (3, T_I32, 0), (4, T_BIN, name),
                             (6, T_I32, conv) if conv is not None else None))
    footer = Struct(
        (1, T_I32, 1),
        (2, T_LIST, (T_STRUCT, schema)),
        (3, T_I64, n_rows),
        (4, T_LIST, (T_STRUCT, [Struct((1, T_LIST, (T_STRUCT, chunks)),
                                       (2, T_I64, len(out) - 4), (3, T_I64, n_rows))])),
        (6, T_BIN, "tributary tests/badinput/mkparquet.py"),
    ).encode()
    out += footer + struct.pack("<I", len(footer)) + b"PAR1"
    with open(path, "wb") as f:
        f.write(out)


UTF8 = 0


def main():
    kind, path = sys.argv[1], sys.argv[2]
    ids = [1, 2, 3]
    cats = ["books", "toys", "garden"]
    good = [("product_id", INT32, None, ids, GZIP), ("category", BYTE_ARRAY, UTF8, cats, GZIP)]
    if kind == "good":
        write(path, good, 3)
    elif kind == "bomb":
        write(path, good, 3, page_lie=(0, 2147483647, None))
    elif kind == "liar":
        write(path, good, 3, page_lie=(0, 1 << 20, bytes(64 << 20)))
    elif kind == "short":
        write(path, good, 3, page_lie=(0, 8 << 20, None))
    elif kind == "other":
        write(path, [("x", INT64, None, [7, 8], GZIP), ("y", DOUBLE, None, [0.5, 1.5], GZIP)], 2)
    elif kind == "swapped":
        write(path, [good[1], good[0]], 3)
    elif kind == "wrongtype":
        write(path, [("product_id", INT64, None, ids, GZIP), good[1]], 3)
    else:
        sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main()
