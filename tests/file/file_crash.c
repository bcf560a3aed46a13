/*
 * file_crash.c - kill a writer at a random moment, many times.
 *
 * A child saves three sessions in turn as fast as it can and reports each
 * completed save on a pipe; the parent SIGKILLs it after a random short
 * delay (in half of the trials only once the first save is done, so the
 * kill surely lands inside the loop; in the rest it may land while the
 * child takes the lock). Whatever moment the kill hits (temp write,
 * fsync, rename), the file must load, and hold exactly the session of the
 * last completed save or of the one in progress: never an error, never a
 * mix, never an older one. Leftover temp files are allowed between trials
 * and must be gone after the next writer takes the lock.
 *
 * The same for the update journal: a child applies a stream of update-state
 * changes (through the journal, folding it every few records, saving now
 * and then, some trials with group commit) and reports each acknowledged
 * change; after the kill the store must load as exactly the state after
 * the last acknowledged change or the one in flight.
 *
 * Set MTS_TEST_SEED to replay a run.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "journal_helpers.h"
#include "mtsession/mtsession.h"
#include "t.h"

enum { TRIALS = 50, MAX_DELAY_US = 30000, NSESS = 3 };

/* Save i writes sess[(i + 1) % NSESS]; the file starts as sess[0]. */
static void
child_loop(const char *path, mts_session *const *sess, int report)
{
    mts_storage *st = NULL;
    if (mts_file_open(&st, path, NULL, NULL) != 0)
        _exit(3);
    for (unsigned long i = 0;; i++) {
        if (mts_storage_save(st, sess[(i + 1) % NSESS], NULL) != 0)
            _exit(4);
        if (write(report, "s", 1) != 1)
            _exit(5);
    }
}

static int
which(const mts_session *got, mts_session *const *sess)
{
    for (int i = 0; i < NSESS; i++)
        if (mts_session_equal(got, sess[i]))
            return i;
    return -1;
}

static void
test_kill_during_saves(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_session *sess[NSESS];
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    const char *env = getenv("MTS_TEST_SEED");
    unsigned int seed =
        env ? (unsigned int)strtoul(env, NULL, 10)
            : (unsigned int)time(NULL) ^ (unsigned int)getpid();
    long total_saves = 0;
    int current = 0; /* index of the session on disk */
    printf("seed %u\n", seed);
    srand(seed);
    for (int i = 0; i < NSESS; i++)
        sess[i] = h_session(10 + i);
    h_dir("crash", d, sizeof(d));
    h_join(path, sizeof(path), d, "c.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, sess[0], &e), 0);
    mts_storage_free(st);

    for (int trial = 0; trial < TRIALS && !t_case_failed; trial++) {
        mts_session *got = NULL;
        int status = 0, rc, fds[2], got_i;
        long saves = 0;
        char buf[4096];
        ssize_t n;
        pid_t pid;
        T_EQ_INT(pipe(fds), 0);
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            /* Rotate so the child's first save writes sess[current+1]. */
            mts_session *order[NSESS];
            for (int i = 0; i < NSESS; i++)
                order[i] = sess[(current + i) % NSESS];
            child_loop(path, order, fds[1]);
        }
        T_CHECK(pid > 0);
        if (pid <= 0)
            break;
        close(fds[1]);
        if (trial % 2 == 1) {
            T_EQ_INT(read(fds[0], buf, 1), 1);
            saves++;
        }
        usleep((useconds_t)(rand() % MAX_DELAY_US));
        T_EQ_INT(kill(pid, SIGKILL), 0);
        T_EQ_INT(waitpid(pid, &status, 0), pid);
        /* Killed, not failed on its own. */
        T_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while ((n = read(fds[0], buf, sizeof(buf))) > 0)
            saves += n;
        close(fds[0]);
        total_saves += saves;

        T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
        rc = mts_storage_load(&got, st, &e);
        T_EQ_INT(rc, 0);
        if (rc != 0)
            fprintf(stderr, "  trial %d: %s\n", trial, e.message);
        got_i = got ? which(got, sess) : -1;
        {
            /* The last completed save, or the next one if its rename
             * happened before the kill but its report did not. */
            int done = (int)((current + saves) % NSESS);
            int next = (done + 1) % NSESS;
            if (got_i != done && got_i != next)
                fprintf(stderr,
                        "  trial %d: %ld saves reported, file holds "
                        "session %d, expected %d or %d\n",
                        trial, saves, got_i, done, next);
            T_CHECK(got_i == done || got_i == next);
        }
        if (got_i >= 0)
            current = got_i;
        mts_session_free(got);
        mts_storage_free(st);
    }
    /* The kills did land inside the loop. */
    T_CHECK(total_saves >= TRIALS / 2);

    /* The next writer removes whatever the kills left behind. */
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, sess[0], &e), 0);
    T_EQ_INT(h_count(d, ".tmp."), 0);
    T_EQ_INT(h_entries(d), 2);
    mts_storage_free(st);
    for (int i = 0; i < NSESS; i++)
        mts_session_free(sess[i]);
}

/* ---- the journal ----------------------------------------------------- */

enum { JTRIALS = 100, JMAX_DELAY_US = 20000, SAVE_EVERY = 37 };

/* Apply changes start, start+1, ... reporting each; save `model` (kept
 * up to date) every SAVE_EVERY changes. */
static void
child_updates(const char *path, mts_session *model, long start, int group,
              int report)
{
    mts_storage *st = NULL;
    if (j_open(&st, path, 400, group ? 8 : 0, group ? 5 : 0, NULL) != 0)
        _exit(3);
    for (long i = start;; i++) {
        mts_update_change c;
        mts_channel_pts chans[3];
        j_change(i, &c, chans);
        if (mts_storage_apply_update_state(st, &c, NULL) != 0)
            _exit(4);
        if (mts_session_apply_update(model, &c) != 0)
            _exit(5);
        if (write(report, "u", 1) != 1)
            _exit(6);
        if (i % SAVE_EVERY == 0 && mts_storage_save(st, model, NULL) != 0)
            _exit(7);
    }
}

static void
test_kill_during_updates(void)
{
    char d[PATH_MAX], path[PATH_MAX];
    mts_session *cur = h_session(3);
    mts_storage *st = NULL;
    mts_error e = MTS_ERROR_INIT;
    const char *env = getenv("MTS_TEST_SEED");
    unsigned int seed =
        env ? (unsigned int)strtoul(env, NULL, 10)
            : (unsigned int)time(NULL) ^ (unsigned int)getpid();
    long done = 0, total = 0, in_flight = 0;
    printf("seed %u\n", seed);
    srand(seed);
    h_dir("crash-journal", d, sizeof(d));
    h_join(path, sizeof(path), d, "j.session");
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, cur, &e), 0);
    mts_storage_free(st);

    for (int trial = 0; trial < JTRIALS && !t_case_failed; trial++) {
        mts_session *got = NULL, *next = NULL;
        int status = 0, rc, fds[2];
        long acked = 0;
        char buf[4096];
        ssize_t n;
        pid_t pid;
        T_EQ_INT(pipe(fds), 0);
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            child_updates(path, cur, done, trial % 4 == 3, fds[1]);
        }
        T_CHECK(pid > 0);
        if (pid <= 0)
            break;
        close(fds[1]);
        /* Half the trials let the child get 1..7 changes done first, so
         * the run moves on across saves and folds however slow the disk
         * is; the rest may also land in the child's first change. */
        for (int w = 0; trial % 2 == 1 && w < 1 + trial % 7; w++) {
            T_EQ_INT(read(fds[0], buf, 1), 1);
            acked++;
        }
        usleep((useconds_t)(rand() % JMAX_DELAY_US));
        T_EQ_INT(kill(pid, SIGKILL), 0);
        T_EQ_INT(waitpid(pid, &status, 0), pid);
        T_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while ((n = read(fds[0], buf, sizeof(buf))) > 0)
            acked += n;
        close(fds[0]);
        total += acked;

        /* The state after the last acknowledged change, or after the one
         * in flight: never an error, never older. */
        j_apply(cur, done, done + acked);
        T_EQ_INT(mts_session_dup(&next, cur), 0);
        j_apply(next, done + acked, done + acked + 1);
        rc = j_load(&got, path, &e);
        T_EQ_INT(rc, 0);
        if (rc != 0)
            fprintf(stderr, "  trial %d: %s\n", trial, e.message);
        done += acked;
        if (got != NULL && mts_session_equal(got, next)) {
            in_flight++;
            done++;
            mts_session_free(cur);
            cur = next;
            next = NULL;
        } else if (got == NULL || !mts_session_equal(got, cur)) {
            T_CHECK(!"the store holds neither the acknowledged state nor "
                     "the one in flight");
            fprintf(stderr, "  trial %d: %ld changes acknowledged in all\n",
                    trial, done);
        }
        mts_session_free(got);
        mts_session_free(next);
    }
    printf("%ld changes acknowledged in %d trials, %ld found in flight\n",
           total, JTRIALS, in_flight);
    /* The run went across saves and folds (each trial's child starts by
     * reading the store; every 37th change is a save; the journal folds
     * every 13 or so records). */
    T_CHECK(total >= JTRIALS);
    T_CHECK(done > 2 * SAVE_EVERY);
    /* The next writer removes what the kills left behind. */
    T_EQ_INT(mts_file_open(&st, path, NULL, &e), 0);
    T_EQ_INT(mts_storage_save(st, cur, &e), 0);
    T_EQ_INT(h_count(d, ".tmp."), 0);
    mts_storage_free(st);
    T_CHECK(j_holds(path, cur));
    mts_session_free(cur);
}

T_MAIN(T_CASE(test_kill_during_saves), T_CASE(test_kill_during_updates))
