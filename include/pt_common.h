/* pt_common.h: the error type every module reports through, and small helpers.
 * Library code never prints or exits: it fills a pt_err and returns non-zero,
 * so that main decides what the user sees and tests can check every error path. */
#ifndef PT_COMMON_H
#define PT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define PT_VERSION "0.1.0"

/* Byte alignment of every buffer a kernel streams through: one cache line,
 * which is also one AVX-512 vector, so per-thread buffers never share a line. */
#define PT_ALIGN 64

typedef struct pt_err {
    char msg[1024];
} pt_err;

/* Fills err->msg (printf-style) and returns -1, so callers can write
 * `return pt_fail(err, "...")`. err may be NULL. */
int pt_fail(pt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Zeroed, PT_ALIGN-aligned allocation, size rounded up to PT_ALIGN; NULL on failure. */
void *pt_alloc(size_t bytes);
void pt_free(void *p);

/* Reads fd to its end (retrying on EINTR) and keeps the last size - 1 bytes
 * in out, NUL-terminated: a child process reports the error that stopped it
 * last. Does not close fd. */
void pt_read_tail(int fd, char *out, size_t size);

#define PT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One round of a spin-wait: tells the core (and its SMT sibling) that this
 * thread only waits. */
static inline void pt_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
