/* common.c: error reporting, aligned allocation and reading a child's
 * output, shared by all modules. */
#include "pt_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pt_fail(pt_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void *pt_alloc(size_t bytes)
{
    size_t rounded = (bytes + PT_ALIGN - 1) / PT_ALIGN * PT_ALIGN;
    if (rounded == 0)
        rounded = PT_ALIGN;
    void *p = aligned_alloc(PT_ALIGN, rounded);
    if (p)
        memset(p, 0, rounded);
    return p;
}

void pt_free(void *p)
{
    free(p);
}

void pt_read_tail(int fd, char *out, size_t size)
{
    size_t len = 0;
    const size_t keep = size - 1;
    char buf[4096];
    out[0] = '\0';
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t add = (size_t)n;
        const char *src = buf;
        if (add > keep) {
            src += add - keep;
            add = keep;
        }
        if (len + add > keep) {
            size_t drop = len + add - keep;
            memmove(out, out + drop, len - drop);
            len -= drop;
        }
        memcpy(out + len, src, add);
        len += add;
        out[len] = '\0';
    }
}
