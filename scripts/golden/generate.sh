#!/usr/bin/env bash
# Regenerate the golden string-session vectors under tests/data/formats/
# with the real libraries (Telethon from python3-telethon; GramJS and
# mtcute from tests/realibs/node, installed with `npm ci` there) and the
# layout builder for Pyrogram and mtcute v1/v2, and record in each
# format's PROVENANCE file which library version wrote them. Golden files
# are kept forever: review the diff before committing a regenerated one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/tests/data/formats}
python=${MTS_REALIBS_PYTHON:-/usr/bin/python3}

mkdir -p "$out"
telethon=$("$python" "$here/telethon_vectors.py" "$out")
gramjs=$(node "$here/gramjs_vectors.cjs" "$out")
mtcute=$(node "$here/mtcute_vectors.mjs" "$out" 2>/dev/null)
layout=$("$python" "$here/layout_vectors.py" "$out")

provenance() { # DIR LINE...
    local dir=$1
    shift
    printf '%s\n' "# Who wrote these vectors (regenerate: scripts/golden/generate.sh)" \
        "$@" >"$out/$dir/PROVENANCE"
}
provenance telethon-string "*.txt: Telethon's StringSession.save(), $telethon (scripts/golden/telethon_vectors.py)"
provenance gramjs-string "*.txt: GramJS's StringSession.save(), $gramjs (scripts/golden/gramjs_vectors.cjs)"
provenance mtcute-string \
    "basic, media_self, ipv6_test_bot, test_media_port80: writeStringSession() of $mtcute (scripts/golden/mtcute_vectors.mjs)" \
    "legacy_v1, legacy_v2: built from mtcute's former v1/v2 layout, which current mtcute refuses (scripts/golden/layout_vectors.py)"
provenance pyrogram-string \
    "*.txt: built with Pyrogram's own struct formats and base64 calls, $layout (scripts/golden/layout_vectors.py)" \
    "Pyrogram itself cannot be installed in the build environment; see docs/INTEROP.md."
cat "$out"/{telethon,gramjs,mtcute,pyrogram}-string/PROVENANCE
