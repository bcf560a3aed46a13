#!/usr/bin/env bash
# run.sh - end-to-end tests of the mtsession command (ctest label "cli").
#
# usage: run.sh MTSESSION_BINARY DATA_DIR VERSION
#
# Runs the built binary the way scripts use it and checks exact exit
# statuses, exact standard output against golden files in DATA_DIR
# (tests/data/cli) and substrings of standard error. Every check counts;
# the script ends with "N passed, N failed" and exits 1 if any failed.
# Work files go to a fresh directory under TMPDIR, removed on success.
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 MTSESSION_BINARY DATA_DIR VERSION" >&2
    exit 2
fi
BIN=$1
DATA=$2
VERSION=$3
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
case $DATA in /*) ;; *) DATA=$PWD/$DATA ;; esac
if [ ! -x "$BIN" ] || [ ! -f "$DATA/session.json" ]; then
    echo "FAIL: no binary at $BIN or no fixtures in $DATA" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/mtsession-cli.XXXXXX") || exit 1
# Work on a private copy of the fixtures: session files readable by others
# (as a checkout leaves them) rightly draw a permission warning.
mkdir "$T/fixtures" && cp -R "$DATA/." "$T/fixtures/" && chmod -R go-rwx "$T/fixtures" || exit 1
mkdir -p "$T/formats/ambiguous" && cp "$DATA/../formats/ambiguous/"* "$T/formats/ambiguous/" && chmod -R go-rwx "$T/formats" || exit 1
DATA=$T/fixtures
passed=0
failed=0
CASE=start
RC=0
KEYHEX=$(tr -d '\n' <"$DATA/session.key.hex")
TOKENHEX=00112233445566778899aabbccddeeff

# ---- helpers -----------------------------------------------------------

pass() { passed=$((passed + 1)); }

fail() {
    failed=$((failed + 1))
    echo "FAIL [$CASE] $*" >&2
    if [ -s "$T/err" ]; then
        head -n 5 "$T/err" | sed 's/^/    stderr: /' >&2
    fi
}

# run ARGS...: the binary with stdin from /dev/null; sets RC, $T/out, $T/err
run() {
    "$BIN" "$@" </dev/null >"$T/out" 2>"$T/err"
    RC=$?
}

# run_in FILE ARGS...: the same with stdin from FILE
run_in() {
    local in=$1
    shift
    "$BIN" "$@" <"$in" >"$T/out" 2>"$T/err"
    RC=$?
}

expect_rc() {
    if [ "$RC" -eq "$1" ]; then pass; else fail "exit status $RC, expected $1"; fi
}

expect_out_file() {
    if cmp -s "$T/out" "$1"; then
        pass
    else
        fail "stdout differs from $1"
        diff -u "$1" "$T/out" | head -n 30 >&2
    fi
}

expect_out() {
    printf '%s\n' "$1" >"$T/expected"
    expect_out_file "$T/expected"
}

expect_out_empty() {
    if [ ! -s "$T/out" ]; then pass; else fail "stdout not empty"; fi
}

expect_out_has() {
    if grep -qF -- "$1" "$T/out"; then pass; else fail "stdout lacks '$1'"; fi
}

expect_out_lacks() {
    if grep -qiF -- "$1" "$T/out"; then fail "stdout contains '$1'"; else pass; fi
}

expect_err() {
    if grep -qF -- "$1" "$T/err"; then pass; else fail "stderr lacks '$1'"; fi
}

expect_err_re() {
    if grep -qE -- "$1" "$T/err"; then pass; else fail "stderr does not match /$1/"; fi
}

expect_err_lacks() {
    if grep -qiF -- "$1" "$T/err"; then fail "stderr contains '$1'"; else pass; fi
}

expect_same() {
    if cmp -s "$1" "$2"; then pass; else fail "$1 and $2 differ"; fi
}

expect_missing() {
    if [ ! -e "$1" ]; then pass; else fail "$1 exists"; fi
}

expect_content() { # FILE TEXT: FILE holds exactly TEXT and a newline
    if [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; then pass; else fail "$1 changed"; fi
}

# ---- version and help --------------------------------------------------

CASE=version
run --version
expect_rc 0
expect_err_lacks mtsession
if [ "$(sed -n 1p "$T/out")" = "mtsession $VERSION" ]; then pass; else fail "first line: $(sed -n 1p "$T/out")"; fi
if sed -n 2p "$T/out" | grep -qE '^backends: file memory string( |$)'; then pass; else fail "backends line: $(sed -n 2p "$T/out")"; fi
FORMATS=$(sed -n 3p "$T/out")
case "$FORMATS" in
formats:\ json\ \(read/write\),\ mtsession\ \(read/write\),\ mtsession-string\ \(read/write\)*) pass ;;
*) fail "formats line: $FORMATS" ;;
esac
if [ "$(wc -l <"$T/out")" -eq 3 ]; then pass; else fail "not 3 lines"; fi

CASE=help
for h in --help -h; do
    run $h
    expect_rc 0
    expect_out_has "usage: mtsession"
    expect_out_has "convert [--from FMT] --to FMT INPUT OUTPUT"
done
run inspect --help
expect_rc 0
expect_out_has "usage: mtsession"

# ---- usage errors: exit 2, nothing written -----------------------------

CASE=usage
run
expect_rc 2
expect_out_empty
expect_err "usage: mtsession"
usage_case() { # EXPECTED-STDERR ARGS...
    local want=$1
    shift
    run "$@"
    expect_rc 2
    expect_out_empty
    expect_err "$want"
}
usage_case "unknown command 'frobnicate'" frobnicate
usage_case "unknown option '--frob'" --frob
usage_case "unexpected operand" --version extra
usage_case "inspect: missing INPUT" inspect
usage_case "inspect: unexpected operand 'b'" inspect a b
usage_case "unknown option '--frob'" inspect --frob "$DATA/session.json"
usage_case "unknown option '-x'" inspect -x "$DATA/session.json"
usage_case "option --to does not apply" inspect --to json "$DATA/session.json"
usage_case "option --from needs a value" inspect "$DATA/session.json" --from
usage_case "option --json takes no value" inspect --json=yes "$DATA/session.json"
usage_case "option --from given twice" convert --from json --from json --to json "$DATA/session.json" -
usage_case "--from 'nosuch': no such format" inspect --from nosuch "$DATA/session.json"
usage_case "--to FMT is required" convert "$DATA/session.json" "$T/u1"
usage_case "--to 'nosuch': no such format" convert --to nosuch "$DATA/session.json" "$T/u1"
usage_case "convert: missing OUTPUT" convert --to json "$DATA/session.json"
usage_case "--dc 'abc': not a DC id" new --dc abc "$T/u1"
usage_case "--dc '0': not a DC id" new --dc 0 "$T/u1"
usage_case "--dc 9: not in the default production DC table (1, 2, 3, 4, 5)" new --dc 9 "$T/u1"
usage_case "--dc 4: not in the default test DC table (1, 2, 3)" new --test --dc 4 "$T/u1"
usage_case "--format-version 'x'" convert --format-version x --to json "$DATA/session.json" "$T/u1"
usage_case "give only one of" inspect --key-file a --passphrase-env B "$DATA/session.json"
usage_case "option --test does not apply" detect --test "$DATA/session.json"
usage_case "option --owner does not apply" inspect --owner me "$DATA/session.json"
usage_case "option --ttl does not apply" convert --ttl 5 --to json "$DATA/session.json" "$T/u1"
usage_case "lease: missing ACTION" lease
usage_case "lease: missing STORE" lease show
usage_case "lease: unknown action 'grab' (acquire, renew, release or show)" lease grab "$T/u1"
usage_case "lease acquire: --owner NAME is required" lease acquire "$T/u1"
usage_case "lease renew: --owner NAME is required" lease renew "$T/u1"
usage_case "lease release: --owner NAME is required" lease release "$T/u1"
usage_case "lease show: option --owner does not apply" lease show --owner me "$T/u1"
usage_case "lease release: option --ttl does not apply" lease release --owner me --ttl 5 "$T/u1"
usage_case "lease show: option --ttl does not apply" lease show --ttl 5 "$T/u1"
for bad in 0 -1 x 1.2345 86400.001 1e3 . 5. "" 99999999999; do
    usage_case "lease: --ttl '$bad': not a number of seconds from 0.001 to 86400" lease acquire --owner me --ttl "$bad" "$T/u1"
done
usage_case "lease: --owner: a lease owner is 1 to 128 bytes without control characters" lease acquire --owner "$(printf 'a\tb')" "$T/u1"
usage_case "lease: --owner: a lease owner is 1 to 128 bytes without control characters" lease acquire --owner "" "$T/u1"
usage_case "new: --owner: a lease owner is 1 to 128 bytes" new --owner "$(printf '%0129d' 0)" "$T/u1"
usage_case "lease: STORE must be a file or a database, not -" lease show -
expect_missing "$T/u1"
expect_missing "$T/u1.lease"

# ---- new, then inspect (golden) ----------------------------------------

CASE=new
run new "$T/new.mts"
expect_rc 0
expect_out_empty
run inspect "$T/new.mts"
expect_rc 0
expect_out_file "$DATA/inspect-new.txt"
run detect "$T/new.mts"
expect_rc 0
expect_out "mtsession"
# options after the operand, and --opt=value
run new "$T/new2.mts" --to=mtsession
expect_rc 0
expect_same "$T/new.mts" "$T/new2.mts"

CASE=new-test-dc1
run new --test --dc 1 "$T/newt.mts"
expect_rc 0
run inspect "$T/newt.mts"
expect_rc 0
expect_out_file "$DATA/inspect-new-test-dc1.txt"

CASE=new-stdout
run new --to json -
expect_rc 0
cp "$T/out" "$T/new-stdout.json"
run convert --to json "$T/new.mts" -
expect_rc 0
expect_same "$T/out" "$T/new-stdout.json"
run new --to mtsession-string -
expect_rc 0
if grep -qE '^mts:[A-Za-z0-9_-]+$' "$T/out" && [ "$(wc -l <"$T/out")" -eq 1 ]; then pass; else fail "new --to mtsession-string: not one mts: line"; fi

# ---- conversions and the canonical JSON ---------------------------------

CASE=roundtrip
run convert --to mtsession "$DATA/session.json" "$T/k1.mts"
expect_rc 0
expect_out_empty
expect_err_lacks warning
run convert --to json "$T/k1.mts" "$T/k1.json"
expect_rc 0
run convert --to mtsession "$T/k1.json" "$T/k2.mts"
expect_rc 0
run convert --to json "$T/k2.mts" "$T/k2.json"
expect_rc 0
expect_same "$T/k1.json" "$T/k2.json"
expect_same "$T/k1.mts" "$T/k2.mts"
run convert --from json --to json "$DATA/session.json" "$T/kc.json"
expect_rc 0
expect_same "$T/kc.json" "$T/k1.json"
run convert --to json "$T/kc.json" "$T/kc2.json"
expect_rc 0
expect_same "$T/kc.json" "$T/kc2.json"
# the file backend and standard output write the same bytes
run convert --to mtsession "$DATA/session.json" -
expect_rc 0
expect_same "$T/out" "$T/k1.mts"
# inspect --json is the canonical document
run inspect --json "$T/k1.mts"
expect_rc 0
expect_out_file "$T/k1.json"
# "--" ends the options: an operand may then start with a dash
cp "$DATA/session.json" "$T/-dash.json"
(cd "$T" && "$BIN" convert --to json -- -dash.json -dash.out >"$T/out" 2>"$T/err")
RC=$?
expect_rc 0
expect_same "$T/-dash.out" "$T/k1.json"
run convert --to json "$T/-dash.json" -- -
expect_rc 0
expect_out_file "$T/k1.json"
# converting a file over itself
cp "$T/k1.json" "$T/self.json"
run convert --to json "$T/self.json" "$T/self.json"
expect_rc 0
expect_same "$T/self.json" "$T/k1.json"

CASE=string
run convert --to mtsession-string "$T/k1.mts" "$T/k.str"
expect_rc 0
if grep -qE '^mts:[A-Za-z0-9_-]+$' "$T/k.str" && [ "$(wc -l <"$T/k.str")" -eq 1 ]; then pass; else fail "k.str is not one mts: line"; fi
run convert --to json "$T/k.str" "$T/ks.json"
expect_rc 0
expect_same "$T/ks.json" "$T/k1.json"
run convert --to mtsession-string "$T/ks.json" "$T/k2.str"
expect_rc 0
expect_same "$T/k.str" "$T/k2.str"
# the first non-empty line, surrounding white space ignored
printf '\n  \n\t%s  \r\nsecond line\n' "$(cat "$T/k.str")" >"$T/padded.str"
run convert --to json "$T/padded.str" -
expect_rc 0
expect_out_file "$T/k1.json"
run convert --from mtsession-string --to json "$T/padded.str" -
expect_rc 0
expect_out_file "$T/k1.json"

# ---- detect -------------------------------------------------------------

CASE=permissions
run new "$T/perm.mts"
expect_rc 0
chmod 644 "$T/perm.mts"
run inspect "$T/perm.mts"
expect_rc 0
expect_err "mtsession: warning: $T/perm.mts is readable by group and others (mode 0644); chmod 600 it"
chmod 600 "$T/perm.mts"
run inspect "$T/perm.mts"
expect_rc 0
expect_err_lacks "warning"

CASE=ambiguous
AMB="$DATA/../formats/ambiguous/ferogram-string-or-pyrogram-string.txt"
run detect "$AMB"
expect_rc 1
expect_err "ambiguous input: it fits ferogram-string or pyrogram-string"
run inspect "$AMB"
expect_rc 1
expect_err "name the format with --from"
run inspect --from ferogram-string "$AMB"
expect_rc 0
expect_out_has "home dc: 2"
run inspect --from pyrogram-string "$AMB"
expect_rc 0
expect_out_has "home dc: 5"

CASE=detect
run detect "$DATA/session.json"
expect_rc 0
expect_out json
run detect "$T/k1.mts"
expect_rc 0
expect_out mtsession
run detect "$T/k.str"
expect_rc 0
expect_out mtsession-string
run detect "$T/padded.str"
expect_rc 0
expect_out mtsession-string
run detect "$DATA/garbage.bin"
expect_rc 1
expect_out_empty
expect_err "mtsession: $DATA/garbage.bin: "
: >"$T/empty"
run detect "$T/empty"
expect_rc 1
expect_err "mtsession: $T/empty: "
run detect "$T/no-such-file"
expect_rc 3
expect_err "mtsession: $T/no-such-file: "

# ---- standard input and output -----------------------------------------

CASE=stdio
run_in "$T/k1.mts" convert --to json - -
expect_rc 0
expect_out_file "$T/k1.json"
run_in "$T/k.str" detect -
expect_rc 0
expect_out mtsession-string
run_in "$DATA/session.json" inspect -
expect_rc 0
expect_out_file "$DATA/inspect-session.txt"
run_in "$T/k.str" convert --to mtsession - "$T/stdin.mts"
expect_rc 0
expect_same "$T/stdin.mts" "$T/k1.mts"
run_in "$DATA/garbage.bin" inspect -
expect_rc 1
expect_err "mtsession: -: "

# ---- inspect and stats (golden), secrets --------------------------------

CASE=inspect
run inspect "$DATA/session.json"
expect_rc 0
expect_out_file "$DATA/inspect-session.txt"
expect_out_lacks "${KEYHEX:0:32}"
expect_out_lacks "$TOKENHEX"
expect_err_lacks "${KEYHEX:0:32}"
run inspect "$T/k1.mts"
expect_rc 0
{ echo "format: mtsession"; tail -n +2 "$DATA/inspect-session.txt"; } >"$T/expected-mts"
expect_out_file "$T/expected-mts"
expect_out_lacks "${KEYHEX:0:32}"
run inspect "$T/k.str"
expect_rc 0
expect_out_lacks "${KEYHEX:0:32}"
# --json is a full dump: it does print the key and the token
run inspect --json "$DATA/session.json"
expect_rc 0
expect_out_has "$KEYHEX"
expect_out_has "$TOKENHEX"

CASE=stats
run stats "$DATA/session.json"
expect_rc 0
head -n 12 "$T/out" >"$T/stats-head"
expect_same "$T/stats-head" "$DATA/stats-session.txt"
if [ "$(sed -n 13p "$T/out")" = "encoded_bytes: $(wc -c <"$T/k1.mts" | tr -d ' ')" ]; then pass; else fail "encoded_bytes line: $(sed -n 13p "$T/out")"; fi
if [ "$(sed -n 14p "$T/out")" = "lease: none" ]; then pass; else fail "lease line: $(sed -n 14p "$T/out")"; fi
if [ "$(wc -l <"$T/out")" -eq 14 ]; then pass; else fail "stats: not 14 lines"; fi
expect_out_lacks "${KEYHEX:0:32}"
run stats --from mtsession "$T/k1.mts"
expect_rc 0
expect_out_has "input_bytes: $(wc -c <"$T/k1.mts" | tr -d ' ')"
expect_out_has "dcs_with_key: 1"

# ---- invalid input: exit 1, format and byte offset named ----------------

CASE=corrupt
size=$(wc -c <"$T/k1.mts")
cp "$T/k1.mts" "$T/bad.mts"
# flip one byte in the middle
mid=$((size / 2))
orig=$(od -An -tu1 -j "$mid" -N1 "$T/bad.mts" | tr -d ' ')
printf "$(printf '\\%03o' $(((orig + 1) % 256)))" |
    dd of="$T/bad.mts" bs=1 seek="$mid" conv=notrunc 2>/dev/null
run convert --to json "$T/bad.mts" "$T/bad.json"
expect_rc 1
expect_err "mtsession: $T/bad.mts: mtsession: "
expect_err_re '(byte|offset) [0-9]+'
expect_missing "$T/bad.json"
run inspect --from mtsession "$T/bad.mts"
expect_rc 1
expect_out_empty
expect_err_re '(byte|offset) [0-9]+'
# truncated
head -c $((size - 3)) "$T/k1.mts" >"$T/short.mts"
run inspect --from mtsession "$T/short.mts"
expect_rc 1
expect_err "mtsession: $T/short.mts: mtsession: "
# a JSON error names the field path and offset
sed 's/"port": 8443/"port": 70000/' "$DATA/session.json" >"$T/badport.json"
run inspect "$T/badport.json"
expect_rc 1
expect_err "mtsession: $T/badport.json: json: "
expect_err "port"
expect_err_re '(byte|offset) [0-9]+'
head -c 700 "$DATA/session.json" >"$T/cut.json"
run inspect --from json "$T/cut.json"
expect_rc 1
expect_err "mtsession: $T/cut.json: json: "
expect_err_re '(byte|offset) [0-9]+'
# the wrong --from is reported with that format's name
run inspect --from json "$T/k1.mts"
expect_rc 1
expect_err "mtsession: $T/k1.mts: json: "
run inspect --from mtsession-string "$DATA/session.json"
expect_rc 1
expect_err "mtsession: $DATA/session.json: mtsession-string: "

# ---- failed writes: exit 3, nothing clobbered ---------------------------

CASE=write-fail
run convert --to json "$DATA/session.json" "$T/nodir/out.json"
expect_rc 3
expect_err "mtsession: $T/nodir/out.json: "
expect_missing "$T/nodir"
run new "$T/nodir/out.mts"
expect_rc 3
expect_missing "$T/nodir"
mkdir "$T/isdir"
echo keep >"$T/isdir/keep"
for to in json mtsession mtsession-string; do
    run convert --to $to "$DATA/session.json" "$T/isdir"
    expect_rc 3
    expect_err "mtsession: $T/isdir: "
    if [ -d "$T/isdir" ]; then pass; else fail "$T/isdir is no longer a directory"; fi
    expect_content "$T/isdir/keep" keep
done
expect_missing "$T/isdir.lock"
# an existing OUTPUT survives a failed input and a refused format
echo old >"$T/keep.json"
run convert --to json "$DATA/garbage.bin" "$T/keep.json"
expect_rc 1
expect_content "$T/keep.json" old
run convert --to json "$T/bad.mts" "$T/keep.json"
expect_rc 1
expect_content "$T/keep.json" old
if [ "$(id -u)" -ne 0 ]; then
    mkdir "$T/ro"
    echo old >"$T/ro/out.json"
    chmod 555 "$T/ro"
    run convert --to json "$DATA/session.json" "$T/ro/out.json"
    expect_rc 3
    expect_content "$T/ro/out.json" old
    run convert --to mtsession "$DATA/session.json" "$T/ro/out.json"
    expect_rc 3
    expect_content "$T/ro/out.json" old
    chmod 755 "$T/ro"
fi
# an existing file in a directory nobody can create files in, even root
if [ -f /proc/version ]; then
    cat /proc/version >"$T/proc-version"
    for to in json mtsession; do
        run convert --to $to "$DATA/session.json" /proc/version
        expect_rc 3
        expect_err "mtsession: /proc/version: "
        cat /proc/version >"$T/proc-version-after"
        expect_same "$T/proc-version" "$T/proc-version-after"
    done
fi
if [ -w /dev/full ]; then
    "$BIN" convert --to json "$DATA/session.json" - >/dev/full 2>"$T/err"
    RC=$?
    expect_rc 3
    "$BIN" inspect "$DATA/session.json" >/dev/full 2>"$T/err"
    RC=$?
    expect_rc 3
fi

# ---- held by another writer: exit 4 ---------------------------------------

CASE=locked
# A helper process holds the file backend's writer lock on OUTPUT.lock
# (a POSIX record lock conflicts with the backend's open-file lock).
if command -v python3 >/dev/null 2>&1; then
    echo old >"$T/held.mts"
    python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
open(sys.argv[2], "w").close()
time.sleep(60)
' "$T/held.mts.lock" "$T/held.ready" &
holder=$!
for _ in $(seq 1 100); do
    [ -e "$T/held.ready" ] && break
    sleep 0.05
done
if [ -e "$T/held.ready" ]; then
    run convert --to mtsession "$DATA/session.json" "$T/held.mts"
    expect_rc 4
    expect_err "mtsession: $T/held.mts: "
    expect_err locked
    expect_content "$T/held.mts" old
    run new "$T/held.mts"
    expect_rc 4
    expect_content "$T/held.mts" old
    # a lease waits for the writer's lock (2 s), then gives up
    run lease acquire --owner me --from mtsession "$T/held.mts"
    expect_rc 4
    expect_err "mtsession: $T/held.mts: $T/held.mts is locked by"
    expect_missing "$T/held.mts.lease"
else
    fail "the lock helper did not start"
fi
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
fi

# ---- leases: exit 4 when another owner holds the session ------------------

CASE=lease
LEASE_RE='^lease: [^ ]+ until 20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{3}Z \(epoch [0-9]+\)$'
expect_out_re() { # ERE: stdout is exactly one line matching it
    if [ "$(wc -l <"$T/out")" -eq 1 ] && grep -qE -- "$1" "$T/out"; then pass; else fail "stdout does not match /$1/: $(head -c 200 "$T/out")"; fi
}
printf '0123456789abcdef0123456789abcdef' >"$T/lk.key"
run new "$T/l.mts"
expect_rc 0
run lease show "$T/l.mts"
expect_rc 0
expect_out "lease: none"
expect_missing "$T/l.mts.lease"
run lease acquire --owner alice --ttl 120 "$T/l.mts"
expect_rc 0
expect_out_re "$LEASE_RE"
expect_out_has "lease: alice until "
expect_out_has "(epoch 1)"
cp "$T/out" "$T/alice.line"
if [ "$(stat -c %a "$T/l.mts.lease")" = 600 ]; then pass; else fail "l.mts.lease is not 0600"; fi
# the lease outlives the command: show, stats and inspect see it
run lease show "$T/l.mts"
expect_rc 0
expect_out_file "$T/alice.line"
run stats "$T/l.mts"
expect_rc 0
if [ "$(sed -n 14p "$T/out")" = "$(cat "$T/alice.line")" ]; then pass; else fail "stats lease line: $(sed -n 14p "$T/out")"; fi
run inspect "$T/l.mts"
expect_rc 0
if [ "$(tail -n 1 "$T/out")" = "$(cat "$T/alice.line")" ]; then pass; else fail "inspect lease line: $(tail -n 1 "$T/out")"; fi
# another owner, or nobody's lease: refused with exit 4, naming alice
cp "$T/l.mts" "$T/l.before"
run lease acquire --owner bob "$T/l.mts"
expect_rc 4
expect_out_empty
expect_err "mtsession: $T/l.mts: session held by alice until 20"
run convert --to mtsession "$DATA/session.json" "$T/l.mts"
expect_rc 4
expect_err "mtsession: $T/l.mts: session held by alice until 20"
run new "$T/l.mts"
expect_rc 4
expect_err "session held by alice"
run new --owner bob "$T/l.mts"
expect_rc 4
expect_err "mtsession: $T/l.mts: session held by alice until 20"
run convert --owner bob --to mtsession "$DATA/session.json" "$T/l.mts"
expect_rc 4
expect_err "session held by alice"
run rekey --owner bob --new-key-file "$T/lk.key" "$T/l.mts"
expect_rc 4
expect_err "session held by alice"
run rekey --new-key-file "$T/lk.key" "$T/l.mts"
expect_rc 4
expect_same "$T/l.mts" "$T/l.before"
expect_missing "$T/l.mts.journal"
# alice writes, and keeps her lease and its epoch
run convert --owner alice --to mtsession "$DATA/session.json" "$T/l.mts"
expect_rc 0
expect_same "$T/l.mts" "$T/k1.mts"
run lease show "$T/l.mts"
expect_out_has "lease: alice until "
expect_out_has "(epoch 1)"
run rekey --owner alice --new-key-file "$T/lk.key" "$T/l.mts"
expect_rc 0
run inspect --key-file "$T/lk.key" "$T/l.mts"
expect_rc 0
expect_out_has "home dc: 2"
expect_out_has "(epoch 1)"
run rekey --owner alice --key-file "$T/lk.key" --remove-key "$T/l.mts"
expect_rc 0
expect_same "$T/l.mts" "$T/k1.mts"
run new --owner alice --dc 4 "$T/l.mts"
expect_rc 0
run inspect "$T/l.mts"
expect_out_has "home dc: 4"
expect_out_has "lease: alice until "
# renew and release act on alice's live lease only
run lease renew --owner bob "$T/l.mts"
expect_rc 4
expect_err "mtsession: $T/l.mts: session held by alice until 20"
run lease release --owner bob "$T/l.mts"
expect_rc 4
expect_err "session held by alice"
run lease renew --owner alice --ttl 0.5 "$T/l.mts"
expect_rc 0
expect_out_re "$LEASE_RE"
expect_out_has "(epoch 1)"
run lease renew --owner alice --ttl 300 "$T/l.mts"
expect_rc 0
expect_out_has "lease: alice until "
run lease release --owner alice "$T/l.mts"
expect_rc 0
expect_out_empty
run lease show "$T/l.mts"
expect_rc 0
expect_out_re '^lease: none \(alice'"'"'s, epoch 1, ended 20[0-9-]+T[0-9:.]+Z\)$'
run stats "$T/l.mts"
if sed -n 14p "$T/out" | grep -q "^lease: none (alice's, epoch 1, ended "; then pass; else fail "stats after release: $(sed -n 14p "$T/out")"; fi
run lease release --owner alice "$T/l.mts"
expect_rc 0
run lease renew --owner alice "$T/l.mts"
expect_rc 4
expect_err "alice holds no lease to renew (alice's lease, epoch 1, ended 20"
# free again: anyone writes; the next lease has the next epoch
run convert --to mtsession "$DATA/session.json" "$T/l.mts"
expect_rc 0
run lease acquire --owner bob --ttl 0.3 "$T/l.mts"
expect_rc 0
expect_out_has "(epoch 2)"
sleep 0.5
# bob's ran out: carol gets in without waiting for a release
run lease acquire --owner carol "$T/l.mts"
expect_rc 0
expect_out_has "lease: carol until "
expect_out_has "(epoch 3)"
run lease acquire --owner carol "$T/l.mts"
expect_rc 0
expect_out_has "(epoch 3)"
run new --owner carol "$T/l.mts"
expect_rc 0
run lease show "$T/l.mts"
expect_out_has "lease: carol until "
expect_out_has "(epoch 3)"
run lease release --owner carol "$T/l.mts"
expect_rc 0
# --owner on a session nobody holds: taken for the write, given back
run new --owner dave "$T/l2.mts"
expect_rc 0
run lease show "$T/l2.mts"
expect_out_re "^lease: none \\(dave's, epoch 1, ended "
# a store not written yet can be leased (by naming its format)
run lease acquire --owner erin "$T/l3.mts"
expect_rc 3
expect_err "mtsession: $T/l3.mts: no such file"
run lease acquire --owner erin --from mtsession "$T/l3.mts"
expect_rc 0
expect_out_has "lease: erin until "
run new "$T/l3.mts"
expect_rc 4
expect_missing "$T/l3.mts"
run new --owner erin "$T/l3.mts"
expect_rc 0
run lease show "$T/l3.mts"
expect_out_has "lease: erin until "
# inputs that keep no lease
run lease show "$DATA/session.json"
expect_rc 1
expect_err "mtsession: $DATA/session.json: json: not a store; leases are kept by mtsession files and the sqlite, libsql and postgres stores"
run lease acquire --owner x "$T/k.str"
expect_rc 1
expect_err "mtsession-string: not a store"
run stats "$T/k.str"
expect_rc 0
if [ "$(tail -n 1 "$T/out")" = "lease: none" ]; then pass; else fail "stats of a string: $(tail -n 1 "$T/out")"; fi
run convert --owner x --to json "$DATA/session.json" "$T/lx.json"
expect_rc 1
expect_err "mtsession: --owner: applies only to writing an mtsession file or an sqlite, libsql or postgres store"
expect_missing "$T/lx.json"
run convert --owner x --to mtsession "$DATA/session.json" -
expect_rc 1
expect_err "mtsession: --owner: applies only to"
run lease show --key-file "$T/lk.key" "$T/l.mts"
expect_rc 1
expect_err "mtsession: --key-file: does not apply to lease"
run lease show --name x "$T/l.mts"
expect_rc 1
expect_err "mtsession: --name: applies only to"

# ---- rekey: add, change, remove the at-rest key in place -------------------

CASE=rekey
run new "$T/rk.mts"
expect_rc 0
cp "$T/rk.mts" "$T/rk.plain"
head -c 32 /dev/zero | tr '\0' 'K' > "$T/rk.key"
printf 'first pass\n' > "$T/rk.pass"
run rekey "$T/rk.mts"
expect_rc 2
expect_err "give exactly one of"
run rekey --new-key-file "$T/rk.key" "$T/rk.mts"
expect_rc 0
run inspect "$T/rk.mts"
expect_rc 1
expect_err "encrypted (with a 32-byte key) and no key or passphrase was given"
run rekey --key-file "$T/rk.key" --new-passphrase-file "$T/rk.pass" "$T/rk.mts"
expect_rc 0
run inspect --key-file "$T/rk.key" "$T/rk.mts"
expect_rc 1
expect_err "sealed with a passphrase, but a key was given"
run rekey --passphrase-file "$T/rk.key" --remove-key "$T/rk.mts"
expect_rc 1
expect_err "wrong key or passphrase"
run rekey --passphrase-file "$T/rk.pass" --remove-key "$T/rk.mts"
expect_rc 0
expect_same "$T/rk.mts" "$T/rk.plain"
run rekey --remove-key -- -
expect_rc 2

CASE=unsupported
can_write() {
    case "$FORMATS" in *" $1 (read/write)"* | *" $1 (write)"*) return 0 ;; esac
    return 1
}
can_read() {
    case "$FORMATS" in *" $1 (read/write)"* | *" $1 (read)"*) return 0 ;; esac
    return 1
}
ALL_FORMATS="telethon-string gramjs-string mtcute-string pyrogram-string
ferogram-string ferogram-compact ferogram telethon-sqlite pyrogram-sqlite
postgres libsql sqlite"
# the first format this build cannot write, and the first it cannot read
unsup_w=""
unsup_r=""
for f in $ALL_FORMATS; do
    [ -z "$unsup_w" ] && ! can_write $f && unsup_w=$f
    [ -z "$unsup_r" ] && ! can_read $f && unsup_r=$f
done
if [ -n "$unsup_w" ]; then
    echo old >"$T/keep.out"
    run convert --to "$unsup_w" "$DATA/session.json" "$T/keep.out"
    expect_rc 1
    expect_err "mtsession: $T/keep.out: unsupported format $unsup_w"
    expect_content "$T/keep.out" old
    run new --to "$unsup_w" "$T/un.out"
    expect_rc 1
    expect_err "unsupported format $unsup_w"
    expect_missing "$T/un.out"
else
    echo "note: every format is writable here; --to of an unsupported one not run" >&2
fi
if [ -n "$unsup_r" ]; then
    run inspect --from "$unsup_r" "$T/k1.mts"
    expect_rc 1
    expect_err "mtsession: $T/k1.mts: unsupported format $unsup_r"
fi
# a format this build reads, given data that is something else: exit 1
# and the message names the format tried
for f in $ALL_FORMATS; do
    [ "$f" = postgres ] && continue
    if can_read $f; then
        run inspect --from $f "$T/k1.mts"
        expect_rc 1
        expect_err "mtsession: $T/k1.mts: $f: "
    fi
done
# options are refused where they do not apply, never ignored
printf '0123456789abcdef0123456789abcdef' >"$T/k.key"
run inspect --name other "$DATA/session.json"
expect_rc 1
expect_err "mtsession: --name: applies only to"
run inspect --key-file "$T/k.key" "$DATA/session.json"
expect_rc 1
expect_err "mtsession: --key-file: applies only to the mtsession, mtsession-string, sqlite, libsql and postgres formats"
run convert --passphrase-env X --to json "$DATA/session.json" "$T/un.json"
expect_rc 1
expect_missing "$T/un.json"
run convert --owner me --to telethon-string "$DATA/session.json" "$T/un.mts"
expect_rc 1
expect_err "mtsession: --owner: "
expect_missing "$T/un.mts"
run convert --format-version 5 --to json "$DATA/session.json" "$T/un.json"
expect_rc 1
expect_err "mtsession: --format-version: applies only to --to ferogram and ferogram-compact"
expect_missing "$T/un.json"
run detect --token-env TOKEN "$DATA/session.json"
expect_rc 1
expect_err "mtsession: --token-env: applies only to the libsql format"

# ---- sealed sessions ------------------------------------------------------

CASE=sealed
hexdump_of() { od -An -tx1 -v "$1" | tr -d ' \n'; }
printf 'fedcba9876543210fedcba9876543210' >"$T/w.key"
run convert --key-file "$T/k.key" --to mtsession "$DATA/session.json" "$T/s.mts"
expect_rc 0
# the plain file holds the auth key bytes, the sealed one does not
if hexdump_of "$T/k1.mts" | grep -q "$KEYHEX"; then pass; else fail "plain file lacks the key bytes"; fi
if hexdump_of "$T/s.mts" | grep -q "${KEYHEX:0:32}"; then fail "sealed file holds the key bytes"; else pass; fi
run detect "$T/s.mts"
expect_rc 0
expect_out mtsession
run inspect "$T/s.mts"
expect_rc 1
expect_out_empty
expect_err "mtsession: $T/s.mts: mtsession: "
expect_err "encrypted"
expect_err "--key-file"
run inspect --key-file "$T/w.key" "$T/s.mts"
expect_rc 1
expect_err "wrong key"
run inspect --key-file "$T/k.key" "$T/s.mts"
expect_rc 0
expect_out_file "$T/expected-mts"
run convert --key-file "$T/k.key" --to json "$T/s.mts" -
expect_rc 0
expect_out_file "$T/k1.json"
# sealing to standard output gives a file the key opens
run convert --key-file "$T/k.key" --to mtsession "$DATA/session.json" -
expect_rc 0
cp "$T/out" "$T/s2.mts"
run convert --key-file "$T/k.key" --to json "$T/s2.mts" -
expect_rc 0
expect_out_file "$T/k1.json"
# sealed string
run convert --key-file "$T/k.key" --to mtsession-string "$T/s.mts" "$T/s.str"
expect_rc 0
if grep -qE '^mts:[A-Za-z0-9_-]+$' "$T/s.str" && [ "$(wc -l <"$T/s.str")" -eq 1 ]; then pass; else fail "s.str is not one mts: line"; fi
run inspect "$T/s.str"
expect_rc 1
expect_err "encrypted"
run_in "$T/s.str" convert --key-file "$T/k.key" --to json - -
expect_rc 0
expect_out_file "$T/k1.json"
# a passphrase from the environment, then from a file
MTS_CLI_TEST_PASS=hunter2 run convert --passphrase-env MTS_CLI_TEST_PASS --to mtsession "$DATA/session.json" "$T/p.mts"
expect_rc 0
printf 'hunter2\n' >"$T/pass.txt"
run stats --passphrase-file "$T/pass.txt" "$T/p.mts"
expect_rc 0
expect_out_has "dcs_with_key: 1"
printf 'hunter3\n' >"$T/pass.txt"
run stats --passphrase-file "$T/pass.txt" "$T/p.mts"
expect_rc 1
expect_err "wrong key"
# a new sealed session
run new --key-file "$T/k.key" "$T/sn.mts"
expect_rc 0
run inspect --key-file "$T/k.key" "$T/sn.mts"
expect_rc 0
expect_out_file "$DATA/inspect-new.txt"
# bad key material
head -c 31 "$T/k.key" >"$T/short.key"
run inspect --key-file "$T/short.key" "$T/s.mts"
expect_rc 1
expect_err "a key is exactly 32 raw bytes"
run inspect --key-file "$T/no-such.key" "$T/s.mts"
expect_rc 3
run inspect --passphrase-env MTS_CLI_TEST_UNSET "$T/s.mts"
expect_rc 1
expect_err "MTS_CLI_TEST_UNSET is not set"

# ---- formats that drop data, format versions ------------------------------

CASE=lossy
if can_write telethon-string; then
    run convert --to telethon-string "$DATA/session.json" "$T/tel.txt"
    expect_rc 0
    expect_err "mtsession: warning: $T/tel.txt: dropped peers (4)"
    if grep -v "^mtsession: warning: $T/tel.txt: dropped " "$T/err" | grep -q .; then fail "a stderr line is not a warning"; else pass; fi
    if [ "$(wc -l <"$T/tel.txt")" -eq 1 ]; then pass; else fail "tel.txt is not one line"; fi
    run detect "$T/tel.txt"
    expect_rc 0
    expect_out telethon-string
    # the key survives: same key id, still never printed
    run inspect "$T/tel.txt"
    expect_rc 0
    expect_out_has "key id 0x869c47c13d34b9d5"
    expect_out_lacks "${KEYHEX:0:32}"
    # a fresh session has no key for its home DC: nothing to write
    run new --to telethon-string -
    expect_rc 1
    expect_out_empty
    expect_err "mtsession: -: telethon-string: "
fi
if can_write ferogram; then
    run convert --to ferogram --format-version 5 "$DATA/session.json" "$T/f5.bin"
    expect_rc 0
    run detect "$T/f5.bin"
    expect_out ferogram
    run convert --to ferogram --format-version 9 "$DATA/session.json" "$T/f9.bin"
    expect_rc 1
    expect_err "mtsession: $T/f9.bin: ferogram: "
    expect_missing "$T/f9.bin"
fi

# ---- stores ------------------------------------------------------------------

CASE=sqlite
if can_write sqlite; then
    run convert --to sqlite "$DATA/session.json" "$T/s.db"
    expect_rc 0
    run convert --from sqlite --to json "$T/s.db" -
    expect_rc 0
    expect_out_file "$T/k1.json"
    run inspect --from sqlite "$T/s.db"
    expect_rc 0
    { echo "format: sqlite"; tail -n +2 "$DATA/inspect-session.txt"; } >"$T/expected-sqlite"
    expect_out_file "$T/expected-sqlite"
    run inspect --from sqlite --name other "$T/s.db"
    expect_rc 1
    expect_err "no session named 'other'"
    run new --to sqlite --name other "$T/s.db"
    expect_rc 0
    run stats --from sqlite --name other "$T/s.db"
    expect_rc 0
    expect_out_has "dcs: 10"
    run stats --from sqlite "$T/s.db"
    expect_out_has "dcs: 4"
    run inspect --from sqlite "$T/missing.db"
    expect_rc 3
    expect_missing "$T/missing.db"
    run convert --to sqlite "$DATA/session.json" -
    expect_rc 2
    run_in "$T/s.db" inspect --from sqlite -
    expect_rc 2
    # this build's sqlite store keeps no leases: exit 1, and "none"
    run stats --from sqlite "$T/s.db"
    expect_rc 0
    if [ "$(sed -n 14p "$T/out")" = "lease: none" ]; then pass; else fail "sqlite stats lease line: $(sed -n 14p "$T/out")"; fi
    run inspect --from sqlite "$T/s.db"
    expect_out_file "$T/expected-sqlite"
    # Sealed SQLite stores: secret columns sealed with the key, rekeyed
    # in place, opened only with the right key.
    head -c 32 /dev/zero | tr '\0' 'q' >"$T/sq.key"
    printf 'store pass\n' >"$T/sq.pass"
    run convert --key-file "$T/sq.key" --to sqlite "$DATA/session.json" "$T/sealed.db"
    expect_rc 0
    if od -An -tx1 -v "$T/sealed.db" | tr -d ' \n' | grep -q "${KEYHEX:0:64}"; then fail "sealed sqlite store holds the auth key in clear"; else pass; fi
    run inspect --from sqlite "$T/sealed.db"
    expect_rc 1
    expect_err "is sealed (with a 32-byte key) and no key or passphrase was given"
    run inspect --key-file "$T/sq.key" --from sqlite "$T/sealed.db"
    expect_rc 0
    run rekey --key-file "$T/sq.key" --new-passphrase-file "$T/sq.pass" --from sqlite "$T/sealed.db"
    expect_rc 0
    run inspect --key-file "$T/sq.key" --from sqlite "$T/sealed.db"
    expect_rc 1
    run inspect --json --passphrase-file "$T/sq.pass" --from sqlite "$T/sealed.db"
    expect_rc 0
    expect_out_has "$KEYHEX"
    # The lease record is not sealed: a sealed store is leased without its
    # key; a rekey is a write, kept out while another owner holds it.
    run lease acquire --owner w --from sqlite "$T/sealed.db"
    expect_rc 0
    expect_out_has "lease: w until "
    run lease show --from sqlite "$T/sealed.db"
    expect_rc 0
    expect_out_has "lease: w until "
    run rekey --passphrase-file "$T/sq.pass" --new-key-file "$T/sq.key" --from sqlite "$T/sealed.db"
    expect_rc 4
    expect_err "held by w"
    run rekey --owner w --passphrase-file "$T/sq.pass" --new-key-file "$T/sq.key" --from sqlite "$T/sealed.db"
    expect_rc 0
    run inspect --key-file "$T/sq.key" --from sqlite "$T/sealed.db"
    expect_rc 0
    run lease show --from sqlite "$T/sealed.db"
    expect_out_has "lease: w until "
    run lease release --owner w --from sqlite "$T/sealed.db"
    expect_rc 0
    if can_write libsql; then
        run lease acquire --owner w2 --ttl 60 --from libsql "$T/sealed.db"
        expect_rc 0
        expect_out_has "lease: w2 until "
        run lease release --owner w2 --from libsql "$T/sealed.db"
        expect_rc 0
    fi
    # SQLite stores keep leases: acquire, refuse another owner (exit 4),
    # write as the holder, release.
    run lease acquire --owner me --ttl 60 --from sqlite "$T/s.db"
    expect_rc 0
    expect_out_has "lease: me until "
    run lease show --from sqlite "$T/s.db"
    expect_rc 0
    expect_out_has "lease: me until "
    cp "$T/s.db" "$T/s.db.before"
    run convert --owner other --to sqlite "$DATA/session.json" "$T/s.db"
    expect_rc 4
    expect_err "held by me until"
    run convert --owner me --to sqlite "$DATA/session.json" "$T/s.db"
    expect_rc 0
    run lease release --owner me --from sqlite "$T/s.db"
    expect_rc 0
    run stats --from sqlite "$T/s.db"
    expect_rc 0
    if sed -n 14p "$T/out" | grep -q "^lease: none (me's, epoch 1, ended "; then pass; else fail "sqlite stats after release: $(sed -n 14p "$T/out")"; fi
fi

# ---- the end ---------------------------------------------------------------

echo "$passed passed, $failed failed"
if [ "$failed" -eq 0 ]; then
    rm -rf "$T"
    exit 0
fi
echo "work files kept in $T" >&2
exit 1
