#!/bin/sh
# lease_pg.sh - "mtsession lease" and --owner on a postgres store, whose
# backend keeps the lease in a row on the server's clock; leases of a
# sealed account (no key needed) and "mtsession rekey" of postgres
# accounts (clear, sealed, through a postgresql:// URI, as a lease holder).
#
# usage: lease_pg.sh MTSESSION_BINARY
# The server is the postgres tests' throwaway one: MTS_PG_CONNINFO_FILE
# names the file holding its conninfo (ctest fixture postgres_server).
# Without it the test is skipped (exit 77). Each run uses an account of
# its own. Ends with "N passed, N failed".
set -u
BIN=$1
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
if [ ! -r "${MTS_PG_CONNINFO_FILE:-}" ]; then
    echo "lease_pg.sh: no postgres server (MTS_PG_CONNINFO_FILE): skipped" >&2
    exit 77
fi
CI=$(cat "$MTS_PG_CONNINFO_FILE")
ACCT=cli-lease-$$-$(date +%s)
T=$(mktemp -d "${TMPDIR:-/tmp}/mtsession-leasepg.XXXXXX") || exit 1
passed=0
failed=0
CASE=start
RC=0

pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL [$CASE] $*" >&2
    [ -s "$T/err" ] && sed 's/^/    stderr: /' "$T/err" | head -n 3 >&2
}
run() { # the binary on the store, with ARGS before it
    "$BIN" "$@" --from postgres --name "$ACCT" "$CI" </dev/null >"$T/out" 2>"$T/err"
    RC=$?
}
run_to() { # a writing command to the store
    "$BIN" "$@" --to postgres --name "$ACCT" "$CI" </dev/null >"$T/out" 2>"$T/err"
    RC=$?
}
expect_rc() { if [ "$RC" -eq "$1" ]; then pass; else fail "exit status $RC, expected $1"; fi; }
expect_out_has() { if grep -qF -- "$1" "$T/out"; then pass; else fail "stdout lacks '$1': $(head -c 200 "$T/out")"; fi; }
expect_err() { if grep -qF -- "$1" "$T/err"; then pass; else fail "stderr lacks '$1'"; fi; }
expect_out_empty() { if [ ! -s "$T/out" ]; then pass; else fail "stdout not empty"; fi; }

CASE=acquire
run_to new
expect_rc 0
run lease show
expect_rc 0
if [ "$(cat "$T/out")" = "lease: none" ]; then pass; else fail "never leased: $(cat "$T/out")"; fi
run stats
if [ "$(sed -n 14p "$T/out")" = "lease: none" ]; then pass; else fail "stats, never leased: $(sed -n 14p "$T/out")"; fi
run lease acquire --owner w1 --ttl 60
expect_rc 0
expect_out_has "lease: w1 until 20"
expect_out_has "(epoch 1)"
cp "$T/out" "$T/w1.line"
run lease show
expect_rc 0
if cmp -s "$T/out" "$T/w1.line"; then pass; else fail "show differs: $(cat "$T/out")"; fi
run stats
expect_rc 0
if [ "$(sed -n 14p "$T/out")" = "$(cat "$T/w1.line")" ]; then pass; else fail "stats lease line: $(sed -n 14p "$T/out")"; fi

CASE=held
run lease acquire --owner w2
expect_rc 4
expect_err "session held by w1 until 20"
run_to new
expect_rc 4
expect_err "held by w1"
run_to new --owner w2
expect_rc 4
expect_err "session held by w1 until 20"

CASE=owner-writes
run_to new --owner w1 --dc 4
expect_rc 0
run inspect
expect_rc 0
expect_out_has "home dc: 4"
expect_out_has "lease: w1 until 20"
expect_out_has "(epoch 1)"

CASE=renew-release
run lease renew --owner w2
expect_rc 4
run lease renew --owner w1 --ttl 0.3
expect_rc 0
expect_out_has "(epoch 1)"
sleep 0.6
run lease renew --owner w1
expect_rc 4
expect_err "w1 holds no lease to renew (w1's lease, epoch 1, ended 20"
run lease acquire --owner w2 --ttl 60
expect_rc 0
expect_out_has "lease: w2 until "
expect_out_has "(epoch 2)"
run lease release --owner w2
expect_rc 0
expect_out_empty
run lease show
expect_rc 0
expect_out_has "lease: none (w2's, epoch 2, ended 20"
run_to new --owner w3
expect_rc 0
run lease show
expect_out_has "lease: none (w3's, epoch 3, ended 20"
run_to new
expect_rc 0

# ---- a sealed account: leases without the key, rekey in place ----------

SEALED=$ACCT-sealed
runs() { # the binary on the sealed account, with ARGS before it
    "$BIN" "$@" --from postgres --name "$SEALED" "$CI" </dev/null >"$T/out" 2>"$T/err"
    RC=$?
}
HOST=$(printf '%s\n' "$CI" | sed -n 's/.*host=\([^ ]*\).*/\1/p')
URI="postgresql://test@/postgres?host=$HOST"
runu() { # the same through a postgresql:// URI, the format not named
    "$BIN" "$@" --name "$SEALED" "$URI" </dev/null >"$T/out" 2>"$T/err"
    RC=$?
}
head -c 32 /dev/zero | tr '\0' 'p' >"$T/pg.key"
head -c 32 /dev/zero | tr '\0' 'w' >"$T/wrong.key"
printf 'postgres pass\n' >"$T/pg.pass"
printf 'not the pass\n' >"$T/wrong.pass"

CASE=sealed-lease
"$BIN" new --to postgres --key-file "$T/pg.key" --name "$SEALED" "$CI" </dev/null >"$T/out" 2>"$T/err"
RC=$?
expect_rc 0
runs inspect
expect_rc 1
expect_err "is sealed (with a 32-byte key) and no key or passphrase was given"
runs inspect --key-file "$T/pg.key"
expect_rc 0
expect_out_has "format: postgres"
# the lease record is not sealed: no key needed, none accepted
runs lease show
expect_rc 0
if [ "$(cat "$T/out")" = "lease: none" ]; then pass; else fail "sealed, never leased: $(cat "$T/out")"; fi
runs lease acquire --owner s1 --ttl 60
expect_rc 0
expect_out_has "lease: s1 until 20"
expect_out_has "(epoch 1)"
runs lease renew --owner s1 --ttl 60
expect_rc 0
expect_out_has "(epoch 1)"
runs lease show
expect_rc 0
expect_out_has "lease: s1 until 20"
runs lease acquire --owner s2
expect_rc 4
expect_err "session held by s1 until 20"
runs lease acquire --key-file "$T/pg.key" --owner s1
expect_rc 1
expect_err "does not apply to lease"
runu lease show
expect_rc 0
expect_out_has "lease: s1 until 20"

CASE=sealed-rekey-held
# a write of another owner, or of nobody, is kept out; the holder rekeys
runs rekey --key-file "$T/pg.key" --new-passphrase-file "$T/pg.pass"
expect_rc 4
expect_err "held by s1"
runs rekey --owner s2 --key-file "$T/pg.key" --new-passphrase-file "$T/pg.pass"
expect_rc 4
expect_err "session held by s1 until 20"
runs inspect --key-file "$T/pg.key"
expect_rc 0
runs rekey --owner s1 --key-file "$T/pg.key" --new-passphrase-file "$T/pg.pass"
expect_rc 0
runs inspect --key-file "$T/pg.key"
expect_rc 1
expect_err "sealed with a passphrase, but a key was given"
runs inspect --passphrase-file "$T/pg.pass"
expect_rc 0
runs lease show
expect_out_has "lease: s1 until 20"
expect_out_has "(epoch 1)"
runs lease release --owner s1
expect_rc 0

CASE=sealed-rekey
runs inspect --json --passphrase-file "$T/pg.pass"
expect_rc 0
cp "$T/out" "$T/sealed.json"
# the wrong current key: refused, nothing changed
runs rekey --passphrase-file "$T/wrong.pass" --remove-key
expect_rc 1
expect_err "wrong key or passphrase"
runs rekey --key-file "$T/wrong.key" --new-key-file "$T/pg.key"
expect_rc 1
expect_err "sealed with a passphrase, but a key was given"
runs rekey --remove-key
expect_rc 1
expect_err "no key or passphrase was given"
runs inspect --json --passphrase-file "$T/pg.pass"
expect_rc 0
if cmp -s "$T/out" "$T/sealed.json"; then pass; else fail "changed by a refused rekey"; fi
# sealed -> clear, through the URI
runu rekey --passphrase-file "$T/pg.pass" --remove-key
expect_rc 0
runs inspect --json
expect_rc 0
if cmp -s "$T/out" "$T/sealed.json"; then pass; else fail "clear copy differs"; fi
runs inspect --passphrase-file "$T/pg.pass"
expect_rc 1
# clear -> sealed with a key
runs rekey --new-key-file "$T/pg.key"
expect_rc 0
runs inspect
expect_rc 1
expect_err "no key or passphrase was given"
runs inspect --json --key-file "$T/pg.key"
expect_rc 0
if cmp -s "$T/out" "$T/sealed.json"; then pass; else fail "sealed copy differs"; fi
runs lease acquire --owner s3 --ttl 0.2
expect_rc 0
expect_out_has "(epoch 2)"
runs lease release --owner s3
expect_rc 0

echo "$passed passed, $failed failed"
if [ "$failed" -eq 0 ]; then
    rm -rf "$T"
    exit 0
fi
echo "work files kept in $T" >&2
exit 1
