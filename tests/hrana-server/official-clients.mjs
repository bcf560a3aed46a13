#!/usr/bin/env node
// official-clients.mjs - prove the Hrana test server is faithful by running
// the official libSQL clients against it: @libsql/client in its HTTP mode
// (Hrana 2, /v2/pipeline, stored SQL, batons across requests) and
// @tursodatabase/serverless (Hrana 3, /v3/pipeline and /v3/cursor, describe,
// get_autocommit, is_autocommit conditions).
//
// Usage: node official-clients.mjs URL TOKEN   (or --port-file FILE TOKEN)
// Every check compares exact values; the script ends with
// "N passed, N failed" and exits 1 on any mismatch.

import assert from "node:assert/strict";
import fs from "node:fs";

import { createClient } from "@libsql/client";
import { connect } from "@tursodatabase/serverless";

const argv = process.argv.slice(2);
let url = argv[0];
let authToken = argv[1];
if (url === "--port-file" && argv.length === 3) {
    url = `http://127.0.0.1:${fs.readFileSync(argv[1], "utf8").trim()}`;
    authToken = argv[2];
}
if (!url || !authToken) {
    process.stderr.write("usage: official-clients.mjs URL TOKEN | --port-file FILE TOKEN\n");
    process.exit(2);
}

let passed = 0;
let failed = 0;

async function check(name, fn) {
    try {
        await fn();
        passed++;
        process.stdout.write(`ok - ${name}\n`);
    } catch (e) {
        failed++;
        process.stdout.write(`not ok - ${name}: ${e?.stack ?? e}\n`);
    }
}

async function rejects(promise, what) {
    try {
        await promise;
    } catch (e) {
        return e;
    }
    throw new Error(`${what}: expected an error, got success`);
}

async function stats() {
    const r = await fetch(`${url}/_test/stats`, { headers: { authorization: `Bearer ${authToken}` } });
    assert.equal(r.status, 200);
    return (await r.json()).requests;
}

const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const bytesOf = (x) => Array.from(new Uint8Array(x instanceof ArrayBuffer ? x : x.buffer ?
    x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength) : x));

// ---- @libsql/client, HTTP (Hrana 2) ---------------------------------------

const lc = createClient({ url, authToken, intMode: "bigint" });

await check("libsql-client: create tables", async () => {
    await lc.execute("DROP TABLE IF EXISTS oc_vals");
    await lc.execute("DROP TABLE IF EXISTS oc_kv");
    await lc.execute("CREATE TABLE oc_vals(id INTEGER PRIMARY KEY, i INTEGER, f REAL, t TEXT, b BLOB, n)");
    await lc.execute("CREATE TABLE oc_kv(k TEXT PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0))");
});

await check("libsql-client: 64-bit integers, floats, text, blobs, null", async () => {
    const r1 = await lc.execute({
        sql: "INSERT INTO oc_vals(id, i, f, t, b, n) VALUES (?, ?, ?, ?, ?, ?)",
        args: [1n, I64_MAX, 1.5, "héllo ✓ end", ALL_BYTES, null],
    });
    assert.equal(r1.rowsAffected, 1);
    assert.equal(r1.lastInsertRowid, 1n);
    const r2 = await lc.execute({
        sql: "INSERT INTO oc_vals(id, i, f, t, b, n) VALUES (?, ?, ?, ?, ?, ?)",
        args: [2n, I64_MIN, -0.25, "", new Uint8Array([0]), null],
    });
    assert.equal(r2.lastInsertRowid, 2n);
    const rs = await lc.execute("SELECT id, i, f, t, b, n, typeof(i) AS ti, typeof(f) AS tf FROM oc_vals ORDER BY id");
    assert.deepEqual(rs.columns, ["id", "i", "f", "t", "b", "n", "ti", "tf"]);
    assert.equal(rs.rows.length, 2);
    const [a, b] = rs.rows;
    assert.equal(a.i, I64_MAX);
    assert.equal(b.i, I64_MIN);
    assert.equal(a.f, 1.5);
    assert.equal(b.f, -0.25);
    assert.equal(a.t, "héllo ✓ end");
    assert.equal(b.t, "");
    assert.deepEqual(bytesOf(a.b), Array.from(ALL_BYTES));
    assert.deepEqual(bytesOf(b.b), [0]);
    assert.equal(a.n, null);
    assert.equal(a.ti, "integer");
    assert.equal(a.tf, "real");
    // Arithmetic on the server keeps all 64 bits.
    const sum = await lc.execute({ sql: "SELECT ? - 1 AS x", args: [I64_MAX] });
    assert.equal(sum.rows[0].x, I64_MAX - 1n);
});

await check("libsql-client: named arguments", async () => {
    const rs = await lc.execute({ sql: "SELECT :a AS a, @b AS b, $c AS c", args: { a: 42n, b: "x", c: null } });
    assert.equal(rs.rows[0].a, 42n);
    assert.equal(rs.rows[0].b, "x");
    assert.equal(rs.rows[0].c, null);
});

await check("libsql-client: write batch commits", async () => {
    const res = await lc.batch([
        { sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["a", 1n] },
        { sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["b", 2n] },
        { sql: "UPDATE oc_kv SET v = v + 10 WHERE k = ?", args: ["a"] },
        "SELECT k, v FROM oc_kv ORDER BY k",
    ], "write");
    assert.equal(res.length, 4);
    assert.equal(res[2].rowsAffected, 1);
    assert.deepEqual(res[3].rows.map((r) => [r.k, r.v]), [["a", 11n], ["b", 2n]]);
});

await check("libsql-client: failing batch rolls back, code SQLITE_CONSTRAINT", async () => {
    const e = await rejects(lc.batch([
        { sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["c", 3n] },
        { sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["a", 1n] }, // duplicate key
        { sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["d", 4n] },
    ], "write"), "duplicate key");
    assert.equal(e.code, "SQLITE_CONSTRAINT");
    assert.match(e.message, /UNIQUE constraint failed: oc_kv\.k/);
    const rs = await lc.execute("SELECT count(*) AS n FROM oc_kv");
    assert.equal(rs.rows[0].n, 2n);
});

await check("libsql-client: interactive transaction across requests", async () => {
    const tx = await lc.transaction("write");
    await tx.execute({ sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["t1", 5n] });
    const inside = await tx.execute("SELECT count(*) AS n FROM oc_kv");
    assert.equal(inside.rows[0].n, 3n);
    await tx.rollback();
    tx.close();
    let rs = await lc.execute("SELECT count(*) AS n FROM oc_kv");
    assert.equal(rs.rows[0].n, 2n);

    const tx2 = await lc.transaction("write");
    await tx2.execute({ sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["t2", 6n] });
    await tx2.batch([{ sql: "UPDATE oc_kv SET v = v + 1 WHERE k = ?", args: ["t2"] }]);
    await tx2.commit();
    tx2.close();
    rs = await lc.execute({ sql: "SELECT v FROM oc_kv WHERE k = ?", args: ["t2"] });
    assert.equal(rs.rows[0].v, 7n);
});

await check("libsql-client: error codes", async () => {
    let e = await rejects(lc.execute("SELEC 1"), "syntax error");
    assert.equal(e.code, "SQL_PARSE_ERROR");
    e = await rejects(lc.execute({ sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["neg", -1n] }), "check");
    assert.equal(e.code, "SQLITE_CONSTRAINT");
    assert.match(e.message, /CHECK constraint failed/);
    e = await rejects(lc.execute("SELECT 1; SELECT 2"), "two statements");
    assert.equal(e.code, "SQL_MANY_STATEMENTS");
    e = await rejects(lc.execute({ sql: "SELECT ?", args: [1n, 2n] }), "too many args");
    assert.equal(e.code, "ARGS_INVALID");
    e = await rejects(lc.execute("SELECT * FROM oc_missing"), "missing table");
    assert.match(e.message, /no such table: oc_missing/);
});

await check("libsql-client: executeMultiple (sequence)", async () => {
    await lc.executeMultiple("INSERT INTO oc_kv VALUES ('s1', 1); INSERT INTO oc_kv VALUES ('s2', 2);");
    const rs = await lc.execute("SELECT count(*) AS n FROM oc_kv WHERE k IN ('s1', 's2')");
    assert.equal(rs.rows[0].n, 2n);
});

await check("libsql-client: wrong token is refused with HTTP 401", async () => {
    const bad = createClient({ url, authToken: `${authToken}-wrong`, intMode: "bigint" });
    const e = await rejects(bad.execute("SELECT 1"), "wrong token");
    assert.equal(e.code, "SERVER_ERROR");
    assert.match(e.message, /401/);
    bad.close();
});

await check("libsql-client: spoke Hrana 2 over /v2/pipeline", async () => {
    const s = await stats();
    assert.ok((s["POST /v2/pipeline"] ?? 0) >= 10, JSON.stringify(s));
});

lc.close();

// ---- @tursodatabase/serverless (Hrana 3) ----------------------------------

const ts = connect({ url, authToken });

await check("serverless: describe, 64-bit and blob values", async () => {
    const stmt = await ts.prepare("SELECT i, f, t, b, n FROM oc_vals WHERE id = ?");
    assert.deepEqual(stmt.columns().map((c) => c.name), ["i", "f", "t", "b", "n"]);
    stmt.safeIntegers(true);
    const row = await stmt.get([1]);
    assert.equal(row.i, I64_MAX);
    assert.equal(row.f, 1.5);
    assert.equal(row.t, "héllo ✓ end");
    assert.deepEqual(bytesOf(row.b), Array.from(ALL_BYTES));
    assert.equal(row.n, null);
    const row2 = await stmt.get([2]);
    assert.equal(row2.i, I64_MIN);
});

await check("serverless: run with 64-bit parameters", async () => {
    const r = await ts.run("INSERT INTO oc_vals(id, i, b) VALUES (?, ?, ?)", [3, I64_MAX - 5n, Buffer.from([255, 0, 1])]);
    assert.equal(r.changes, 1);
    const stmt = await ts.prepare("SELECT i, b FROM oc_vals WHERE id = 3");
    stmt.safeIntegers(true);
    const row = await stmt.get();
    assert.equal(row.i, I64_MAX - 5n);
    assert.deepEqual(bytesOf(row.b), [255, 0, 1]);
});

await check("serverless: atomic batch commits and rolls back", async () => {
    await ts.batch([
        { sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["x1", 1] },
        { sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["x2", 2] },
    ], "write");
    const e = await rejects(ts.batch([
        { sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["x3", 3] },
        { sql: "INSERT INTO oc_kv VALUES (?, ?)", args: ["x1", 1] },
    ], "write"), "duplicate");
    assert.equal(e.code, "SQLITE_CONSTRAINT");
    const all = await ts.all("SELECT k FROM oc_kv WHERE k LIKE 'x%' ORDER BY k");
    assert.deepEqual(all.map((r) => r.k), ["x1", "x2"]);
    assert.equal(ts.inTransaction, false);
});

await check("serverless: transaction state via get_autocommit", async () => {
    await ts.exec("BEGIN");
    assert.equal(ts.inTransaction, true);
    await ts.run("INSERT INTO oc_kv VALUES (?, ?)", ["y1", 1]);
    await ts.exec("ROLLBACK");
    assert.equal(ts.inTransaction, false);
    const row = await ts.get("SELECT count(*) AS n FROM oc_kv WHERE k = 'y1'");
    assert.equal(row.n, 0);
    const tx = ts.transactionAsync(async (t) => {
        await t.run("INSERT INTO oc_kv VALUES (?, ?)", ["y2", 2]);
    });
    await tx.immediate();
    const row2 = await ts.get("SELECT v FROM oc_kv WHERE k = 'y2'");
    assert.equal(row2.v, 2);
});

await check("serverless: error codes", async () => {
    let e = await rejects(ts.run("SELEC 1"), "syntax");
    assert.equal(e.code, "SQL_PARSE_ERROR");
    e = await rejects(ts.run("INSERT INTO oc_kv VALUES ('neg', -1)"), "check");
    assert.equal(e.code, "SQLITE_CONSTRAINT");
    const bad = connect({ url, authToken: `${authToken}-wrong` });
    e = await rejects(bad.run("SELECT 1"), "wrong token");
    assert.match(e.message, /401/);
});

await check("serverless: spoke Hrana 3 over /v3/pipeline and /v3/cursor", async () => {
    const s = await stats();
    assert.ok((s["POST /v3/cursor"] ?? 0) >= 5, JSON.stringify(s));
    assert.ok((s["POST /v3/pipeline"] ?? 0) >= 1, JSON.stringify(s));
});

await ts.close();

// Leave the database empty for the suites that run next on this server.
await check("cleanup: drop the tables", async () => {
    const c = createClient({ url, authToken });
    await c.execute("DROP TABLE IF EXISTS oc_vals");
    await c.execute("DROP TABLE IF EXISTS oc_kv");
    const rs = await c.execute("SELECT count(*) AS n FROM sqlite_master WHERE name LIKE 'oc\\_%' ESCAPE '\\'");
    assert.equal(Number(rs.rows[0].n), 0);
    c.close();
});

process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
