#!/usr/bin/env python3
"""Golden vectors for layouts no installable library writes, built from the
libraries' public source with the same struct calls they make.

- Pyrogram (not installable here): pyrogram/storage/storage.py packs
  SESSION_STRING_FORMAT = ">BI?256sQ?" and exports
  base64.urlsafe_b64encode(packed).decode().rstrip("="); older releases
  packed ">B?256sI?" (351 chars) and ">B?256sQ?" (356 chars), which
  memory_storage.py still reads.
- mtcute version 1 and 2 strings (current mtcute refuses them): a version
  byte, int32 flags, a raw TL dcOption (constructor 0x18b7a10d), the media
  dcOption (v2, flag 4), the self user, the auth key as TL bytes.

Usage: layout_vectors.py OUTDIR   (stdlib only; any python3)
Keys are fixed fake bytes, never real credentials.
"""
import base64
import os
import struct
import sys

KEY_A = bytes(range(256))
KEY_B = bytes((255 - i) for i in range(256))


def pyrogram(fmt, *fields):
    return base64.urlsafe_b64encode(struct.pack(fmt, *fields)).decode().rstrip("=")


PYROGRAM = {
    # name: (format, fields...) in Pyrogram's own field order
    "new": (">BI?256sQ?", 2, 12345, False, KEY_A, 123456789, False),
    "new_test_bot": (">BI?256sQ?", 1, 2040, True, KEY_B, 5000801609, True),
    "new_no_user": (">BI?256sQ?", 4, 611335, False, KEY_B, 0, False),
    "old32": (">B?256sI?", 4, False, KEY_A, 123456789, False),
    "old64": (">B?256sQ?", 5, False, KEY_B, 5000801609, True),
}


def tl_bytes(data):
    if len(data) <= 253:
        out = bytes([len(data)]) + data
    else:
        out = b"\xfe" + struct.pack("<I", len(data))[:3] + data
    return out + b"\0" * (-len(out) % 4)


def tl_dc_option(dc_id, ip, port, ipv6=False, media=False):
    flags = (1 if ipv6 else 0) | (2 if media else 0)
    return (struct.pack("<IIi", 0x18B7A10D, flags, dc_id) +
            tl_bytes(ip.encode()) + struct.pack("<i", port))


def mtcute_legacy(version, main, media=None, self_user=None, key=KEY_A):
    flags = (1 if self_user else 0) | (4 if media else 0)
    out = bytes([version]) + struct.pack("<i", flags) + main
    if media:
        out += media
    if self_user:
        uid, bot = self_user
        out += struct.pack("<qI", uid, 0x997275B5 if bot else 0xBC799737)
    out += tl_bytes(key)
    return base64.urlsafe_b64encode(out).decode().rstrip("=")


MTCUTE_LEGACY = {
    "legacy_v1": (1, tl_dc_option(2, "149.154.167.50", 443), None,
                  (123456789, False)),
    "legacy_v2": (2, tl_dc_option(2, "149.154.167.50", 443),
                  tl_dc_option(2, "149.154.167.222", 443, media=True), None),
}


def write(outdir, fmt, name, text):
    d = os.path.join(outdir, fmt)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".txt"), "w") as f:
        f.write(text + "\n")


def main():
    outdir = sys.argv[1]
    for name, (fmt, *fields) in PYROGRAM.items():
        write(outdir, "pyrogram-string", name, pyrogram(fmt, *fields))
    for name, (ver, main_dc, media, self_user) in MTCUTE_LEGACY.items():
        write(outdir, "mtcute-string", name,
              mtcute_legacy(ver, main_dc, media, self_user))
    print("the layouts of Pyrogram 2.0.106")


if __name__ == "__main__":
    main()
