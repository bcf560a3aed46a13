#!/usr/bin/env python3
"""Write Pyrogram `.session` test files with Python's sqlite3.

Pyrogram itself is not packaged for this system, so these files are built
from Pyrogram 2.x's public storage schema (schema version 3, and the
version 2 layout whose sessions table has no api_id column), the way
Pyrogram's FileStorage creates and fills them. Run from the repository
root:

    python3 scripts/golden/pyrogram_sqlite.py

It writes tests/data/formats/pyrogram-sqlite/*.session.
"""
import os
import sqlite3

OUT = os.path.join("tests", "data", "formats", "pyrogram-sqlite")

SESSIONS_V3 = ("CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, "
               "api_id INTEGER, test_mode INTEGER, auth_key BLOB, "
               "date INTEGER NOT NULL, user_id INTEGER, is_bot INTEGER)")
SESSIONS_V2 = ("CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, "
               "test_mode INTEGER, auth_key BLOB, date INTEGER NOT NULL, "
               "user_id INTEGER, is_bot INTEGER)")
REST = [
    "CREATE TABLE peers (id INTEGER PRIMARY KEY, access_hash INTEGER, "
    "type INTEGER NOT NULL, username TEXT, phone_number TEXT, "
    "last_update_on INTEGER NOT NULL "
    "DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER)))",
    "CREATE TABLE version (number INTEGER PRIMARY KEY)",
    "CREATE INDEX idx_peers_id ON peers (id)",
    "CREATE INDEX idx_peers_username ON peers (username)",
    "CREATE INDEX idx_peers_phone_number ON peers (phone_number)",
    "CREATE TRIGGER trg_peers_last_update_on AFTER UPDATE ON peers BEGIN "
    "UPDATE peers SET last_update_on = "
    "CAST(STRFTIME('%s', 'now') AS INTEGER) WHERE id = NEW.id; END",
]

PEERS = [
    # (marked id, access_hash, type, username, phone_number)
    (777000, -5612345678901234567, "user", "telegram", "42777"),
    (5000801609, 123456789, "user", None, "15551234567"),
    (42, -1, "bot", "some_bot", None),
    (-100, 0, "group", None, None),
    (-1001234567890, 987654321, "channel", "news_channel", None),
    (-1001500000000, -77, "supergroup", None, None),
]


def create(name, version, sessions_sql):
    path = os.path.join(OUT, name)
    if os.path.exists(path):
        os.remove(path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sessions_sql)
        for sql in REST:
            conn.execute(sql)
        conn.execute("INSERT INTO version VALUES (?)", (version,))
    return conn


def fill_peers(conn):
    with conn:
        conn.executemany(
            "REPLACE INTO peers (id, access_hash, type, username, "
            "phone_number) VALUES (?, ?, ?, ?, ?)", PEERS)
        conn.execute("UPDATE peers SET last_update_on = 1700000000")


def main():
    os.makedirs(OUT, exist_ok=True)
    key = bytes(range(256))

    conn = create("golden.session", 3, SESSIONS_V3)
    with conn:
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (2, 3328759, 0, key, 1700000000, 5000801609, 0))
    fill_peers(conn)
    conn.execute("VACUUM")
    conn.close()

    # A new session exactly as Pyrogram creates it, before logging in.
    conn = create("fresh.session", 3, SESSIONS_V3)
    with conn:
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (2, None, None, None, 0, None, None))
    conn.close()

    # Schema version 2: no api_id column. A test-DC bot session.
    conn = create("v2.session", 2, SESSIONS_V2)
    with conn:
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                     (1, 1, b"\xab" * 256, 1600000000, 42, 1))
    fill_peers(conn)
    conn.close()

    # A version 2 file after Pyrogram's upgrade: api_id appended, version 3.
    conn = create("v2-upgraded.session", 2, SESSIONS_V2)
    with conn:
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                     (4, 0, key, 1600000000, 777, 0))
        conn.execute("ALTER TABLE sessions ADD api_id INTEGER")
        conn.execute("UPDATE version SET number = 3")
    conn.close()

    with open(os.path.join(OUT, "PROVENANCE"), "w") as f:
        f.write("# Who wrote these files (regenerate: "
                "scripts/golden/pyrogram_sqlite.py)\n"
                "*.session: built with Python's sqlite3 (SQLite %s) from "
                "Pyrogram 2.x's public storage schema, as its FileStorage "
                "creates and fills them; Pyrogram itself cannot be installed "
                "here.\n" % sqlite3.sqlite_version)

    # An unknown schema version.
    conn = create("v4.session", 4, SESSIONS_V3)
    with conn:
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (2, 1, 0, key, 0, None, None))
    conn.close()


if __name__ == "__main__":
    main()
