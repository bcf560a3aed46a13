/*
 * t.c - the test harness runner (see t.h).
 */
#define _GNU_SOURCE
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

int t_case_failed;
int t_skipped;
static char t_dir[4096];

void
t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    t_case_failed = 1;
}

void
t_skip(const char *why)
{
    fprintf(stderr, "  skipped: %s\n", why);
    t_skipped = 1;
}

static void
rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        if (d == NULL)
            return;
        while ((e = readdir(d)) != NULL) {
            char sub[4096];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

const char *
t_tmpdir(void)
{
    if (t_dir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(t_dir, sizeof(t_dir), "%s/mts-test-XXXXXX",
                 base && *base ? base : "/tmp");
        if (mkdtemp(t_dir) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return t_dir;
}

const char *
t_srcpath(const char *rel)
{
    static char buf[4096];
#ifdef MTS_TEST_SRCDIR
    snprintf(buf, sizeof(buf), "%s/%s", MTS_TEST_SRCDIR, rel);
#else
    snprintf(buf, sizeof(buf), "tests/%s", rel);
#endif
    return buf;
}

unsigned char *
t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            unsigned char *p;
            cap = cap ? cap * 2 : 4096;
            p = realloc(data, cap + 1);
            if (p == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = p;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    data[n] = 0;
    *len = n;
    return data;
}

int
t_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    if (fwrite(data, 1, len, f) != len) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

int
t_run(const char *suite, const t_case *cases, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    const char *only = argc > 1 ? argv[1] : NULL;
    printf("%s\n", suite);
    for (size_t i = 0; i < n; i++) {
        if (only && strcmp(only, cases[i].name) != 0)
            continue;
        t_case_failed = 0;
        t_skipped = 0;
        cases[i].fn();
        if (t_case_failed) {
            failed++;
            printf("FAIL %s\n", cases[i].name);
        } else if (t_skipped) {
            skipped++;
            printf("SKIP %s\n", cases[i].name);
        } else {
            passed++;
            printf("ok   %s\n", cases[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed", passed, failed);
    if (skipped)
        printf(", %d skipped", skipped);
    printf("\n");
    if (t_dir[0] && failed == 0)
        rm_rf(t_dir);
    if (failed)
        return 1;
    if (skipped && passed == 0)
        return 77;
    return 0;
}
