#!/usr/bin/python3
"""Round trips between this library's telethon-sqlite format and Telethon.

  telethon_sqlite.py TOOL WORKDIR

TOOL is the built fmt_tool (tests/formats_files/fmt_tool.c). Steps:
  1. TOOL writes its fixed session as a Telethon `.session`; Telethon's own
     SQLiteSession opens it and must see exactly the DC, address, port,
     key, update states and entities (looked up by id, username and
     phone) that the session holds.
  2. Telethon then changes the file as a client does (new entities, new
     update state, a channel's pts) and saves it; TOOL must read back
     exactly what Telethon wrote.
  3. Telethon writes a new session from scratch; TOOL must read it.
A missing Telethon (Debian's python3-telethon) is a failure, never a skip.
Ends with "N passed, N failed"; exits 1 if anything failed.
"""
import datetime
import os
import subprocess
import sys

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what + (": " + detail if detail else ""))


def finish():
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


try:
    from telethon.crypto import AuthKey
    from telethon.sessions import SQLiteSession
    from telethon.tl import types
except ImportError as e:
    check(False, "import telethon",
          "%s (install Debian's python3-telethon)" % e)
    finish()

UTC = datetime.timezone.utc
KEY = bytes(range(256))


def tool(*args):
    r = subprocess.run([TOOL] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("fmt_tool %s: %s" % (" ".join(args),
                                               r.stderr.strip()))
    return r.stdout


def dump_lines(path):
    return tool("dump", "telethon-sqlite", path).splitlines()


def peer_line(kind, pid, h, user=None, phone=None):
    return ("peer %s %d hash %d kind - bot 0 community 0 username %s "
            "phone %s" % (kind, pid, h, user or "-", phone or "-"))


def step1_telethon_reads_ours(path):
    tool("export", "telethon-sqlite", path)
    s = SQLiteSession(path)
    check(s.dc_id == 2, "dc_id", repr(s.dc_id))
    check(s.server_address == "149.154.167.51", "server_address",
          repr(s.server_address))
    check(s.port == 443, "port", repr(s.port))
    check(s.auth_key is not None and s.auth_key.key == KEY, "auth_key",
          s.auth_key.key.hex() if s.auth_key else "None")
    check(s.takeout_id is None, "takeout_id", repr(s.takeout_id))
    states = {i: st for i, st in s.get_update_states()}
    check(sorted(states) == [0, 1234567890, 1500000000], "update_state ids",
          repr(sorted(states)))
    if 0 in states:
        st = states[0]
        got = (st.pts, st.qts, int(st.date.timestamp()), st.seq)
        check(got == (1000, 20, 1700000123, 30), "common update state",
              repr(got))
    check(1234567890 in states and states[1234567890].pts == 55,
          "channel 1234567890 pts")
    check(1500000000 in states and states[1500000000].pts == 66,
          "channel 1500000000 pts")
    want = [
        (777000, types.InputPeerUser(777000, -5612345678901234567)),
        ("telegram", types.InputPeerUser(777000, -5612345678901234567)),
        ("@Telegram", types.InputPeerUser(777000, -5612345678901234567)),
        ("+42777", types.InputPeerUser(777000, -5612345678901234567)),
        (5000801609, types.InputPeerUser(5000801609, 123456789)),
        ("+15551234567", types.InputPeerUser(5000801609, 123456789)),
        (42, types.InputPeerUser(42, -1)),
        ("some_bot", types.InputPeerUser(42, -1)),
        (-100, types.InputPeerChat(100)),
        (-1001234567890, types.InputPeerChannel(1234567890, 987654321)),
        ("news_channel", types.InputPeerChannel(1234567890, 987654321)),
        (types.PeerChannel(1500000000),
         types.InputPeerChannel(1500000000, -77)),
    ]
    for key, peer in want:
        try:
            got = s.get_input_entity(key)
        except Exception as e:  # a failed lookup is a failed check
            got = "%s: %s" % (type(e).__name__, e)
        check(got == peer, "entity %r" % (key,), "got %r" % (got,))
    s.close()


def step2_we_read_telethons_changes(path):
    s = SQLiteSession(path)
    s.process_entities(types.contacts.ResolvedPeer(
        peer=types.PeerUser(1), chats=[types.Channel(
            id=1500000000, title="renamed", photo=types.ChatPhotoEmpty(),
            date=None, access_hash=-78, username="SuperGroup",
            megagroup=True)],
        users=[types.User(id=1, access_hash=2, first_name="New",
                          username="NewUser", phone="3805012345")]))
    s.set_update_state(0, types.updates.State(
        2000, 21, datetime.datetime.fromtimestamp(1700000999, UTC), 31, 0))
    s.set_update_state(1234567890, types.updates.State(
        77, 0, datetime.datetime.now(), 0, 0))
    s.save()
    s.close()
    got = dump_lines(path)
    want = [
        "home 2",
        "test 0",
        "dc 2 149.154.167.51 443 flags 0 salt 0 offset 0 key " + KEY.hex(),
        "state 2000 21 1700000999 31",
        "channel 1234567890 77",
        "channel 1500000000 66",
        peer_line("user", 1, 2, "newuser", "3805012345"),
        peer_line("user", 42, -1, "some_bot"),
        peer_line("user", 777000, -5612345678901234567, "telegram", "42777"),
        peer_line("user", 5000801609, 123456789, None, "15551234567"),
        peer_line("chat", 100, 0),
        peer_line("channel", 1234567890, 987654321, "news_channel"),
        peer_line("channel", 1500000000, -78, "supergroup"),
        "min_peers 0",
    ]
    check(got == want, "our reading of Telethon's changes",
          "\n  got:  " + "\n        ".join(got) +
          "\n  want: " + "\n        ".join(want))


def step3_we_read_a_new_telethon_session(path):
    s = SQLiteSession(path)
    s.set_dc(4, "2001:67c:4e8:f004::a", 443)
    s.auth_key = AuthKey(b"\x5a" * 256)
    s.process_entities(types.contacts.ResolvedPeer(
        peer=types.PeerUser(7), chats=[types.Chat(
            id=55, title="g", photo=types.ChatPhotoEmpty(),
            participants_count=1, date=None, version=1)],
        users=[types.User(id=7, access_hash=-9, first_name="x")]))
    s.save()
    s.close()
    got = dump_lines(path)
    want = [
        "home 4",
        "test 0",
        "dc 4 2001:67c:4e8:f004::a 443 flags 1 salt 0 offset 0 key " +
        (b"\x5a" * 256).hex(),
        "state 0 0 0 0",
        peer_line("user", 7, -9),
        peer_line("chat", 55, 0),
        "min_peers 0",
    ]
    check(got == want, "our reading of a new Telethon session",
          "\n  got:  " + "\n        ".join(got) +
          "\n  want: " + "\n        ".join(want))


def main():
    global TOOL
    if len(sys.argv) != 3:
        print("usage: telethon_sqlite.py TOOL WORKDIR", file=sys.stderr)
        sys.exit(2)
    TOOL, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    ours = os.path.join(work, "ours.session")
    new = os.path.join(work, "telethon-new.session")
    for p in (ours, new):
        if os.path.exists(p):
            os.remove(p)
    for step in (lambda: step1_telethon_reads_ours(ours),
                 lambda: step2_we_read_telethons_changes(ours),
                 lambda: step3_we_read_a_new_telethon_session(new)):
        try:
            step()
        except Exception as e:
            check(False, "step", "%s: %s" % (type(e).__name__, e))
    finish()


if __name__ == "__main__":
    main()
