/*
 * journal_helpers.h - pieces shared by the journal tests: a deterministic
 * stream of update-state changes, stores opened with options, file sizes,
 * and a syscall hook that counts, fails or ends the process.
 */
#ifndef MTS_TEST_JOURNAL_HELPERS_H
#define MTS_TEST_JOURNAL_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "mtsession/mtsession.h"
#include "os.h"

/* Change number i of a stream in which every change alters the state:
 * PRIMARY, SECONDARY, CHANNEL and, every seventh, ALL with three
 * channels. `chans` must hold 3 entries and outlive *c. */
void j_change(long i, mts_update_change *c, mts_channel_pts *chans);
/* Apply changes [from, to) of the stream to s; exits the test on error. */
void j_apply(mts_session *s, long from, long to);
/* mts_file_open with journal_max_bytes `jmax` (0: default) and, when
 * group > 0, group commit of `group` changes and `ms` milliseconds. */
int j_open(mts_storage **out, const char *path, size_t jmax, unsigned group,
           unsigned ms, mts_error *err);
/* Size of the file at path, -1 when missing. */
long j_size(const char *path);
/* path + ".journal" into buf. */
void j_journal(char *buf, size_t size, const char *path);
/* Load through a fresh handle: 0 and *out, or the error code. */
int j_load(mts_session **out, const char *path, mts_error *err);
/* 1 when a fresh handle loads exactly `want`. */
int j_holds(const char *path, const mts_session *want);

/* ---- the system-call hook ---- */
typedef enum j_mode {
    J_COUNT,     /* never fail: count calls by kind, keep a trace */
    J_FAIL,      /* fail call `target` with `errnum` */
    J_FAIL_FROM, /* fail call `target` and every later one */
    J_SHORT,     /* if call `target` is a write, halve it */
    J_SHORT_FAIL, /* halve write `target`, fail call target+1 */
    J_EXIT       /* _exit(0) at call `target`, before it runs */
} j_mode;

enum { J_TRACE_MAX = 512 };

typedef struct j_hook {
    j_mode mode;
    long target;
    int errnum;
    long count;
    int fired;
    mts__sys fired_call;
    long by_kind[MTS__SYS__COUNT];
    mts__sys trace[J_TRACE_MAX];
} j_hook;

void j_hook_start(j_hook *h, j_mode mode, long target, int errnum);
void j_hook_stop(void);

#endif
