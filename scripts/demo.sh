#!/bin/sh
# Build the CLI and run it on a real example: create a session, look at
# it, convert it between formats, and check that nothing is lost.
set -eu
umask 077 # session files and strings are full logins
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" --target mtsession_cli >/dev/null
bin=build/release/src/cli/mtsession
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "\$ mtsession --version"
"$bin" --version
echo
echo "\$ mtsession new --dc 4 demo.session"
"$bin" new --dc 4 "$work/demo.session"
echo "\$ mtsession inspect demo.session"
"$bin" inspect "$work/demo.session"
echo
echo "\$ mtsession convert --to mtsession-string demo.session -"
"$bin" convert --to mtsession-string "$work/demo.session" - | tee "$work/demo.txt"
echo "\$ mtsession detect demo.txt"
"$bin" detect "$work/demo.txt"
echo "\$ mtsession convert demo.txt demo.json --to json  (then back)"
"$bin" convert --to json "$work/demo.txt" "$work/demo.json"
"$bin" convert --to mtsession "$work/demo.json" "$work/back.session"
cmp "$work/demo.session" "$work/back.session" && echo "round trip: identical bytes"
echo "\$ mtsession stats back.session"
"$bin" stats "$work/back.session"
echo
echo "A Telethon StringSession written by Telethon itself (fake key):"
# A private copy: session files readable by others draw a warning.
tl=$work/telethon.txt
cp tests/data/formats/telethon-string/ipv4.txt "$tl"
chmod 600 "$tl"
echo "\$ mtsession detect telethon.txt"
"$bin" detect "$tl"
echo "\$ mtsession convert telethon.txt telethon.session --to mtsession"
"$bin" convert "$tl" "$work/telethon.session" --to mtsession
"$bin" inspect "$work/telethon.session"
echo "\$ mtsession convert telethon.session - --to telethon-string"
"$bin" convert "$work/telethon.session" - --to telethon-string | tee "$work/back.txt"
cmp -s "$tl" "$work/back.txt" && echo "Telethon string round trip: identical"
