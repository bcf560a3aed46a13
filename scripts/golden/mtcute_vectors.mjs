#!/usr/bin/env node
// Golden mtcute session strings (version 3), written by mtcute itself
// (@mtcute/core's writeStringSession, the function the client's
// exportSession uses; pinned in tests/realibs/node/package.json).
//
// Usage: node mtcute_vectors.mjs OUTDIR   (writes OUTDIR/mtcute-string/*.txt)
// Keys are fixed fake bytes, never real credentials.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const core = path.join(here, '..', '..', 'tests', 'realibs', 'node',
  'node_modules', '@mtcute', 'core');
const { writeStringSession, readStringSession } =
  await import(pathToFileURL(path.join(core, 'utils.js')).href);
const { version } = JSON.parse(fs.readFileSync(path.join(core, 'package.json'), 'utf8'));

const KEY_A = new Uint8Array([...Array(256).keys()]);
const KEY_B = new Uint8Array([...Array(256).keys()].map((i) => 255 - i));

const dc = (id, ipAddress, port, extra = {}) => ({
  id, ipAddress, port, ipv6: false, mediaOnly: false, testMode: false, ...extra,
});
const self = (userId, isBot) => ({ userId, isBot, isPremium: false, usernames: [] });

const VECTORS = {};
{
  // Main DC only: mtcute writes no media option when media === main.
  const main = dc(2, '149.154.167.50', 443);
  VECTORS.basic = { version: 3, primaryDcs: { main, media: main }, authKey: KEY_A };
}
VECTORS.media_self = {
  version: 3,
  primaryDcs: {
    main: dc(2, '149.154.167.50', 443),
    media: dc(2, '149.154.167.222', 443, { mediaOnly: true }),
  },
  self: self(123456789, false),
  authKey: KEY_A,
};
{
  const main = dc(1, '2001:b28:f23d:f001::e', 443, { ipv6: true, testMode: true });
  VECTORS.ipv6_test_bot = {
    version: 3,
    primaryDcs: { main, media: main },
    self: self(5000801609, true),
    authKey: KEY_B,
  };
}
VECTORS.test_media_port80 = {
  version: 3,
  primaryDcs: {
    main: dc(3, '149.154.175.117', 80, { testMode: true }),
    media: dc(3, '149.154.175.117', 443, { mediaOnly: true, testMode: true }),
  },
  authKey: KEY_B,
};

function main() {
  const out = path.join(process.argv[2], 'mtcute-string');
  fs.mkdirSync(out, { recursive: true });
  for (const [name, data] of Object.entries(VECTORS)) {
    const text = writeStringSession(data);
    const back = readStringSession(text);
    if (back.primaryDcs.main.ipAddress !== data.primaryDcs.main.ipAddress ||
        Buffer.compare(Buffer.from(back.authKey), Buffer.from(data.authKey)) !== 0)
      throw new Error(`mtcute did not read back ${name}`);
    fs.writeFileSync(path.join(out, `${name}.txt`), `${text}\n`);
  }
  console.log('@mtcute/core', version);
}

main();
