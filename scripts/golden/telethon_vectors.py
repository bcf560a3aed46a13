#!/usr/bin/python3
"""Golden Telethon StringSession vectors, written by Telethon itself.

Run with Debian's interpreter (python3-telethon): /usr/bin/python3.
Usage: telethon_vectors.py OUTDIR   (writes OUTDIR/telethon-string/*.txt)

Keys are fixed fake bytes, never real credentials.
"""
import os
import sys

import telethon
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

KEY_A = bytes(range(256))
KEY_B = bytes((255 - i) for i in range(256))

# name: (dc_id, address, port, key)
VECTORS = {
    "ipv4": (2, "149.154.167.51", 443, KEY_A),
    "ipv6": (4, "2001:67c:4e8:f004::a", 443, KEY_B),
    "ipv4_port80": (3, "149.154.175.100", 80, KEY_B),
}


def main():
    out = os.path.join(sys.argv[1], "telethon-string")
    os.makedirs(out, exist_ok=True)
    for name, (dc, addr, port, key) in VECTORS.items():
        s = StringSession()
        s.set_dc(dc, addr, port)
        s.auth_key = AuthKey(key)
        text = s.save()
        # Telethon must read its own string back to the same values.
        back = StringSession(text)
        assert (back.dc_id, back.server_address, back.port,
                back.auth_key.key) == (dc, addr, port, key), name
        with open(os.path.join(out, name + ".txt"), "w") as f:
            f.write(text + "\n")
    print("telethon", telethon.__version__)


if __name__ == "__main__":
    main()
