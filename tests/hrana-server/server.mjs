#!/usr/bin/env node
// server.mjs - a Hrana-over-HTTP server for mtsession's tests, on the libSQL
// engine (the npm package "libsql").
//
// It serves what a libSQL server (sqld) serves to HTTP clients, as far as
// the official clients and mtsession's C client use it:
//
//   GET  /v2, /v3                 version checks (2xx)
//   POST /v2/pipeline, /v3/pipeline   JSON pipelines
//   POST /v3/cursor               JSON cursor (newline-delimited JSON)
//
// Requests: execute, batch (conditions ok/error/not/and/or, and
// is_autocommit on v3), sequence, describe, store_sql, close_sql, close and
// get_autocommit (v3). Values: integers as decimal strings (64-bit exact),
// floats as JSON numbers, blobs as base64 (unpadded on output, both forms
// accepted). Streams: each stream is its own connection to one database file
// (WAL mode); batons are HMAC-signed (stream id + sequence number), a baton
// is good for one request, and a stream idle for --stream-expiry-ms (10 s)
// expires. A writer that finds the database locked waits up to 5 s, as sqld
// does. Errors: SQL errors come back inside a 200 response with sqld's codes
// (SQLITE_CONSTRAINT, SQL_PARSE_ERROR, ARGS_INVALID, ...); protocol errors
// are HTTP 400 with a text body; an expired stream is HTTP 500 with
// {"message","code":"STREAM_EXPIRED"}; a wrong or missing bearer token is
// HTTP 401 with {"error": ...}.
//
// Test hooks (they need the bearer token too):
//   POST /_test/fail   {"status":429,"count":3}  the next 3 Hrana requests
//                      answer 429 (count -1: every request, until reset)
//   POST /_test/delay  {"ms":2000,"count":1}     the next Hrana request waits
//                      2 s before it is handled (count -1: every one)
//   POST /_test/v3     {"enabled":false}         /v3 answers 404 (an old server)
//   POST /_test/reset                            undo all of these
//   GET  /_test/stats                            request counts, open streams
//
// Usage: node server.mjs [--db FILE] [--token TOKEN] [--host 127.0.0.1]
//          [--port 0] [--stream-expiry-ms 10000] [--busy-wait-ms 5000]
//          [--idle-exit SECONDS] [--exit-on-stdin-eof] [--verbose]
// The first line on stdout is the port the server listens on. Without --db
// the database lives in a temporary directory removed at exit. SIGTERM and
// SIGINT stop it cleanly. The token is never printed.

import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

import Database from "libsql";

import { firstKeyword, scanSql } from "./sqltext.mjs";

// ---- options --------------------------------------------------------------

function parseArgs(argv) {
    const opts = {
        db: null, token: null, host: "127.0.0.1", port: 0,
        streamExpiryMs: 10000, busyWaitMs: 5000, idleExit: 0,
        exitOnStdinEof: false, verbose: false,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage(`${a} needs a value`);
            return argv[++i];
        };
        switch (a) {
            case "--db": opts.db = val(); break;
            case "--token": opts.token = val(); break;
            case "--host": opts.host = val(); break;
            case "--port": opts.port = Number(val()); break;
            case "--stream-expiry-ms": opts.streamExpiryMs = Number(val()); break;
            case "--busy-wait-ms": opts.busyWaitMs = Number(val()); break;
            case "--idle-exit": opts.idleExit = Number(val()); break;
            case "--exit-on-stdin-eof": opts.exitOnStdinEof = true; break;
            case "--verbose": opts.verbose = true; break;
            default: usage(`unknown option ${a}`);
        }
    }
    return opts;
}

function usage(msg) {
    process.stderr.write(`hrana-server: ${msg}\n`);
    process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
let tmpDir = null;
if (opts.db === null) {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "hrana-server-"));
    opts.db = path.join(tmpDir, "db.sqlite");
}
const log = opts.verbose ? (m) => process.stderr.write(`hrana-server: ${m}\n`) : () => {};

// The database file, in WAL mode so that readers and one writer can work
// side by side on separate connections, as in sqld.
{
    const boot = new Database(opts.db);
    boot.exec("PRAGMA journal_mode=WAL");
    boot.close();
}

// ---- errors ---------------------------------------------------------------

// A violation of the protocol: HTTP 400 with a text body; the stream is closed.
class ProtocolError extends Error {}
// The stream expired: HTTP 500 with a JSON error.
class StreamExpired extends Error {}
// An error of one statement: reported inside the response.
class StmtError extends Error {
    constructor(message, code) {
        super(message);
        this.code = code;
    }
    toProto() {
        return { message: this.message, code: this.code };
    }
}

// SQLite primary result codes as sqld names them (SQLITE_ERROR is
// "unknown" there).
const SQLITE_NAMES = {
    1: "SQLITE_UNKNOWN", 2: "SQLITE_INTERNAL", 3: "SQLITE_PERM", 4: "SQLITE_ABORT",
    5: "SQLITE_BUSY", 6: "SQLITE_LOCKED", 7: "SQLITE_NOMEM", 8: "SQLITE_READONLY",
    9: "SQLITE_INTERRUPT", 10: "SQLITE_IOERR", 11: "SQLITE_CORRUPT",
    12: "SQLITE_NOTFOUND", 13: "SQLITE_FULL", 14: "SQLITE_CANTOPEN",
    15: "SQLITE_PROTOCOL", 17: "SQLITE_SCHEMA", 18: "SQLITE_TOOBIG",
    19: "SQLITE_CONSTRAINT", 20: "SQLITE_MISMATCH", 21: "SQLITE_MISUSE",
    22: "SQLITE_NOLFS", 23: "SQLITE_AUTH", 25: "SQLITE_RANGE", 26: "SQLITE_NOTADB",
};

function sqliteError(e, atPrepare) {
    if (e instanceof StmtError)
        return e;
    if (typeof e?.code !== "string" || !e.code.startsWith("SQLITE"))
        throw e; // not an engine error: a bug here, answered with HTTP 500
    const primary = (typeof e.rawCode === "number" ? e.rawCode : 1) & 0xff;
    if (atPrepare && primary === 1) {
        if (/syntax error|incomplete input|unrecognized token/.test(e.message))
            return new StmtError(`SQL string could not be parsed: ${e.message}`, "SQL_PARSE_ERROR");
        return new StmtError(`SQL input error: ${e.message}`, "SQL_INPUT_ERROR");
    }
    return new StmtError(`SQLite error: ${e.message}`, SQLITE_NAMES[primary] ?? "SQLITE_UNKNOWN");
}

// ---- values ---------------------------------------------------------------

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

const isObj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);

function valueFromProto(v) {
    if (!isObj(v))
        throw new ProtocolError("Value must be an object");
    switch (v.type) {
        case "null":
            return null;
        case "integer": {
            // sqld accepts only the string form: a JSON number may have lost
            // precision already.
            if (typeof v.value !== "string" || !/^-?[0-9]+$/.test(v.value))
                throw new ProtocolError("Integer value must be a string of decimal digits");
            const b = BigInt(v.value);
            if (b < I64_MIN || b > I64_MAX)
                throw new ProtocolError("Integer value out of the 64-bit range");
            return b;
        }
        case "float":
            if (typeof v.value !== "number")
                throw new ProtocolError("Float value must be a JSON number");
            return v.value;
        case "text":
            if (typeof v.value !== "string")
                throw new ProtocolError("Text value must be a string");
            return v.value;
        case "blob":
            if (typeof v.base64 !== "string" || !BASE64_RE.test(v.base64) ||
                v.base64.replace(/=+$/, "").length % 4 === 1)
                throw new ProtocolError("Blob value must be base64");
            return Buffer.from(v.base64, "base64");
        default:
            throw new ProtocolError(`Unknown value type ${JSON.stringify(v.type)}`);
    }
}

function valueToProto(x) {
    if (x === null || x === undefined)
        return { type: "null" };
    if (typeof x === "bigint")
        return { type: "integer", value: x.toString() };
    if (typeof x === "number")
        return { type: "float", value: x };
    if (typeof x === "string")
        return { type: "text", value: x };
    if (x instanceof Uint8Array)
        return { type: "blob", base64: Buffer.from(x).toString("base64").replace(/=+$/, "") };
    throw new Error(`unexpected value from the engine: ${typeof x}`);
}

// ---- streams and batons ---------------------------------------------------

const batonKey = crypto.randomBytes(32);
// sqld's limits on the SQL texts a stream stores.
const MAX_SQL_COUNT = 50;
const MAX_STORED_SQL_SIZE = 5000;
const streams = new Map(); // stream id (hex) -> stream
const EXPIRED_KEEP_MS = 300000;

function openConnection() {
    return new Database(opts.db);
}

function closeConnection(db) {
    try {
        db.close();
    } catch (e) {
        log(`close: ${e.message}`);
    }
}

function encodeBaton(stream) {
    const payload = Buffer.alloc(16);
    payload.write(stream.id, 0, "hex");
    payload.writeBigUInt64BE(stream.seq, 8);
    const mac = crypto.createHmac("sha256", batonKey).update(payload).digest();
    return Buffer.concat([payload, mac]).toString("base64").replace(/=+$/, "");
}

function acquireStream(baton) {
    if (baton === null || baton === undefined) {
        let id;
        do
            id = crypto.randomBytes(8).toString("hex");
        while (streams.has(id));
        const stream = {
            id, seq: crypto.randomBytes(8).readBigUInt64BE(0), db: openConnection(),
            sqls: new Map(), state: "acquired", expireAt: 0,
        };
        streams.set(id, stream);
        return stream;
    }
    if (typeof baton !== "string")
        throw new ProtocolError("Received an invalid baton");
    const data = Buffer.from(baton, "base64");
    if (data.length !== 48)
        throw new ProtocolError("Received an invalid baton");
    const mac = crypto.createHmac("sha256", batonKey).update(data.subarray(0, 16)).digest();
    if (!crypto.timingSafeEqual(mac, data.subarray(16)))
        throw new ProtocolError("Received an invalid baton");
    const stream = streams.get(data.subarray(0, 8).toString("hex"));
    if (stream === undefined)
        throw new ProtocolError("Received an invalid baton");
    if (stream.state === "expired")
        throw new StreamExpired("The stream has expired due to inactivity");
    if (stream.state !== "available" || stream.seq !== data.readBigUInt64BE(8))
        throw new ProtocolError("Received a baton that has already been used");
    stream.seq = (stream.seq + 1n) & 0xffffffffffffffffn;
    stream.state = "acquired";
    return stream;
}

// After a request: the baton for the next one, or null when the stream closed.
function releaseStream(stream) {
    if (stream.db === null) {
        streams.delete(stream.id);
        return null;
    }
    stream.state = "available";
    stream.expireAt = Date.now() + opts.streamExpiryMs;
    return encodeBaton(stream);
}

function dropStream(stream) {
    if (stream.db !== null)
        closeConnection(stream.db);
    stream.db = null;
    streams.delete(stream.id);
}

setInterval(() => {
    const now = Date.now();
    for (const stream of streams.values()) {
        if (stream.state === "available" && stream.expireAt <= now) {
            log(`stream ${stream.id} expired`);
            closeConnection(stream.db);
            stream.db = null;
            stream.state = "expired";
            stream.expireAt = now + EXPIRED_KEEP_MS;
        } else if (stream.state === "expired" && stream.expireAt <= now) {
            streams.delete(stream.id);
        }
    }
}, 250).unref();

// ---- statements -----------------------------------------------------------

function resolveSql(stream, sql, sqlId) {
    if (sql !== undefined && sql !== null) {
        if (sqlId !== undefined && sqlId !== null)
            throw new ProtocolError("Both sql and sql_id were given");
        if (typeof sql !== "string")
            throw new ProtocolError("sql must be a string");
        return sql;
    }
    if (sqlId === undefined || sqlId === null)
        throw new ProtocolError("Neither sql nor sql_id was given");
    const text = stream.sqls.get(sqlId);
    if (text === undefined)
        throw new ProtocolError(`SQL text ${sqlId} was not found`);
    return text;
}

function oneStatement(sql) {
    const scan = scanSql(sql);
    if (scan.statements === 0)
        throw new StmtError("SQL string does not contain any statement", "SQL_NO_STATEMENT");
    if (scan.statements > 1)
        throw new StmtError("SQL string contains more than one statement", "SQL_MANY_STATEMENTS");
    return scan;
}

// Arguments as the engine binds them: an array (positional) or an object
// keyed by the bare parameter name (named).
function bindArgs(stmt, scan) {
    const args = stmt.args ?? [];
    const named = stmt.named_args ?? [];
    if (!Array.isArray(args) || !Array.isArray(named))
        throw new ProtocolError("args and named_args must be arrays");
    const values = args.map(valueFromProto);
    const namedValues = named.map((a) => {
        if (!isObj(a) || typeof a.name !== "string")
            throw new ProtocolError("A named argument needs a name");
        return [a.name, valueFromProto(a.value)];
    });
    if (values.length > 0 && namedValues.length > 0)
        throw new StmtError("Specifying both positional and named arguments is not supported",
                            "ARGS_BOTH_POSITIONAL_AND_NAMED");
    if (namedValues.length > 0) {
        const obj = {};
        for (const [name, value] of namedValues) {
            const bare = name.replace(/^[:@$]/, "");
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(bare))
                throw new StmtError(`Arguments do not match SQL parameters: unsupported parameter name ${JSON.stringify(name)}`,
                                    "ARGS_INVALID");
            obj[bare] = value;
        }
        return obj;
    }
    if (values.length > scan.params.length)
        throw new StmtError(`Arguments do not match SQL parameters: too many parameters, expected ${scan.params.length} found ${values.length}`,
                            "ARGS_INVALID");
    return values;
}

function connInfo(db) {
    if (db._mtsInfo === undefined)
        db._mtsInfo = db.prepare("SELECT changes(), total_changes(), last_insert_rowid()")
            .raw(true).safeIntegers(true);
    return db._mtsInfo.get();
}

// Run one statement on the connection; returns a StmtResult.
function runStatement(db, sql, bind, wantRows) {
    let st;
    try {
        st = db.prepare(sql);
    } catch (e) {
        throw sqliteError(e, true);
    }
    const before = connInfo(db)[1];
    const t0 = performance.now();
    let cols = [];
    let rows = [];
    try {
        if (st.reader) {
            st.raw(true);
            st.safeIntegers(true);
            cols = st.columns().map((c) => ({ name: c.name, decltype: c.type ?? null }));
            const all = st.all(bind);
            if (wantRows)
                rows = all.map((r) => r.map(valueToProto));
        } else {
            st.run(bind);
        }
    } catch (e) {
        throw sqliteError(e, false);
    }
    const [changes, total, rowid] = connInfo(db);
    return {
        cols, rows,
        affected_row_count: total !== before ? Number(changes) : 0,
        last_insert_rowid: rowid.toString(),
        replication_index: null,
        rows_read: rows.length,
        rows_written: total !== before ? Number(changes) : 0,
        query_duration_ms: performance.now() - t0,
    };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A statement that finds the database locked is retried for up to
// --busy-wait-ms while the stream is outside a transaction. The engine's
// binding does not reset a statement that failed with SQLITE_BUSY, and such
// a statement keeps the connection's implicit transaction open (a later
// statement on that connection would then be rolled back at close), so the
// stream gets a fresh connection before each retry.
async function executeStmt(stream, stmt) {
    if (!isObj(stmt))
        throw new ProtocolError("stmt must be an object");
    const sql = resolveSql(stream, stmt.sql, stmt.sql_id);
    const scan = oneStatement(sql);
    const bind = bindArgs(stmt, scan);
    const wantRows = stmt.want_rows ?? true;
    const deadline = Date.now() + opts.busyWaitMs;
    for (;;) {
        try {
            return runStatement(stream.db, sql, bind, wantRows);
        } catch (e) {
            if (!(e instanceof StmtError) || e.code !== "SQLITE_BUSY" ||
                stream.db.inTransaction || Date.now() >= deadline)
                throw e;
            closeConnection(stream.db);
            stream.db = openConnection();
            await sleep(20);
        }
    }
}

// ---- batches --------------------------------------------------------------

function checkCond(cond, index, version) {
    if (!isObj(cond))
        throw new ProtocolError("A batch condition must be an object");
    switch (cond.type) {
        case "ok":
        case "error":
            if (!Number.isInteger(cond.step) || cond.step < 0 || cond.step >= index)
                throw new ProtocolError(`Batch condition of step ${index} refers to step ${cond.step}, which does not precede it`);
            return;
        case "not":
            checkCond(cond.cond, index, version);
            return;
        case "and":
        case "or":
            if (!Array.isArray(cond.conds))
                throw new ProtocolError("and/or conditions need conds");
            for (const c of cond.conds)
                checkCond(c, index, version);
            return;
        case "is_autocommit":
            if (version < 3)
                throw new ProtocolError("is_autocommit conditions need Hrana 3");
            return;
        default:
            throw new ProtocolError(`Unknown batch condition ${JSON.stringify(cond.type)}`);
    }
}

function evalCond(cond, results, errors, stream) {
    switch (cond.type) {
        case "ok": return results[cond.step] !== null;
        case "error": return errors[cond.step] !== null;
        case "not": return !evalCond(cond.cond, results, errors, stream);
        case "and": return cond.conds.every((c) => evalCond(c, results, errors, stream));
        case "or": return cond.conds.some((c) => evalCond(c, results, errors, stream));
        case "is_autocommit": return !stream.db.inTransaction;
    }
    return false;
}

// Run a batch; `entries`, when given, collects the cursor entries. As in
// sqld, the whole batch is checked before any step runs: a step whose SQL
// text holds no statement or several fails the whole batch.
async function runBatch(stream, batch, version, entries) {
    if (!isObj(batch) || !Array.isArray(batch.steps))
        throw new ProtocolError("batch.steps must be an array");
    batch.steps.forEach((step, i) => {
        if (!isObj(step) || !isObj(step.stmt))
            throw new ProtocolError(`Step ${i} needs a stmt`);
        if (step.condition !== undefined && step.condition !== null)
            checkCond(step.condition, i, version);
        oneStatement(resolveSql(stream, step.stmt.sql, step.stmt.sql_id));
    });
    const results = [];
    const errors = [];
    for (let i = 0; i < batch.steps.length; i++) {
        const step = batch.steps[i];
        if (step.condition && !evalCond(step.condition, results, errors, stream)) {
            results.push(null);
            errors.push(null);
            continue;
        }
        try {
            const r = await executeStmt(stream, step.stmt);
            results.push(r);
            errors.push(null);
            if (entries) {
                entries.push({ type: "step_begin", step: i, cols: r.cols });
                for (const row of r.rows)
                    entries.push({ type: "row", row });
                entries.push({ type: "step_end", affected_row_count: r.affected_row_count,
                               last_insert_rowid: r.last_insert_rowid });
            }
        } catch (e) {
            if (!(e instanceof StmtError))
                throw e;
            results.push(null);
            errors.push(e.toProto());
            if (entries)
                entries.push({ type: "step_error", step: i, error: e.toProto() });
        }
    }
    return { step_results: results, step_errors: errors };
}

// ---- stream requests ------------------------------------------------------

function describe(stream, sql) {
    const scan = oneStatement(sql);
    let st;
    try {
        st = stream.db.prepare(sql);
    } catch (e) {
        throw sqliteError(e, true);
    }
    const kw = firstKeyword(sql);
    const writes = /\b(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(sql);
    return {
        params: scan.params.map((name) => ({ name })),
        cols: st.reader ? st.columns().map((c) => ({ name: c.name, decltype: c.type ?? null })) : [],
        is_explain: kw === "EXPLAIN",
        is_readonly: kw === "SELECT" || kw === "VALUES" || kw === "EXPLAIN" ||
                     (kw === "WITH" && !writes),
    };
}

async function handleStreamRequest(stream, req, version) {
    if (!isObj(req) || typeof req.type !== "string")
        throw new ProtocolError("A request must be an object with a type");
    if (stream.db === null)
        throw new ProtocolError("Received a request for a closed stream");
    try {
        switch (req.type) {
            case "close":
                closeConnection(stream.db);
                stream.db = null;
                return { type: "close" };
            case "execute":
                return { type: "execute", result: await executeStmt(stream, req.stmt) };
            case "batch":
                return { type: "batch", result: await runBatch(stream, req.batch, version, null) };
            case "sequence": {
                const sql = resolveSql(stream, req.sql, req.sql_id);
                try {
                    stream.db.exec(sql);
                } catch (e) {
                    throw sqliteError(e, /syntax error|incomplete input|unrecognized token/.test(e?.message ?? ""));
                }
                return { type: "sequence" };
            }
            case "describe":
                return { type: "describe", result: describe(stream, resolveSql(stream, req.sql, req.sql_id)) };
            case "store_sql":
                if (!Number.isInteger(req.sql_id) || typeof req.sql !== "string")
                    throw new ProtocolError("store_sql needs sql_id and sql");
                if (stream.sqls.has(req.sql_id))
                    throw new ProtocolError(`SQL text ${req.sql_id} is already stored`);
                if (stream.sqls.size >= MAX_SQL_COUNT)
                    throw new StmtError(`The server already stores ${stream.sqls.size} SQL texts, it cannot store more`,
                                        "SQL_STORE_TOO_MANY");
                if (Buffer.byteLength(req.sql) > MAX_STORED_SQL_SIZE)
                    throw new StmtError(`The statement is too large to be stored: ${Buffer.byteLength(req.sql)} B`,
                                        "SQL_STORE_TOO_LARGE");
                stream.sqls.set(req.sql_id, req.sql);
                return { type: "store_sql" };
            case "close_sql":
                if (!Number.isInteger(req.sql_id))
                    throw new ProtocolError("close_sql needs sql_id");
                stream.sqls.delete(req.sql_id);
                return { type: "close_sql" };
            case "get_autocommit":
                if (version < 3)
                    throw new ProtocolError("get_autocommit needs Hrana 3");
                return { type: "get_autocommit", is_autocommit: !stream.db.inTransaction };
            default:
                throw new ProtocolError(`Unknown request type ${JSON.stringify(req.type)}`);
        }
    } catch (e) {
        if (e instanceof StmtError)
            return { error: e.toProto() };
        throw e;
    }
}

// ---- HTTP -----------------------------------------------------------------

const hooks = { failStatus: 0, failCount: 0, v3: true, delayMs: 0, delayCount: 0 };
const stats = { requests: {}, injected: 0 };
let lastActivity = Date.now();

function send(res, status, body, type) {
    const data = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": type ?? "application/json",
                            "content-length": Buffer.byteLength(data) });
    res.end(data);
}

function readBody(req, max) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on("data", (c) => {
            size += c.length;
            if (size > max) {
                reject(new ProtocolError("Request body too large"));
                req.destroy();
                return;
            }
            chunks.push(c);
        });
        req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        req.on("error", reject);
    });
}

async function readJson(req) {
    const text = await readBody(req, 64 * 1024 * 1024);
    try {
        return JSON.parse(text);
    } catch (e) {
        throw new ProtocolError(`Could not deserialize JSON request body: ${e.message}`);
    }
}

function authorized(req) {
    if (opts.token === null)
        return true;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    if (m === null)
        return false;
    const a = crypto.createHash("sha256").update(m[1]).digest();
    const b = crypto.createHash("sha256").update(opts.token).digest();
    return crypto.timingSafeEqual(a, b);
}

async function handlePipeline(req, res, version) {
    const body = await readJson(req);
    if (!isObj(body) || !Array.isArray(body.requests))
        throw new ProtocolError("The body needs a requests array");
    const stream = acquireStream(body.baton);
    const results = [];
    try {
        for (const r of body.requests) {
            const out = await handleStreamRequest(stream, r, version);
            results.push(out.error ? { type: "error", error: out.error } : { type: "ok", response: out });
        }
    } catch (e) {
        dropStream(stream);
        throw e;
    }
    send(res, 200, { baton: releaseStream(stream), base_url: null, results });
}

async function handleCursor(req, res, version) {
    const body = await readJson(req);
    if (!isObj(body))
        throw new ProtocolError("The body must be an object");
    const stream = acquireStream(body.baton);
    const entries = [];
    try {
        if (stream.db === null)
            throw new ProtocolError("Received a request for a closed stream");
        await runBatch(stream, body.batch, version, entries);
    } catch (e) {
        if (e instanceof StmtError) {
            entries.push({ type: "error", error: e.toProto() });
        } else {
            dropStream(stream);
            throw e;
        }
    }
    const lines = [JSON.stringify({ baton: releaseStream(stream), base_url: null })];
    for (const e of entries)
        lines.push(JSON.stringify(e));
    send(res, 200, lines.join("\n") + "\n", "text/plain");
}

async function handleTest(req, res, route) {
    if (route === "GET /_test/stats") {
        let open = 0;
        for (const s of streams.values())
            if (s.state !== "expired")
                open++;
        return send(res, 200, { requests: stats.requests, injected: stats.injected, open_streams: open });
    }
    if (req.method !== "POST")
        return send(res, 404, "Not found", "text/plain");
    let body = {};
    if (route === "POST /_test/reset")
        req.resume();
    else
        body = await readJson(req);
    if (!isObj(body))
        return send(res, 400, "The body must be a JSON object", "text/plain");
    switch (route) {
        case "POST /_test/fail":
            if (!Number.isInteger(body.status) || body.status < 400 || body.status > 599 ||
                !Number.isInteger(body.count))
                return send(res, 400, "status (400..599) and count (integer) are required", "text/plain");
            hooks.failStatus = body.status;
            hooks.failCount = body.count;
            return send(res, 200, { ok: true });
        case "POST /_test/delay":
            if (!Number.isInteger(body.ms) || body.ms < 0 || body.ms > 60000 ||
                !Number.isInteger(body.count))
                return send(res, 400, "ms (0..60000) and count (integer) are required", "text/plain");
            hooks.delayMs = body.ms;
            hooks.delayCount = body.count;
            return send(res, 200, { ok: true });
        case "POST /_test/v3":
            hooks.v3 = body.enabled !== false;
            return send(res, 200, { ok: true });
        case "POST /_test/reset":
            hooks.failStatus = 0;
            hooks.failCount = 0;
            hooks.v3 = true;
            hooks.delayMs = 0;
            hooks.delayCount = 0;
            stats.requests = {};
            stats.injected = 0;
            return send(res, 200, { ok: true });
        default:
            return send(res, 404, "Not found", "text/plain");
    }
}

async function handle(req, res) {
    lastActivity = Date.now();
    const pathname = new URL(req.url, "http://localhost").pathname.replace(/\/+$/, "") || "/";
    const route = `${req.method} ${pathname}`;
    stats.requests[route] = (stats.requests[route] ?? 0) + 1;
    log(route);

    const isV3 = pathname === "/v3" || pathname.startsWith("/v3/");
    if (isV3 && !hooks.v3)
        return send(res, 404, "Not found", "text/plain");
    switch (route) {
        case "GET /":
            return send(res, 200, "Hello, this is the mtsession Hrana test server", "text/plain");
        case "GET /health":
        case "GET /v2":
        case "GET /v3":
            return send(res, 200, "", "text/plain");
    }

    const hrana = route === "POST /v2/pipeline" || route === "POST /v3/pipeline" ||
                  route === "POST /v3/cursor";
    if (!hrana && !pathname.startsWith("/_test/"))
        return send(res, 404, "Not found", "text/plain");
    if (!authorized(req))
        return send(res, 401, { error: "Unauthorized: the bearer token is missing or wrong" });
    if (!hrana)
        return handleTest(req, res, route);

    if (hooks.failCount !== 0) {
        if (hooks.failCount > 0)
            hooks.failCount--;
        stats.injected++;
        req.resume();
        return send(res, hooks.failStatus, `Injected failure (HTTP ${hooks.failStatus})`, "text/plain");
    }
    if (hooks.delayCount !== 0) {
        if (hooks.delayCount > 0)
            hooks.delayCount--;
        await sleep(hooks.delayMs);
    }
    const version = pathname.startsWith("/v3/") ? 3 : 2;
    if (route === "POST /v3/cursor")
        return handleCursor(req, res, version);
    return handlePipeline(req, res, version);
}

const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
        if (e instanceof ProtocolError) {
            log(`protocol error: ${e.message}`);
            send(res, 400, e.message, "text/plain");
        } else if (e instanceof StreamExpired) {
            send(res, 500, { message: e.message, code: "STREAM_EXPIRED" });
        } else {
            process.stderr.write(`hrana-server: internal error: ${e?.stack ?? e}\n`);
            if (!res.headersSent)
                send(res, 500, `Internal server error: ${e?.message ?? e}`, "text/plain");
            else
                res.destroy();
        }
    });
});
server.keepAliveTimeout = 30000;

function shutdown(code) {
    server.close();
    for (const s of streams.values())
        if (s.db !== null)
            closeConnection(s.db);
    if (tmpDir !== null)
        fs.rmSync(tmpDir, { recursive: true, force: true });
    process.exit(code);
}

process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
if (opts.exitOnStdinEof) {
    process.stdin.on("end", () => shutdown(0));
    process.stdin.on("error", () => shutdown(0));
    process.stdin.resume();
}
if (opts.idleExit > 0) {
    setInterval(() => {
        if (Date.now() - lastActivity > opts.idleExit * 1000) {
            process.stderr.write(`hrana-server: idle for ${opts.idleExit} s, exiting\n`);
            shutdown(0);
        }
    }, 1000).unref();
}

server.listen(opts.port, opts.host, () => {
    process.stdout.write(`${server.address().port}\n`);
});
