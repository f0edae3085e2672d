#!/usr/bin/env python3
"""png-ink.py FILE MIN - fails unless at least MIN (a fraction) of the
pixels of the PNG FILE are not near-white: a blank page has none.  Decodes
8-bit RGB/RGBA PNGs with the standard library."""
import struct
import sys
import zlib


def pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and color in (2, 6), "only 8-bit RGB(A)"
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    prev, out = bytearray(stride), []
    for y in range(h):
        f, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                row[i] = (row[i] + a) & 255
            elif f == 2:
                row[i] = (row[i] + b) & 255
            elif f == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(row)
        prev = row
    return w, h, bpp, out


def main():
    w, h, bpp, rows = pixels(sys.argv[1])
    ink = sum(1 for row in rows for x in range(w)
              if min(row[x * bpp:x * bpp + 3]) < 200)
    frac = ink / (w * h)
    print(f"{w}x{h} screenshot, {frac:.1%} of the pixels inked")
    return 0 if frac >= float(sys.argv[2]) else 1


if __name__ == "__main__":
    sys.exit(main())
