/*
 * lease_text.c - the lease refusals' words and times (lease_text.h), one
 * implementation for the file, SQLite and libSQL backends.
 *
 * Pure functions: thread-safe.
 */
#include "lease_text.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void
mts__lease_time(char *buf, size_t size, int64_t ms)
{
    time_t t;
    int frac;
    struct tm tm;
    if (ms == INT64_MIN) { /* (ms - 999) below would overflow */
        snprintf(buf, size, "(never)");
        return;
    }
    t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    frac = (int)(ms - (int64_t)t * 1000);
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, size, "(time %lld ms)", (long long)ms);
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, frac);
}

int
mts__lease_held(mts_error *err,
                const char *where,
                const char *what,
                const char *owner,
                int64_t expires_ms)
{
    char t[MTS__LEASE_TIME_SIZE];
    mts__lease_time(t, sizeof(t), expires_ms);
    if (what == NULL)
        return mts__err(err, MTS_ELOCKED, "%s: session held by %s until %s",
                        where, owner, t);
    return mts__err(err, MTS_ELOCKED, "%s: %s: session held by %s until %s",
                    where, what, owner, t);
}

int
mts__lease_fenced(mts_error *err,
                  const char *where,
                  const char *what,
                  uint64_t epoch,
                  const mts_lease *now,
                  int ours)
{
    char t[MTS__LEASE_TIME_SIZE];
    if (now == NULL)
        return mts__err(err, MTS_EFENCED,
                        "%s: %s: fenced: the lease record is gone", where,
                        what);
    if (ours) {
        mts__lease_time(t, sizeof(t), now->expires_ms);
        return mts__err(err, MTS_EFENCED,
                        "%s: %s: fenced: the lease (epoch %llu) expired at "
                        "%s; renew it",
                        where, what, (unsigned long long)epoch, t);
    }
    return mts__err(err, MTS_EFENCED,
                    "%s: %s: fenced: epoch %llu is over; the lease is now "
                    "%s's (epoch %llu)",
                    where, what, (unsigned long long)epoch, now->owner,
                    (unsigned long long)now->epoch);
}

int
mts__lease_verdict(mts_error *err,
                   const char *where,
                   const char *what,
                   int leased,
                   const char *owner,
                   uint64_t epoch,
                   const mts_lease *now)
{
    int ours;
    if (!leased)
        return now != NULL && now->held
                   ? mts__lease_held(err, where, what, now->owner,
                                     now->expires_ms)
                   : 0;
    ours = now != NULL && now->epoch == epoch && strcmp(now->owner, owner) == 0;
    if (ours && now->held)
        return 0;
    return mts__lease_fenced(err, where, what, epoch, now, ours);
}
