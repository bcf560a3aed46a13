/*
 * standalone_driver.c - replays fuzz inputs without libFuzzer.
 *
 * Linked with each fuzz_<target>.c when MTS_LIBFUZZER is off (gcc builds,
 * CI). Usage: fuzz_<target> PATH...; a PATH that is a directory replays
 * every regular file in it (names sorted, dot files skipped), any other
 * PATH is replayed as one input. The empty input runs first, as it does
 * under libFuzzer.
 *
 * A broken contract aborts inside the target; the driver then names the
 * input on stderr before the process dies (also when a sanitizer stops
 * it), so a failing ctest says which corpus file to look at. Ends with "N
 * passed, N failed" like every test binary here; an unreadable path counts as a
 * failure (exit status 1).
 *
 * Thread-safety: single-threaded program.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The input being replayed, for the crash report. */
static const char *current = "(empty input)";

static void
write_str(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void
on_crash(int sig)
{
    write_str("standalone_driver: crashed on input: ");
    write_str(current);
    write_str("\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A sanitizer that stops the process calls this first, when linked in. */
#if defined(__GNUC__) || defined(__clang__)
extern void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));
#define HAVE_DEATH_CALLBACK 1
#endif

#ifdef HAVE_DEATH_CALLBACK
static void
on_sanitizer_death(void)
{
    write_str("standalone_driver: sanitizer stopped on input: ");
    write_str(current);
    write_str("\n");
}
#endif

/* Name the input on a crash, without displacing a sanitizer's handler. */
static void
install_handlers(void)
{
#ifdef HAVE_DEATH_CALLBACK
    if (__sanitizer_set_death_callback != NULL)
        __sanitizer_set_death_callback(on_sanitizer_death);
#endif
    static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0 ||
            (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
            continue;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_crash;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Read a whole file into a fresh buffer (never NULL on success). */
static int
read_file(uint8_t **out, size_t *out_len, const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL)
        return -1;
    for (;;) {
        size_t got;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            uint8_t *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nbuf;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *out = buf;
    *out_len = len;
    return 0;
}

static int passed, failed;

static void
run_file(const char *path)
{
    uint8_t *data;
    size_t len;
    if (read_file(&data, &len, path) != 0) {
        fprintf(stderr, "standalone_driver: cannot read %s: %s\n", path,
                strerror(errno));
        failed++;
        return;
    }
    current = path;
    /* An exact-size copy, so that reads past the end are caught. */
    {
        uint8_t *exact = malloc(len ? len : 1);
        if (exact == NULL) {
            fprintf(stderr, "standalone_driver: out of memory on %s\n", path);
            free(data);
            failed++;
            return;
        }
        memcpy(exact, data, len);
        free(data);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    passed++;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (d == NULL) {
        fprintf(stderr, "standalone_driver: cannot open %s: %s\n", dir,
                strerror(errno));
        failed++;
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = realloc(names, ncap * sizeof(*nn));
            if (nn == NULL)
                break;
            names = nn;
            cap = ncap;
        }
        names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (names[n] == NULL)
            break;
        sprintf(names[n], "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            run_file(names[i]);
        free(names[i]);
    }
    free(names);
}

int
main(int argc, char **argv)
{
    static const uint8_t empty[1];
    install_handlers();
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-DIRECTORY...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerTestOneInput(empty, 0);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            run_dir(argv[i]);
        else
            run_file(argv[i]);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
