#!/usr/bin/env python3
"""Write ferogram session test vectors from the documented byte layout.

The files are built here from the layout of ferogram's binary session
(every version its readers accept), its native string and its compact
strings, as described in the project's ferogram notes. They are not
produced by ferogram itself. This encoder shares no code with the C
library, so the golden files check the C decoder and encoder against the
layout. Run from the repository root:

    python3 scripts/golden/ferogram_vectors.py

It writes tests/data/formats/ferogram/*. Every record list is written in
mtsession's canonical order (DCs by id, flags, family; peers by kind
user < chat < channel, then id; channels and min peers by id), so that
re-encoding a decoded file gives the same bytes.
"""
import base64
import ipaddress
import os
import struct

OUT = os.path.join("tests", "data", "formats", "ferogram")

KEY1 = bytes(range(256))
KEY2 = b"\xab" * 256

# DC entries: (dc_id, key, salt, time_offset, addr, flags)
DCS = [
    (1, None, 0, 0, "149.154.175.53:443", 0x00),
    (2, KEY1, 0x0102030405060708, -3, "149.154.167.51:443", 0x00),
    (2, KEY2, -1, 7, "[2001:67c:4e8:f002::a]:443", 0x11),  # IPV6|STATIC
    (4, None, 0, 0, "149.154.167.91:443", 0x02),  # MEDIA_ONLY
]
STATE = (100, 5, 1700000000, 7)
CHANNELS = [(1234567890, 17), (9007199254740993, 2147483647)]
# peers: (id, access_hash, peer_type, channel_kind or None, is_community)
PEERS = [
    (5000, 99, 0, None, 1),                   # user (a community in v8)
    (777000, -5612345678901234567, 0, None, 0),
    (100, 0, 2, None, 0),                     # basic chat
    (7, 1, 1, None, 0),                       # channel, kind unknown
    (100, 2**63 - 1, 1, 1, 0),                # megagroup
    (1234567890, 42, 1, 0, 1),                # broadcast, community
]
MINS = [(42, -1001234567890, 12345), (43, 100, -1)]
TOKEN = b"\x01\x02\x03"


def dc_entry(dc, version):
    dc_id, key, salt, off, addr, flags = dc
    b = struct.pack("<iB", dc_id, 1 if key else 0)
    if key:
        b += key
    a = addr.encode()
    b += struct.pack("<qiB", salt, off, len(a)) + a
    if version >= 3:
        b += struct.pack("<B", flags)
    return b


def binary(version, home=2, dcs=DCS, state=STATE, channels=CHANNELS,
           peers=PEERS, mins=MINS, token=TOKEN):
    """version 0 = legacy (no version byte, DC table only)."""
    b = b"" if version == 0 else struct.pack("<B", version)
    b += struct.pack("<iB", home, len(dcs))
    for dc in dcs:
        b += dc_entry(dc, version)
    if version == 0:
        return b
    b += struct.pack("<iiii", *state)
    b += struct.pack("<H", len(channels))
    for cid, pts in channels:
        b += struct.pack("<qi", cid, pts)
    b += struct.pack("<H", len(peers))
    for pid, h, t, kind, comm in peers:
        b += struct.pack("<qqB", pid, h, t)
        if version >= 6:
            b += struct.pack("<B", 0xFF if kind is None else kind)
        if version >= 8:
            b += struct.pack("<B", comm)
    if version >= 4:
        b += struct.pack("<H", len(mins))
        for uid, pid, msg in mins:
            b += struct.pack("<qqi", uid, pid, msg)
    if version >= 7:
        if token is None:
            b += b"\x00"
        else:
            b += struct.pack("<BH", 1, len(token)) + token
    return b


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(version, dc, ip, port, user_id, key, salt=0, seq=0, layer=0):
    addr = ipaddress.ip_address(ip)
    b = struct.pack(">BBB", version, dc, addr.version) + addr.packed
    b += struct.pack(">Hq", port, user_id)
    if version == 1:
        b += struct.pack(">qII", salt, seq, layer)
    return b + key


def ambiguous():
    """A file that reads both as a legacy file (home DC 7, two DC entries)
    and as a valid version-7 file (home DC 0x02000000, no DCs, a token)."""
    key = bytearray(256)
    # Versioned reading: byte 0 = 7, home = bytes 1..4, dc_count = byte 5
    # (the low byte of the first legacy dc_id, 256, so 0), the update state
    # = bytes 6..21; then at bytes 22..30 (key[12..20]): 0 channels,
    # 0 peers, 0 min peers, has_token = 1 and the token length. The token
    # runs from byte 31 to the end, covering the rest of the legacy file.
    tail = dc_entry((7, None, 0, 0, "149.154.175.53:443", 0), 0)
    first = dc_entry((256, bytes(256), 0, 0, "1.2.3.4:5", 0), 0)
    total = 5 + len(first) + len(tail)
    key[12:21] = struct.pack("<HHHBH", 0, 0, 0, 1, total - 31)
    first = dc_entry((256, bytes(key), 0, 0, "1.2.3.4:5", 0), 0)
    b = struct.pack("<iB", 7, 2) + first + tail
    assert len(b) == total
    return b


def write(name, data):
    mode = "w" if isinstance(data, str) else "wb"
    with open(os.path.join(OUT, name), mode) as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    # The note's own vectors: home DC 2, everything else empty.
    empty = dict(dcs=[], state=(0, 0, 0, 0), channels=[], peers=[], mins=[],
                 token=None)
    v5e = binary(5, **empty)
    v8e = binary(8, **empty)
    assert len(v5e) == 28 and len(v8e) == 29
    write("v5-empty-dc2.bin", v5e)
    write("v8-empty-dc2.bin", v8e)
    write("v5-empty-dc2.txt", b64(v5e) + "\n")
    write("v8-empty-dc2.txt", b64(v8e) + "\n")
    assert b64(v5e) == "BQIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert b64(v8e) == "CAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

    # The full content in every version (fields a version lacks are left
    # out; v2 and v3 have no min peers, only v7+ a token).
    legacy_dcs = [(i, k, s, o, a, 0) for (i, k, s, o, a, _f) in DCS]
    write("legacy.bin", binary(0, home=1, dcs=legacy_dcs))
    for v in range(2, 9):
        dcs = legacy_dcs if v == 2 else DCS
        write("v%d.bin" % v, binary(v, dcs=dcs))
    write("v8.txt", b64(binary(8)) + "\n")
    # A legacy file whose first byte (home DC 4) looks like version 4.
    write("legacy-dc4.bin", binary(0, home=4, dcs=legacy_dcs))
    write("ambiguous.bin", ambiguous())
    write("v9.bin", b"\x09" + binary(8)[1:])

    # Compact strings.
    c = {
        "compact-v2-ipv4.txt": compact(2, 2, "149.154.167.51", 443,
                                       5000801609, KEY1),
        "compact-v2-ipv6.txt": compact(2, 4, "2001:67c:4e8:f004::a", 443,
                                       0, KEY2),
        "compact-v1-ipv4.txt": compact(1, 2, "149.154.167.51", 443,
                                       5000801609, KEY1,
                                       salt=-6148914691236517206,
                                       seq=77, layer=181),
        "compact-v1-ipv6.txt": compact(1, 5, "2001:b28:f23f:f005::a", 80,
                                       123, KEY2, salt=0x0102030405060708,
                                       seq=1, layer=2),
    }
    lengths = {"compact-v2-ipv4.txt": 364, "compact-v2-ipv6.txt": 380,
               "compact-v1-ipv4.txt": 386, "compact-v1-ipv6.txt": 402}
    for name, data in c.items():
        text = b64(data)
        assert len(text) == lengths[name], (name, len(text))
        write(name, text + "\n")

    write("PROVENANCE",
          "# Who wrote these vectors (regenerate: "
          "scripts/golden/ferogram_vectors.py)\n"
          "*.bin, *.txt: built from ferogram's documented byte layout "
          "(binary legacy and 0x02..0x09, native string, compact V1/V2) by "
          "scripts/golden/ferogram_vectors.py; not produced by ferogram "
          "itself, which cannot be installed here.\n")


if __name__ == "__main__":
    main()
