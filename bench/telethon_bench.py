#!/usr/bin/python3
"""telethon_bench.py - Telethon's SQLite session on the workloads of the
mtsession benchmarks, for a side-by-side comparison.

Runs with the system Python and Debian's python3-telethon. Writes
bench/out/telethon.tsv (MTS_BENCH_OUT overrides the directory) in the
format of bench/bench_common.h:

  workload  variant  peers  runs  median  min  max  unit

Rows (seconds per operation):
  sql_save  telethon_process      N  process_entities(N entities) into a
                                     new session file (rows inserted, not
                                     committed)
  sql_save  telethon_commit       N  save() after it (the commit: durable)
  sql_save  telethon              N  the two together: the full save
  sql_save  telethon_incremental  N  process_entities of the 1% of the
                                     entities that changed, then save()
  sql_load  telethon_open         N  SQLiteSession(path): Telethon reads
                                     only its sessions table on open; the
                                     entities stay in SQLite
  peer_get  telethon              N  get_entity_rows_by_id(marked id),
                                     random entities: Telethon's lookup
  apply     telethon              N  set_update_state + save(): one
                                     durable update-state change
  apply     floor_py              N  os.write of 32 bytes + os.fdatasync,
                                     interleaved with the calls above

The entity set is bench_common.h's peer set: entity i is a User, a Chat or
a Channel by i % 3, bare id (i // 3) * 7919 + 1000, the access hash from
i (none for chats), username "user<i>" for every fourth. Telethon stores
marked ids, so the three kinds never collide.

  telethon_bench.py [--quick] [--runs N]
"""

import datetime
import os
import random
import sqlite3
import statistics
import sys
import time

try:
    from telethon.sessions import SQLiteSession
    from telethon.tl import types
    import telethon
except ImportError as e:
    sys.stderr.write("telethon_bench: python3-telethon is not installed (%s)\n" % e)
    sys.exit(3)

SIZES = (1000, 10000, 100000, 1000000)
APPLY_CALLS = 200
LOOKUPS = 20000
GOLDEN = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def runs_for(n, forced):
    if forced:
        return forced
    return 21 if n <= 1000 else 15 if n <= 10000 else 9 if n <= 100000 else 5


def signed64(v):
    v &= MASK
    return v - (1 << 64) if v >= 1 << 63 else v


def bare_id(i):
    return (i // 3) * 7919 + 1000


def make_entity(i, salt=0):
    ident = bare_id(i)
    ahash = signed64((i + 1) * GOLDEN) ^ salt
    name = "user%d" % i if i % 4 == 0 else None
    kind = i % 3
    if kind == 0:
        return types.User(id=ident, access_hash=ahash, username=name)
    if kind == 1:
        return types.Chat(id=ident, title="", photo=types.ChatPhotoEmpty(),
                          participants_count=0, date=None, version=0)
    return types.Channel(id=ident, title="", photo=types.ChatPhotoEmpty(),
                         date=None, access_hash=ahash, username=name)


def marked_id(i):
    kind = i % 3
    if kind == 0:
        return bare_id(i)
    if kind == 1:
        return -bare_id(i)
    return -(1000000000000 + bare_id(i))


class Out:
    def __init__(self, path):
        self.f = open(path, "w")
        self.f.write("workload\tvariant\tpeers\truns\tmedian\tmin\tmax\tunit\n")

    def row(self, workload, variant, n, samples, unit="s"):
        s = sorted(samples)
        med = statistics.median(s)
        self.f.write("%s\t%s\t%d\t%d\t%.9g\t%.9g\t%.9g\t%s\n"
                     % (workload, variant, n, len(s), med, s[0], s[-1], unit))
        self.f.flush()
        k, u = (1e6, "us") if med < 1e-3 else (1e3, "ms")
        print("  %-12s %-28s %8d  %12.3f %s  (min %.3f, max %.3f, %d runs)"
              % (workload, variant, n, med * k, u, s[0] * k, s[-1] * k,
                 len(s)), flush=True)

    def close(self):
        self.f.close()


def remove_session(path):
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


def main(argv):
    quick = "--quick" in argv
    forced = 0
    if "--runs" in argv:
        forced = int(argv[argv.index("--runs") + 1])
    out_dir = os.environ.get("MTS_BENCH_OUT") or "bench/out"
    tmp = os.path.join(out_dir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    out = Out(os.path.join(out_dir, "telethon.tsv"))
    path = os.path.join(tmp, "telethon_bench.session")
    floor_path = os.path.join(tmp, "telethon_floor.log")
    rng = random.Random(42)
    print("## telethon_bench (Telethon %s, SQLite %s, Python %s)"
          % (telethon.__version__, sqlite3.sqlite_version,
             sys.version.split()[0]), flush=True)

    sizes = [n for n in SIZES if not (quick and n >= 1000000)]
    entities = [make_entity(i) for i in range(max(sizes))]
    for n in sizes:
        runs = runs_for(n, forced)
        batch = entities[:n]
        t_proc, t_commit, t_total, t_inc, t_open = [], [], [], [], []
        for r in range(runs):
            remove_session(path)
            sess = SQLiteSession(path)
            t0 = time.perf_counter()
            sess.process_entities(batch)
            t1 = time.perf_counter()
            sess.save()
            t2 = time.perf_counter()
            sess.close()
            t_proc.append(t1 - t0)
            t_commit.append(t2 - t1)
            t_total.append(t2 - t0)

        # incremental: 1% of the entities changed, a different 1% each run
        sess = SQLiteSession(path)
        for r in range(runs):
            changed = []
            for j in range(0, n, 100):
                i = j + r % 100
                if i >= n:
                    break
                if i % 3 == 1 and i + 1 < n:
                    i += 1  # a chat has no access hash
                changed.append(make_entity(i, salt=(r + 1) << 20))
            t0 = time.perf_counter()
            sess.process_entities(changed)
            sess.save()
            t_inc.append(time.perf_counter() - t0)
        sess.close()

        for r in range(runs):
            t0 = time.perf_counter()
            sess = SQLiteSession(path)
            t_open.append(time.perf_counter() - t0)
            sess.close()

        out.row("sql_save", "telethon_process", n, t_proc)
        out.row("sql_save", "telethon_commit", n, t_commit)
        out.row("sql_save", "telethon", n, t_total)
        out.row("sql_save", "telethon_incremental", n, t_inc)
        out.row("sql_load", "telethon_open", n, t_open)

        # lookups by marked id, as Telethon's entity cache misses do
        sess = SQLiteSession(path)
        keys = [marked_id(rng.randrange(n)) for _ in range(LOOKUPS)]
        t_get = []
        for r in range(runs):
            t0 = time.perf_counter()
            for k in keys:
                if sess.get_entity_rows_by_id(k) is None:
                    raise SystemExit("telethon_bench: entity %d not found" % k)
            t_get.append((time.perf_counter() - t0) / LOOKUPS)
        out.row("peer_get", "telethon", n, t_get)

        # set_update_state + save, interleaved with the append floor
        t_apply, t_floor = [], []
        fd = os.open(floor_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                     | os.O_APPEND, 0o600)
        rec = bytes(32)
        base = datetime.datetime(2023, 11, 14, tzinfo=datetime.timezone.utc)
        for i in range(-5, APPLY_CALLS):
            st = types.updates.State(pts=1000 + i + 5, qts=10,
                                     date=base + datetime.timedelta(seconds=i + 5),
                                     seq=i + 5, unread_count=0)
            t0 = time.perf_counter()
            os.write(fd, rec)
            os.fdatasync(fd)
            t1 = time.perf_counter()
            sess.set_update_state(0, st)
            sess.save()
            t2 = time.perf_counter()
            if i >= 0:
                t_floor.append(t1 - t0)
                t_apply.append(t2 - t1)
        os.close(fd)
        os.remove(floor_path)
        sess.close()
        out.row("apply", "telethon", n, t_apply)
        out.row("apply", "floor_py", n, t_floor)
        remove_session(path)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
