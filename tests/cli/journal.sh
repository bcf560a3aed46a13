#!/bin/sh
# The CLI sees update-state changes journaled beside a snapshot: the
# writer saves a session and then applies updates (which the file backend
# appends to "<path>.journal"); inspect, convert and rekey must all
# include them. usage: journal.sh MTSESSION JOURNAL_WRITER
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
client=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/mtsession-journal.XXXXXX") || exit 1
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
cd "$work" || exit 1
"$client" s.session || bad "journal writer"
if [ "$(wc -c <s.session.journal)" -gt 24 ]; then ok; else bad "no journal records were written"; fi
"$bin" inspect s.session >out.txt 2>&1
if grep -q "update state: pts 1233, qts 0, date 1700000000, seq 58, channels 1" out.txt; then ok; else bad "inspect misses journaled state: $(grep 'update state' out.txt)"; fi
"$bin" convert --to json s.session s.json >/dev/null 2>&1
if grep -q '"pts": 1233' s.json; then ok; else bad "convert misses journaled pts"; fi
head -c 32 /dev/zero | tr '\0' 'k' >key
"$bin" rekey --new-key-file key s.session >/dev/null 2>&1 || bad "rekey failed"
"$bin" inspect --key-file key s.session >out.txt 2>&1
if grep -q "pts 1233" out.txt; then ok; else bad "rekey lost journaled state"; fi
echo "$passed passed, $failed failed"
if [ "$failed" -eq 0 ]; then rm -rf "$work"; exit 0; fi
exit 1
