#!/usr/bin/python3
"""Telethon's side of the interop tests (Debian's python3-telethon).

Reads a JSON array of requests on stdin, answers a JSON array on stdout:
  {"op": "read", "text": STRING}  -> {"dc", "ip", "port", "key"} as
                                      Telethon's StringSession loads them
  {"op": "write", "session": {"dc", "ip", "port", "key"}}
                                  -> {"text": StringSession.save()}
Errors become {"error": "..."} for that request.
"""
import json
import sys

from telethon.crypto import AuthKey
from telethon.sessions import StringSession


def read(text):
    s = StringSession(text)
    return {"dc": s.dc_id, "ip": s.server_address, "port": s.port,
            "key": s.auth_key.key.hex() if s.auth_key else None}


def write(sess):
    s = StringSession()
    s.set_dc(sess["dc"], sess["ip"], sess["port"])
    s.auth_key = AuthKey(bytes.fromhex(sess["key"]))
    return {"text": s.save()}


def main():
    out = []
    for req in json.load(sys.stdin):
        try:
            out.append(read(req["text"]) if req["op"] == "read"
                       else write(req["session"]))
        except Exception as e:  # report, do not stop the batch
            out.append({"error": "%s: %s" % (type(e).__name__, e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
