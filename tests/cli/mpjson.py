#!/usr/bin/python3
"""mpjson: a small independent msgpack codec for program tests (Debian's
python3 has no msgpack module).

  mpjson.py enc  < lines.jsonl > records.mp   one JSON object a line -> maps
  mpjson.py dec  < records.mp  > lines.jsonl  maps -> one JSON object a line
  mpjson.py raw  < records.mp  > lines.jsonl  maps -> {key: hex of the value's
                                              raw msgpack bytes}, to compare
                                              bytes of keys a program copies

enc writes str, int, float (float64), bool, nil, arrays and maps, with the
smallest msgpack header for each; key order is kept. Only what tests need.
"""
import json
import struct
import sys


def enc(v, out):
    if v is None:
        out.append(b"\xc0")
    elif v is True or v is False:
        out.append(b"\xc3" if v else b"\xc2")
    elif isinstance(v, int):
        if 0 <= v < 128:
            out.append(bytes([v]))
        elif -32 <= v < 0:
            out.append(struct.pack(">b", v))
        elif 0 <= v < 2**8:
            out.append(b"\xcc" + struct.pack(">B", v))
        elif 0 <= v < 2**16:
            out.append(b"\xcd" + struct.pack(">H", v))
        elif 0 <= v < 2**32:
            out.append(b"\xce" + struct.pack(">I", v))
        elif 0 <= v < 2**64:
            out.append(b"\xcf" + struct.pack(">Q", v))
        elif -2**7 <= v:
            out.append(b"\xd0" + struct.pack(">b", v))
        elif -2**15 <= v:
            out.append(b"\xd1" + struct.pack(">h", v))
        elif -2**31 <= v:
            out.append(b"\xd2" + struct.pack(">i", v))
        else:
            out.append(b"\xd3" + struct.pack(">q", v))
    elif isinstance(v, float):
        out.append(b"\xcb" + struct.pack(">d", v))
    elif isinstance(v, str):
        b = v.encode("utf-8", "surrogateescape")
        n = len(b)
        if n < 32:
            out.append(bytes([0xA0 | n]))
        elif n < 2**8:
            out.append(b"\xd9" + struct.pack(">B", n))
        elif n < 2**16:
            out.append(b"\xda" + struct.pack(">H", n))
        else:
            out.append(b"\xdb" + struct.pack(">I", n))
        out.append(b)
    elif isinstance(v, list):
        n = len(v)
        out.append(bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n))
        for x in v:
            enc(x, out)
    elif isinstance(v, dict):
        n = len(v)
        out.append(bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n))
        for k, x in v.items():
            enc(k, out)
            enc(x, out)
    else:
        raise TypeError(type(v))


def dec(b, i):
    """The value at b[i] and the offset after it."""
    c = b[i]
    if c < 0x80:
        return c, i + 1
    if c >= 0xE0:
        return c - 256, i + 1
    if 0x80 <= c <= 0x8F or c in (0xDE, 0xDF):
        if c <= 0x8F:
            n, i = c & 15, i + 1
        elif c == 0xDE:
            n, i = struct.unpack(">H", b[i + 1:i + 3])[0], i + 3
        else:
            n, i = struct.unpack(">I", b[i + 1:i + 5])[0], i + 5
        d = {}
        for _ in range(n):
            k, i = dec(b, i)
            d[k], i = dec(b, i)
        return d, i
    if 0x90 <= c <= 0x9F or c in (0xDC, 0xDD):
        if c <= 0x9F:
            n, i = c & 15, i + 1
        elif c == 0xDC:
            n, i = struct.unpack(">H", b[i + 1:i + 3])[0], i + 3
        else:
            n, i = struct.unpack(">I", b[i + 1:i + 5])[0], i + 5
        a = []
        for _ in range(n):
            x, i = dec(b, i)
            a.append(x)
        return a, i
    if 0xA0 <= c <= 0xBF or c in (0xD9, 0xDA, 0xDB):
        if c <= 0xBF:
            n, i = c & 31, i + 1
        else:
            w = {0xD9: 1, 0xDA: 2, 0xDB: 4}[c]
            n, i = int.from_bytes(b[i + 1:i + 1 + w], "big"), i + 1 + w
        return b[i:i + n].decode("utf-8", "surrogateescape"), i + n
    fixed = {0xC0: (None, 0), 0xC2: (False, 0), 0xC3: (True, 0)}
    if c in fixed:
        return fixed[c][0], i + 1
    fmt = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
           0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}[c]
    n = struct.calcsize(fmt)
    return struct.unpack(fmt, b[i + 1:i + 1 + n])[0], i + 1 + n


def records(b):
    i = 0
    while i < len(b):
        start = i
        v, i = dec(b, i)
        yield v, b[start:i]


def raw_fields(rec):
    """{key: raw value bytes} of one encoded map."""
    c = rec[0]
    i, n = (1, c & 15) if c <= 0x8F else (3, struct.unpack(">H", rec[1:3])[0])
    out = {}
    for _ in range(n):
        k, j = dec(rec, i)
        _, e = dec(rec, j)
        out[k] = rec[j:e]
        i = e
    return out


def main():
    mode = sys.argv[1]
    if mode == "enc":
        out = []
        for line in sys.stdin.buffer.read().decode("utf-8", "surrogateescape").splitlines():
            if line.strip():
                enc(json.loads(line), out)
        sys.stdout.buffer.write(b"".join(out))
        return
    data = sys.stdin.buffer.read()
    for v, raw in records(data):
        if mode == "dec":
            print(json.dumps(v, ensure_ascii=False))
        else:
            print(json.dumps({k: r.hex() for k, r in raw_fields(raw).items()}))


if __name__ == "__main__":
    main()
