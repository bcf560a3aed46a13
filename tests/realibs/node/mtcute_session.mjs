#!/usr/bin/env node
// mtcute's side of the interop tests: @mtcute/core's readStringSession and
// writeStringSession (what the client's importSession/exportSession use),
// and, for Pyrogram strings, @mtcute/convert's Pyrogram parser and
// serializer (Pyrogram itself cannot be installed here).
// Usage: node mtcute_session.mjs mtcute|pyrogram < requests.json
// Reads a JSON array of requests on stdin, answers a JSON array:
//   {op: "read", text} -> the session as that library sees it
//   {op: "write", session} -> {text}
import { readStringSession, writeStringSession } from '@mtcute/core/utils.js';
import { parsePyrogramSession, serializePyrogramSession } from '@mtcute/convert';

const hex = (u8) => Buffer.from(u8).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));

const dcOut = (d) => ({ dc: d.id, ip: d.ipAddress, port: d.port });

const mtcute = {
  read(text) {
    const s = readStringSession(text);
    const { main, media } = s.primaryDcs;
    return {
      ...dcOut(main),
      key: hex(s.authKey),
      test: Boolean(main.testMode),
      ipv6: Boolean(main.ipv6),
      user_id: s.self ? s.self.userId : null,
      is_bot: s.self ? s.self.isBot : null,
      media: media && media !== main
        ? { ...dcOut(media), media_only: Boolean(media.mediaOnly), ipv6: Boolean(media.ipv6) }
        : null,
    };
  },
  write(sess) {
    const test = Boolean(sess.test);
    const main = {
      id: sess.dc, ipAddress: sess.ip, port: sess.port,
      ipv6: sess.ip.includes(':'), mediaOnly: false, testMode: test,
    };
    const media = sess.media
      ? {
        id: sess.dc, ipAddress: sess.media.ip, port: sess.media.port,
        ipv6: sess.media.ip.includes(':'), mediaOnly: true, testMode: test,
      }
      : main;
    return {
      text: writeStringSession({
        version: 3,
        primaryDcs: { main, media },
        self: sess.user_id == null ? null
          : { userId: sess.user_id, isBot: Boolean(sess.is_bot), isPremium: false, usernames: [] },
        authKey: bytes(sess.key),
      }),
    };
  },
};

const pyrogram = {
  read(text) {
    const s = parsePyrogramSession(text);
    return {
      dc: s.dcId, key: hex(s.authKey), test: s.isTest,
      api_id: s.apiId === undefined ? null : s.apiId,
      user_id: s.userId, is_bot: s.isBot,
    };
  },
  write(sess) {
    return {
      text: serializePyrogramSession({
        dcId: sess.dc, apiId: sess.api_id, isTest: Boolean(sess.test),
        authKey: bytes(sess.key), userId: sess.user_id ?? 0, isBot: Boolean(sess.is_bot),
      }),
    };
  },
};

const lib = { mtcute, pyrogram }[process.argv[2]];
if (!lib) {
  console.error('usage: mtcute_session.mjs mtcute|pyrogram < requests.json');
  process.exit(2);
}
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const out = [];
for (const req of JSON.parse(Buffer.concat(chunks).toString('utf8'))) {
  try {
    out.push(req.op === 'read' ? lib.read(req.text) : lib.write(req.session));
  } catch (e) {
    out.push({ error: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(out));
