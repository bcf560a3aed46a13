#!/usr/bin/env python3
"""Write the mtsession binary test vectors from docs/FORMAT.md's layout.

This is an independent encoder of the documented format (it shares no
code with the library), so the golden files check the C encoder against
the document. Run from the repository root:

    python3 scripts/format_vectors.py

It writes tests/data/mtsession/v1/*.bin and tests/data/mtsession/v2/*.bin.
"""
import ipaddress
import os
import struct

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def section(tag, payload, critical=True):
    return struct.pack("<HHI", tag, 1 if critical else 0, len(payload)) + payload

def v2(s):
    info = struct.pack("<iBBiBqB", s["home"], s["test"], s["api"] is not None,
                       s["api"] or 0, s["user"] is not None,
                       s["user"][0] if s["user"] else 0,
                       s["user"][1] if s["user"] else 0)
    dcs = struct.pack("<I", len(s["dcs"]))
    for d in sorted(s["dcs"], key=lambda d: (d["id"], d["flags"], d["fam"])):
        ip = ipaddress.ip_address(d["ip"]).packed
        dcs += struct.pack("<iBB", d["id"], d["flags"], d["fam"]) + ip
        dcs += struct.pack("<HqiB", d["port"], d["salt"], d["offset"],
                           d["key"] is not None)
        if d["key"] is not None:
            dcs += d["key"]
    pts, qts, date, seq = s["state"]
    upd = struct.pack("<iiiiI", pts, qts, date, seq, len(s["chans"]))
    for cid, cpts in sorted(s["chans"]):
        upd += struct.pack("<qi", cid, cpts)
    kinds = {"user": 0, "chat": 1, "channel": 2}
    peers = struct.pack("<I", len(s["peers"]))
    for p in sorted(s["peers"], key=lambda p: (kinds[p["kind"]], p["id"])):
        u = (p.get("username") or "").encode()
        ph = (p.get("phone") or "").encode()
        flags = (1 if p.get("bot") else 0) | (2 if p.get("community") else 0)
        peers += struct.pack("<BqqBB", kinds[p["kind"]], p["id"], p["hash"],
                             flags, p.get("ckind", 0))
        peers += bytes([len(u)]) + u + bytes([len(ph)]) + ph
    mins = struct.pack("<I", len(s["mins"]))
    for uid, pid, mid in sorted(s["mins"]):
        mins += struct.pack("<qqi", uid, pid, mid)
    body = (section(1, info) + section(2, dcs) + section(3, upd) +
            section(4, peers) + section(5, mins))
    if s["token"] is not None:
        body += section(6, s["token"], critical=False)
    total = 16 + len(body) + 4
    head = bytes([2]) + b"MTSESS\x1a" + struct.pack("<II", total, 0)
    data = head + body
    return data + struct.pack("<I", crc32c(data))

def v1(home, dcs):
    out = bytes([1]) + struct.pack("<iB", home, len(dcs))
    for dc_id, key, salt, offset, addr in dcs:
        out += struct.pack("<iB", dc_id, key is not None)
        if key is not None:
            out += key
        a = addr.encode()
        out += struct.pack("<qiB", salt, offset, len(a)) + a
    return out

EMPTY = dict(home=0, test=0, api=None, user=None, dcs=[], state=(0, 0, 0, 0),
             chans=[], peers=[], mins=[], token=None)

SMALL = dict(EMPTY, home=2, dcs=[dict(id=2, ip="149.154.167.51", fam=4,
             port=443, flags=0, key=bytes(range(256)),
             salt=0x0102030405060708, offset=-3)],
             state=(100, 5, 1700000000, 7), chans=[(1234567890, 17)],
             peers=[dict(kind="user", id=777000, hash=-5612345678901234567,
                         username="telegram")])

FULL = dict(
    home=2, test=1, api=12345, user=(42, 1),
    dcs=[
        dict(id=4, ip="149.154.167.91", fam=4, port=443, flags=0x02,
             key=None, salt=0, offset=0),
        dict(id=2, ip="2001:67c:4e8:f002::a", fam=6, port=443, flags=0x11,
             key=bytes([0xab] * 256), salt=-1, offset=2147483647),
        dict(id=1, ip="149.154.175.53", fam=4, port=80, flags=0, key=None,
             salt=-9223372036854775808, offset=-2147483648),
    ],
    state=(2147483647, -1, 1, 0),
    chans=[(9007199254740993, 2147483647), (5, 1)],
    peers=[
        dict(kind="channel", id=100, hash=9223372036854775807, ckind=2,
             community=True, username="chan"),
        dict(kind="user", id=42, hash=-9223372036854775808, bot=True,
             username="bot_\u00fc", phone="+15551234567"),
        dict(kind="chat", id=100, hash=0),
        dict(kind="channel", id=7, hash=1, ckind=1),
    ],
    mins=[(43, 100, -1), (42, -1001234567890, 12345)],
    token=bytes([1, 2, 3]),
)

def main():
    root = os.path.join("tests", "data", "mtsession")
    files = {
        "v2/empty.bin": v2(EMPTY),
        "v2/small.bin": v2(SMALL),
        "v2/full.bin": v2(FULL),
        "v1/two_dcs.bin": v1(2, [
            (2, bytes(range(256)), 0x0102030405060708, -3,
             "149.154.167.51:443"),
            (2, None, 0, 0, "[2001:67c:4e8:f002::a]:443"),
        ]),
        "v1/empty.bin": v1(0, []),
    }
    for name, data in files.items():
        path = os.path.join(root, name)
        with open(path, "wb") as f:
            f.write(data)
        print(f"{path}: {len(data)} bytes")

if __name__ == "__main__":
    main()
