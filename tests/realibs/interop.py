#!/usr/bin/python3
"""Round trips between this library and the real client libraries.

  interop.py LIB TOOL [NODE]

LIB is telethon, gramjs, mtcute or pyrogram (Pyrogram's strings are
checked against @mtcute/convert's Pyrogram parser and serializer, as
Pyrogram itself cannot be installed here). TOOL is the built mts_strtool.

For each session of LIB's cases:
  - the library writes it, and our encoder must give the same string;
  - the library reads our string back to the same fields;
  - we read the library's string back to the same fields.
A missing runtime (python3-telethon, node, tests/realibs/node/node_modules)
is a failure, never a skip: scripts/install-deps.sh installs them.
Ends with "N passed, N failed"; exits 1 if anything failed.
"""
import ipaddress
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")

KEY_A = bytes(range(256)).hex()
KEY_B = bytes(255 - i for i in range(256)).hex()
KEY_C = bytes((i * 7 + 3) & 255 for i in range(256)).hex()

ONE_DC = [
    {"dc": 2, "ip": "149.154.167.51", "port": 443, "key": KEY_A},
    {"dc": 4, "ip": "2001:67c:4e8:f004::a", "port": 443, "key": KEY_B},
    {"dc": 5, "ip": "91.108.56.130", "port": 80, "key": KEY_C},
    {"dc": 1, "ip": "149.154.175.53", "port": 32767, "key": KEY_B},
    {"dc": 255, "ip": "2001:b28:f23d:f001::e", "port": 1, "key": KEY_C},
]

CASES = {
    "telethon": ONE_DC,
    "gramjs": ONE_DC,
    "mtcute": [
        {"dc": 2, "ip": "149.154.167.50", "port": 443, "key": KEY_A},
        {"dc": 2, "ip": "149.154.167.50", "port": 443, "key": KEY_A,
         "media": {"dc": 2, "ip": "149.154.167.222", "port": 443},
         "user_id": 123456789, "is_bot": False},
        {"dc": 1, "ip": "2001:b28:f23d:f001::e", "port": 443, "key": KEY_B,
         "test": True, "user_id": 5000801609, "is_bot": True},
        {"dc": 4, "ip": "2001:67c:4e8:f004::a", "port": 80, "key": KEY_C,
         "media": {"dc": 4, "ip": "2001:67c:4e8:f004::b", "port": 443},
         "user_id": 9007199254740991, "is_bot": False},
    ],
    "pyrogram": [
        {"dc": 2, "key": KEY_A, "api_id": 12345, "test": False,
         "user_id": 123456789, "is_bot": False},
        {"dc": 1, "key": KEY_B, "api_id": 2040, "test": True,
         "user_id": 5000801609, "is_bot": True},
        {"dc": 5, "key": KEY_C, "api_id": 2147483647, "test": False,
         "user_id": 1, "is_bot": False},
    ],
}

FORMAT = {"telethon": "telethon-string", "gramjs": "gramjs-string",
          "mtcute": "mtcute-string", "pyrogram": "pyrogram-string"}

# Pyrogram strings carry no address: this library reads the default one.
PYROGRAM_ADDR = {(False, 1): "149.154.175.53", (False, 2): "149.154.167.51",
                 (False, 5): "91.108.56.130", (True, 1): "149.154.175.10"}

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what + (": " + detail if detail else ""))


def norm_ip(text):
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return "not an IP address: %r" % (text,)


def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def lib_batch(lib, node, requests):
    """The real library's answers, or an error string."""
    payload = json.dumps(requests)
    if lib == "telethon":
        cmd = [sys.executable, os.path.join(HERE, "telethon_session.py")]
        missing = "Telethon is not installed (Debian package python3-telethon)"
    else:
        if not os.path.isdir(os.path.join(NODE_DIR, "node_modules")):
            return "tests/realibs/node/node_modules is missing: run " \
                   "`npm ci` there (scripts/install-deps.sh does)"
        script = {"gramjs": ["gramjs_session.cjs"],
                  "mtcute": ["mtcute_session.mjs", "mtcute"],
                  "pyrogram": ["mtcute_session.mjs", "pyrogram"]}[lib]
        cmd = [node, os.path.join(NODE_DIR, script[0])] + script[1:]
        missing = "node could not run the %s script" % lib
    try:
        rc, out, err = run(cmd, payload)
    except OSError as e:
        return "%s: %s" % (missing, e)
    if rc != 0:
        return "%s: %s" % (missing, err.strip().splitlines()[-1:] or rc)
    return json.loads(out)


def tool_encode(tool, fmt, s):
    args = [tool, "encode", fmt, "dc=%d" % s["dc"], "key=" + s["key"]]
    if fmt == "pyrogram-string":
        args += ["ip=" + PYROGRAM_ADDR[(s["test"], s["dc"])], "port=443",
                 "api_id=%d" % s["api_id"]]
    else:
        args += ["ip=" + s["ip"], "port=%d" % s["port"]]
    if s.get("test"):
        args.append("test=1")
    if s.get("user_id") is not None:
        args += ["user_id=%d" % s["user_id"], "is_bot=%d" % s["is_bot"]]
    if s.get("media"):
        args += ["media_ip=" + s["media"]["ip"],
                 "media_port=%d" % s["media"]["port"]]
    rc, out, err = run(args)
    return out.strip() if rc == 0 else None, err.strip()


def tool_decode(tool, fmt, text):
    rc, out, err = run([tool, "decode", fmt, text])
    return (json.loads(out) if rc == 0 else None), err.strip()


def expected_fields(lib, s):
    """What this library must read back from a string of session s."""
    if lib == "pyrogram":
        return {"dc": s["dc"], "key": s["key"], "test": s["test"],
                "api_id": s["api_id"], "user_id": s["user_id"],
                "is_bot": s["is_bot"]}
    e = {"dc": s["dc"], "ip": norm_ip(s["ip"]), "port": s["port"],
         "key": s["key"]}
    if lib == "mtcute":
        e.update(test=bool(s.get("test")), user_id=s.get("user_id"),
                 is_bot=s.get("is_bot"),
                 media=dict(s["media"], ip=norm_ip(s["media"]["ip"]))
                 if s.get("media") else None)
    return e


def pick(got, want):
    """got restricted to want's keys, addresses normalised."""
    out = {}
    for k in want:
        v = got.get(k)
        if k == "ip" and isinstance(v, str):
            v = norm_ip(v)
        if k == "media" and isinstance(v, dict):
            v = {"dc": v.get("dc"), "ip": norm_ip(v.get("ip", "")),
                 "port": v.get("port")}
        out[k] = v
    return out


def same(what, got, want):
    got = pick(got, want)
    diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    check(not diff, what, "got/want " + repr(diff)[:400])


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in CASES:
        print(__doc__, file=sys.stderr)
        return 2
    lib, tool = sys.argv[1], sys.argv[2]
    node = sys.argv[3] if len(sys.argv) > 3 else "node"
    fmt = FORMAT[lib]
    cases = CASES[lib]

    # 1. The library writes every case; we write every case.
    theirs = lib_batch(lib, node, [{"op": "write", "session": s}
                                   for s in cases])
    if isinstance(theirs, str):
        check(False, "%s is available" % lib, theirs)
        return finish()
    ours = []
    for i, s in enumerate(cases):
        text, err = tool_encode(tool, fmt, s)
        ours.append(text)
        check(text is not None, "case %d: we write %s" % (i, fmt), err)
        if "error" in theirs[i]:
            check(False, "case %d: %s writes it" % (i, lib), theirs[i]["error"])
            continue
        check(text == theirs[i]["text"],
              "case %d: our %s is the string %s writes" % (i, fmt, lib),
              "ours %r, theirs %r" % (text, theirs[i]["text"]))

    # 2. The library reads our strings.
    reads = lib_batch(lib, node, [{"op": "read", "text": t or ""}
                                  for t in ours])
    if isinstance(reads, str):
        check(False, "%s reads" % lib, reads)
        return finish()
    for i, s in enumerate(cases):
        if "error" in reads[i]:
            check(False, "case %d: %s reads our string" % (i, lib),
                  reads[i]["error"])
        else:
            same("case %d: %s reads our string to the same fields" % (i, lib),
                 reads[i], expected_fields(lib, s))

    # 3. We read the library's strings.
    for i, s in enumerate(cases):
        if "error" in theirs[i]:
            continue
        got, err = tool_decode(tool, fmt, theirs[i]["text"])
        if got is None:
            check(False, "case %d: we read %s's string" % (i, lib), err)
            continue
        want = expected_fields(lib, s)
        if lib == "pyrogram":
            want["ip"] = PYROGRAM_ADDR[(s["test"], s["dc"])]
            want["port"] = 443
        if lib in ("telethon", "gramjs"):
            want.update(test=False, api_id=None, user_id=None, dcs=1)
        same("case %d: we read %s's string to the same fields" % (i, lib),
             got, want)

    # 4. GramJS reads Telethon's strings, and so must our gramjs reader.
    if lib == "gramjs":
        tl = lib_batch("telethon", node, [{"op": "write", "session": s}
                                          for s in cases])
        if isinstance(tl, str):
            check(False, "telethon is available", tl)
            return finish()
        for i, s in enumerate(cases):
            got, err = tool_decode(tool, "gramjs-string", tl[i]["text"])
            if got is None:
                check(False, "case %d: our gramjs reader takes Telethon's "
                      "string" % i, err)
            else:
                same("case %d: our gramjs reader takes Telethon's string" % i,
                     got, expected_fields("telethon", s))
        gj = lib_batch("gramjs", node, [{"op": "read", "text": t["text"]}
                                        for t in tl])
        if isinstance(gj, str):
            check(False, "gramjs reads", gj)
            return finish()
        for i, s in enumerate(cases):
            same("case %d: GramJS reads Telethon's string" % i, gj[i],
                 expected_fields("gramjs", s))
    return finish()


def finish():
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
