#!/usr/bin/env node
// GramJS's side of the interop tests (the `telegram` package).
// Reads a JSON array of requests on stdin, answers a JSON array:
//   {op: "read", text}  -> {dc, ip, port, key} as StringSession loads them
//   {op: "write", session: {dc, ip, port, key}} -> {text: save()}
'use strict';
const { StringSession } = require('telegram/sessions');
const { AuthKey } = require('telegram/crypto/AuthKey');

async function read(text) {
  const s = new StringSession(text);
  await s.load();
  const key = s.authKey && s.authKey.getKey();
  return {
    dc: s.dcId, ip: s.serverAddress, port: s.port,
    key: key ? Buffer.from(key).toString('hex') : null,
  };
}

async function write(sess) {
  const s = new StringSession('');
  s.setDC(sess.dc, sess.ip, sess.port);
  const ak = new AuthKey();
  await ak.setKey(Buffer.from(sess.key, 'hex'));
  s.setAuthKey(ak);
  return { text: s.save() };
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const out = [];
  for (const req of JSON.parse(Buffer.concat(chunks).toString('utf8'))) {
    try {
      out.push(req.op === 'read' ? await read(req.text) : await write(req.session));
    } catch (e) {
      out.push({ error: String(e && e.message ? e.message : e) });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
