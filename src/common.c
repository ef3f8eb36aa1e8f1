/* common.c: error reporting and aligned allocation shared by all modules. */
#include "pt_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
