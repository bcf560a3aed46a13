/*
 * t.h - the test harness: a handful of macros, no dependencies.
 *
 * A test file defines `static void test_x(void)` functions and lists them
 * in T_MAIN. Each check that fails prints file:line and the values, marks
 * the current case failed and continues. The binary ends with
 * "N passed, N failed" and exits 0 only if nothing failed. A test may call
 * t_skip() to report exit code 77 (ctest SKIP_RETURN_CODE) when it cannot
 * run here.
 */
#ifndef MTS_TEST_HARNESS_H
#define MTS_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int t_case_failed;
extern int t_skipped;

void t_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void t_skip(const char *why);
/* A fresh empty directory under TMPDIR for this test binary (removed by
 * the harness at exit when every case passed). Returns a static path. */
const char *t_tmpdir(void);
/* Path to a file in the source tree's tests/ directory. */
const char *t_srcpath(const char *rel);
/* Read a whole file; caller frees. NULL on error. */
unsigned char *t_read_file(const char *path, size_t *len);
int t_write_file(const char *path, const void *data, size_t len);

#define T_CHECK(cond)                                                         \
    do {                                                                      \
        if (!(cond))                                                          \
            t_fail(__FILE__, __LINE__, "check failed: %s", #cond);            \
    } while (0)

#define T_EQ_INT(a, b)                                                        \
    do {                                                                      \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);               \
        if (t_a_ != t_b_)                                                     \
            t_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b,      \
                   t_a_, t_b_);                                               \
    } while (0)

#define T_EQ_U64(a, b)                                                        \
    do {                                                                      \
        unsigned long long t_a_ = (unsigned long long)(a),                    \
                           t_b_ = (unsigned long long)(b);                    \
        if (t_a_ != t_b_)                                                     \
            t_fail(__FILE__, __LINE__, "%s == %s: %llu != %llu", #a, #b,      \
                   t_a_, t_b_);                                               \
    } while (0)

#define T_EQ_STR(a, b)                                                        \
    do {                                                                      \
        const char *t_a_ = (a), *t_b_ = (b);                                  \
        if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0)          \
            t_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,  \
                   t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");           \
    } while (0)

#define T_EQ_MEM(a, b, n)                                                     \
    do {                                                                      \
        if (memcmp((a), (b), (n)) != 0)                                       \
            t_fail(__FILE__, __LINE__, "%s == %s: %zu bytes differ", #a, #b,  \
                   (size_t)(n));                                              \
    } while (0)

/* Check that the message contains a substring. */
#define T_CONTAINS(hay, needle)                                               \
    do {                                                                      \
        const char *t_h_ = (hay), *t_n_ = (needle);                           \
        if (t_h_ == NULL || strstr(t_h_, t_n_) == NULL)                       \
            t_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",      \
                   t_h_ ? t_h_ : "(null)", t_n_);                             \
    } while (0)

typedef struct t_case {
    const char *name;
    void (*fn)(void);
} t_case;

int t_run(const char *suite, const t_case *cases, size_t n, int argc,
          char **argv);

#define T_CASE(fn) { #fn, fn }
#define T_MAIN(...)                                                           \
    int main(int argc, char **argv)                                           \
    {                                                                         \
        static const t_case t_cases_[] = { __VA_ARGS__ };                     \
        return t_run(__FILE__, t_cases_,                                      \
                     sizeof(t_cases_) / sizeof(t_cases_[0]), argc, argv);     \
    }

#endif
