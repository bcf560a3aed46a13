#!/usr/bin/env python3
"""Write Telethon `.session` test files with Telethon itself.

Every file here is produced by Telethon 1.x's own SQLiteSession (Debian
package python3-telethon), so the C reader is checked against real files.
The entity rows carry the time of generation in their `date` column, which
the reader ignores. Run from the repository root with the Python that has
Telethon (on Debian, /usr/bin/python3):

    /usr/bin/python3 scripts/golden/telethon_sqlite.py

It writes tests/data/formats/telethon-sqlite/{golden,fresh,ipv6}.session.
"""
import datetime
import os

import telethon
from telethon.crypto import AuthKey
from telethon.sessions import SQLiteSession
from telethon.tl import types

OUT = os.path.join("tests", "data", "formats", "telethon-sqlite")
UTC = datetime.timezone.utc


def fresh_path(name):
    path = os.path.join(OUT, name)
    for p in (path + ".session", path + ".session-journal"):
        if os.path.exists(p):
            os.remove(p)
    return path


def golden():
    s = SQLiteSession(fresh_path("golden"))
    s.set_dc(2, "149.154.167.51", 443)
    s.auth_key = AuthKey(bytes(range(256)))
    users = [
        types.User(id=777000, access_hash=-5612345678901234567,
                   first_name="Telegram", username="Telegram", phone="42777"),
        types.User(id=5000801609, access_hash=123456789, first_name="Bob",
                   phone="15551234567"),
        types.User(id=42, access_hash=-1, first_name="A bot",
                   username="Some_Bot", bot=True),
    ]
    chats = [
        types.Chat(id=100, title="a group", photo=types.ChatPhotoEmpty(),
                   participants_count=3, date=None, version=1),
        types.Channel(id=1234567890, title="news",
                      photo=types.ChatPhotoEmpty(), date=None,
                      access_hash=987654321, username="news_channel",
                      broadcast=True),
        types.Channel(id=1500000000, title="a supergroup",
                      photo=types.ChatPhotoEmpty(), date=None,
                      access_hash=-77, megagroup=True),
    ]
    s.process_entities(types.contacts.ResolvedPeer(
        peer=types.PeerUser(777000), chats=chats, users=users))
    s.set_update_state(0, types.updates.State(
        pts=100, qts=5, date=datetime.datetime.fromtimestamp(1700000000, UTC),
        seq=7, unread_count=0))
    # Channel rows as Telethon's client writes them: local time, 0 qts/seq.
    s.set_update_state(1234567890, types.updates.State(
        17, 0, datetime.datetime.now(), 0, unread_count=0))
    s.set_update_state(1500000000, types.updates.State(
        2147483647, 0, datetime.datetime.now(), 0, unread_count=0))
    s.save()
    s.close()


def fresh():
    # A session Telethon created and never connected.
    s = SQLiteSession(fresh_path("fresh"))
    s.save()
    s.close()


def ipv6():
    s = SQLiteSession(fresh_path("ipv6"))
    s.set_dc(4, "2001:67c:4e8:f004::a", 443)
    s.auth_key = AuthKey(b"\xab" * 256)
    s.save()
    s.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    golden()
    fresh()
    ipv6()
    with open(os.path.join(OUT, "PROVENANCE"), "w") as f:
        f.write("# Who wrote these files (regenerate: /usr/bin/python3 "
                "scripts/golden/telethon_sqlite.py)\n"
                "*.session: Telethon %s's own SQLiteSession (Debian "
                "python3-telethon), scripts/golden/telethon_sqlite.py\n"
                % telethon.__version__)
    print("Telethon", telethon.__version__)


if __name__ == "__main__":
    main()
