#!/usr/bin/env node
// Golden GramJS StringSession vectors, written by GramJS itself
// (the `telegram` package pinned in tests/realibs/node/package.json;
// install it with `npm ci` in that directory first).
//
// Usage: node gramjs_vectors.cjs OUTDIR   (writes OUTDIR/gramjs-string/*.txt)
// Keys are fixed fake bytes, never real credentials.
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const realibs = path.join(__dirname, '..', '..', 'tests', 'realibs', 'node');
const req = createRequire(path.join(realibs, 'package.json'));
const { StringSession } = req('telegram/sessions');
const { AuthKey } = req('telegram/crypto/AuthKey');
const version = req('telegram/package.json').version;

const KEY_A = Buffer.from([...Array(256).keys()]);
const KEY_B = Buffer.from([...Array(256).keys()].map((i) => 255 - i));

// name: [dc_id, address, port, key]
const VECTORS = {
  ipv4: [2, '149.154.167.51', 443, KEY_A],
  ipv4_short: [5, '91.108.56.130', 443, KEY_B],
  ipv6: [1, '2001:b28:f23d:f001::a', 443, KEY_A],
  ipv4_port80: [3, '149.154.175.100', 80, KEY_B],
};

async function main() {
  const out = path.join(process.argv[2], 'gramjs-string');
  fs.mkdirSync(out, { recursive: true });
  for (const [name, [dc, addr, port, key]] of Object.entries(VECTORS)) {
    const s = new StringSession('');
    s.setDC(dc, addr, port);
    const ak = new AuthKey();
    await ak.setKey(key);
    s.setAuthKey(ak);
    const text = s.save();
    // GramJS must read its own string back to the same values.
    const back = new StringSession(text);
    await back.load();
    if (back.dcId !== dc || back.serverAddress !== addr || back.port !== port ||
        !Buffer.from(back.authKey.getKey()).equals(key))
      throw new Error(`GramJS did not read back ${name}`);
    fs.writeFileSync(path.join(out, `${name}.txt`), `${text}\n`);
  }
  console.log('telegram', version);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
