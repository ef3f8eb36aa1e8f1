/* data.c: IDX reading (plain or gzip through zlib), the image/label dataset
 * and the uint8 -> float preprocessing table. It validates every byte of the
 * header and the exact length, and keeps one copy of the pixels; it knows
 * nothing about splits, shuffling or training. */
#include "pt_data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* gzread takes an unsigned length; reading in 1 GiB pieces keeps a 4 GiB
 * payload within it. */
#define PT_GZ_CHUNK ((uint64_t)1 << 30)

typedef struct idx_reader {
    const char *path;
    gzFile gz;
    int gzip;          /* 1 when zlib found a gzip stream, 0 when it copies the file */
    int64_t file_size; /* from fstat for regular files, else -1 */
} idx_reader;

static const struct {
    int code;
    int size;
    const char *name;
} idx_types[] = {
    { PT_IDX_U8, 1, "u8" },   { PT_IDX_I8, 1, "i8" },   { PT_IDX_I16, 2, "i16" },
    { PT_IDX_I32, 4, "i32" }, { PT_IDX_F32, 4, "f32" }, { PT_IDX_F64, 8, "f64" },
};

static int idx_type_size(int code)
{
    for (size_t i = 0; i < PT_ARRAY_LEN(idx_types); i++)
        if (idx_types[i].code == code)
            return idx_types[i].size;
    return 0;
}

static const char *idx_type_name(int code)
{
    for (size_t i = 0; i < PT_ARRAY_LEN(idx_types); i++)
        if (idx_types[i].code == code)
            return idx_types[i].name;
    return "?";
}

/* Every message after the file is open starts with the path and whether it
 * was compressed: for gzip the offsets count decompressed bytes, which a user
 * comparing against `ls -l` would otherwise misread. */
static int idx_fail(const idx_reader *rd, pt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int idx_fail(const idx_reader *rd, pt_err *err, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return pt_fail(err, "%s (%s): %s", rd->path,
                   rd->gzip ? "gzip, offsets in decompressed bytes" : "uncompressed", what);
}

/* zlib's gzerror text for the handle; it prefixes the name it was opened
 * with, "<fd:N>" for gzdopen, which means nothing to the user. */
static const char *gz_message(gzFile gz, int *errnum)
{
    const char *m = gzerror(gz, errnum);
    if (m && strncmp(m, "<fd:", 4) == 0) {
        const char *colon = strstr(m, ": ");
        if (colon)
            m = colon + 2;
    }
    return m ? m : "unknown error";
}

/* Reads up to n bytes, stopping early only at the end of the data or on an
 * error; the caller tells those apart with gzerror. */
static uint64_t gz_read_full(gzFile gz, uint8_t *buf, uint64_t n)
{
    uint64_t got = 0;
    while (got < n) {
        uint64_t want = n - got < PT_GZ_CHUNK ? n - got : PT_GZ_CHUNK;
        int r = gzread(gz, buf + got, (unsigned)want);
        if (r <= 0)
            break;
        got += (uint64_t)r;
    }
    return got;
}

/* A short read is either the end of the data (plain EOF, or Z_BUF_ERROR: a
 * gzip stream cut short) or a real error (corrupt deflate data, bad gzip
 * check value, I/O error). Returns 0 when it was only the end of the data. */
static int check_read_error(const idx_reader *rd, uint64_t offset, pt_err *err)
{
    int errnum = Z_OK;
    const char *m = gz_message(rd->gz, &errnum);
    if (errnum == Z_OK || errnum == Z_BUF_ERROR)
        return 0;
    if (errnum == Z_ERRNO)   /* zlib's text already carries strerror */
        return idx_fail(rd, err, "read error near byte %llu: %s", (unsigned long long)offset, m);
    return idx_fail(rd, err, "corrupt gzip data near byte %llu: %s", (unsigned long long)offset, m);
}

static const char *cut_short_note(const idx_reader *rd)
{
    int errnum = Z_OK;
    gz_message(rd->gz, &errnum);
    return errnum == Z_BUF_ERROR ? " (the gzip stream is cut short)" : "";
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, uint64_t n)
{
    while (n > 0) {
        uint64_t k = n < PT_GZ_CHUNK ? n : PT_GZ_CHUNK;
        crc = (uint32_t)crc32(crc, p, (uInt)k);
        p += k;
        n -= k;
    }
    return crc;
}

/* IDX stores multi-byte elements big-endian; swap in place, byte by byte, so
 * the code is right on any host without knowing its order. */
static void idx_to_host(uint8_t *p, uint64_t n_bytes, int size)
{
    if (size == 1)
        return;
    for (uint64_t i = 0; i < n_bytes; i += (uint64_t)size) {
        uint8_t be[8];
        memcpy(be, p + i, (size_t)size);
        uint64_t v = 0;
        for (int b = 0; b < size; b++)
            v = v << 8 | be[b];
        if (size == 2) {
            uint16_t h = (uint16_t)v;
            memcpy(p + i, &h, 2);
        } else if (size == 4) {
            uint32_t h = (uint32_t)v;
            memcpy(p + i, &h, 4);
        } else {
            memcpy(p + i, &v, 8);
        }
    }
}

/* Header, payload and the check that nothing follows. Fills out as it goes;
 * the caller frees out->data on failure. */
static int idx_read_body(idx_reader *rd, pt_idx *out, pt_err *err)
{
    uint8_t head[4 + 4 * PT_IDX_MAX_DIMS];

    uint64_t got = gz_read_full(rd->gz, head, 4);
    if (got < 4) {
        if (check_read_error(rd, got, err))
            return -1;
        if (got == 0 && rd->gzip)
            return idx_fail(rd, err, "the gzip stream decompresses to 0 bytes; expected an IDX file, "
                            "which starts with the 4 bytes 0x00 0x00 <type code> <number of dimensions>");
        if (got == 0)
            return pt_fail(err, "%s: empty file (0 bytes); expected an IDX file, which starts with "
                           "the 4 bytes 0x00 0x00 <type code> <number of dimensions>", rd->path);
        return idx_fail(rd, err, "truncated header: the data ends at byte %llu; expected at least "
                        "4 header bytes%s", (unsigned long long)got, cut_short_note(rd));
    }
    if (head[0] != 0 || head[1] != 0)
        return idx_fail(rd, err, "byte 0: expected the IDX magic bytes 0x00 0x00, found 0x%02X 0x%02X; "
                        "not an IDX file", head[0], head[1]);
    int type = head[2], size = idx_type_size(type);
    if (size == 0)
        return idx_fail(rd, err, "byte 2: unknown element type code 0x%02X; expected 0x08 (u8), "
                        "0x09 (i8), 0x0B (i16), 0x0C (i32), 0x0D (f32) or 0x0E (f64)", type);
    int ndim = head[3];
    if (ndim < 1 || ndim > PT_IDX_MAX_DIMS)
        return idx_fail(rd, err, "byte 3: %d dimensions; expected 1 to %d", ndim, PT_IDX_MAX_DIMS);

    unsigned head_bytes = 4 + 4 * (unsigned)ndim;
    got = gz_read_full(rd->gz, head + 4, head_bytes - 4);
    if (got < head_bytes - 4) {
        if (check_read_error(rd, 4 + got, err))
            return -1;
        return idx_fail(rd, err, "truncated header: the data ends at byte %llu; expected %u header "
                        "bytes (4 + 4 for each of %d dimensions)%s", (unsigned long long)(4 + got),
                        head_bytes, ndim, cut_short_note(rd));
    }

    /* Bound the product after every factor: each factor is < 2^32 and the
     * running product stays <= PT_IDX_MAX_BYTES = 2^32 before the next one,
     * so nothing wraps, and a corrupt header is rejected before any
     * allocation. */
    uint64_t n_bytes = (uint64_t)size;
    int absurd = 0;
    char shape[96] = "";
    size_t used = 0;
    for (int d = 0; d < ndim; d++) {
        const uint8_t *p = head + 4 + 4 * d;
        uint32_t dim = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (dim == 0)
            return idx_fail(rd, err, "byte %d: dimension %d of %d is 0; expected every dimension >= 1",
                            4 + 4 * d, d + 1, ndim);
        out->dims[d] = dim;
        used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%u", d ? " x " : "", dim);
        if (!absurd) {
            n_bytes *= dim;
            absurd = n_bytes > PT_IDX_MAX_BYTES;
        }
    }
    if (absurd || n_bytes > (uint64_t)SIZE_MAX - PT_ALIGN)
        return idx_fail(rd, err, "bytes 4-%u: absurd dimensions %s of %d-byte %s elements: the "
                        "payload would exceed the %llu-byte limit (corrupt header?)", head_bytes - 1,
                        shape, size, idx_type_name(type),
                        (unsigned long long)(PT_IDX_MAX_BYTES < SIZE_MAX - PT_ALIGN
                                                 ? PT_IDX_MAX_BYTES : SIZE_MAX - PT_ALIGN));
    out->type = type;
    out->ndim = ndim;
    out->n_bytes = n_bytes;
    uint64_t total = head_bytes + n_bytes;

    /* A plain file's length is known before reading, so a header that lies
     * about the size costs no allocation; a gzip file's is only known by
     * decompressing it. The reads below still check, for pipes and files
     * that change underneath us. */
    if (!rd->gzip && rd->file_size >= 0) {
        uint64_t fsize = (uint64_t)rd->file_size;
        if (fsize < total)
            return idx_fail(rd, err, "truncated: the data ends at byte %llu; expected %llu bytes "
                            "(%u header + %llu payload for %s %s)", (unsigned long long)fsize,
                            (unsigned long long)total, head_bytes, (unsigned long long)n_bytes,
                            shape, idx_type_name(type));
        if (fsize > total)
            return idx_fail(rd, err, "%llu extra bytes after the payload at offset %llu; expected the "
                            "file to end there (%u header + %llu payload bytes for %s %s)",
                            (unsigned long long)(fsize - total), (unsigned long long)total,
                            head_bytes, (unsigned long long)n_bytes, shape, idx_type_name(type));
    }

    out->data = pt_alloc((size_t)n_bytes);
    if (!out->data)
        return idx_fail(rd, err, "out of memory allocating the %llu-byte payload (%s %s)",
                        (unsigned long long)n_bytes, shape, idx_type_name(type));
    got = gz_read_full(rd->gz, out->data, n_bytes);
    if (got < n_bytes) {
        if (check_read_error(rd, head_bytes + got, err))
            return -1;
        return idx_fail(rd, err, "truncated: the data ends at byte %llu; expected %llu bytes "
                        "(%u header + %llu payload for %s %s)%s",
                        (unsigned long long)(head_bytes + got), (unsigned long long)total, head_bytes,
                        (unsigned long long)n_bytes, shape, idx_type_name(type), cut_short_note(rd));
    }

    /* Count what follows instead of stopping at the first byte, so the
     * message says how much: one stray byte and a second concatenated file
     * call for different fixes. */
    uint64_t extra = 0;
    uint8_t sink[16384];
    int r;
    while ((r = gzread(rd->gz, sink, sizeof sink)) > 0)
        extra += (uint64_t)r;
    int errnum = Z_OK;
    const char *m = gz_message(rd->gz, &errnum);
    if (errnum == Z_BUF_ERROR)
        return idx_fail(rd, err, "the gzip stream is cut short after byte %llu (%s); the IDX data "
                        "itself was complete, but the file is damaged", (unsigned long long)(total + extra), m);
    if (check_read_error(rd, total + extra, err))
        return -1;
    if (extra > 0)
        return idx_fail(rd, err, "%llu extra bytes after the payload at offset %llu; expected the "
                        "file to end there (%u header + %llu payload bytes for %s %s)",
                        (unsigned long long)extra, (unsigned long long)total, head_bytes,
                        (unsigned long long)n_bytes, shape, idx_type_name(type));

    out->crc32 = crc_update(crc_update((uint32_t)crc32(0, Z_NULL, 0), head, head_bytes), out->data,
                            n_bytes);
    idx_to_host(out->data, n_bytes, size);
    return 0;
}

int pt_idx_read(const char *path, pt_idx *out, pt_err *err)
{
    *out = (pt_idx){ 0 };
    /* open() first rather than gzopen(): errno is then reliably the
     * reason, and fstat gives the length of a plain file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pt_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pt_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return pt_fail(err, "%s: is a directory; expected an IDX file", path);
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return pt_fail(err, "%s: cannot start reading (zlib out of memory)", path);
    }
    /* A larger buffer than zlib's 8 KiB default: fewer read() calls for the
     * compressed input; plain payloads bypass it and land in place. */
    gzbuffer(gz, 1u << 17);
    idx_reader rd = { .path = path, .gz = gz, .gzip = !gzdirect(gz),
                      .file_size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1 };
    int rc = idx_read_body(&rd, out, err);
    gzclose(gz);
    if (rc != 0)
        pt_idx_free(out);
    return rc;
}

void pt_idx_free(pt_idx *idx)
{
    pt_free(idx->data);
    *idx = (pt_idx){ 0 };
}

int pt_dataset_load(pt_dataset *ds, const char *images_path, const char *labels_path, pt_err *err)
{
    *ds = (pt_dataset){ 0 };
    pt_idx im, lb;
    if (pt_idx_read(images_path, &im, err) != 0)
        return -1;
    if (pt_idx_read(labels_path, &lb, err) != 0) {
        pt_idx_free(&im);
        return -1;
    }

    int rc = -1;
    if (im.type != PT_IDX_U8 || (im.ndim != 2 && im.ndim != 3)) {
        pt_fail(err, "%s: images are %d-D %s; expected u8 (type 0x08) with 2 dimensions (n, features) "
                "or 3 (n, rows, cols)", images_path, im.ndim, idx_type_name(im.type));
        goto out;
    }
    if (lb.type != PT_IDX_U8 || lb.ndim != 1) {
        pt_fail(err, "%s: labels are %d-D %s; expected u8 (type 0x08) with 1 dimension (n)",
                labels_path, lb.ndim, idx_type_name(lb.type));
        goto out;
    }
    if (im.dims[0] != lb.dims[0]) {
        pt_fail(err, "%s has %u images but %s has %u labels; expected the same count",
                images_path, im.dims[0], labels_path, lb.dims[0]);
        goto out;
    }
    uint64_t rows = im.ndim == 3 ? im.dims[1] : 1, cols = im.ndim == 3 ? im.dims[2] : im.dims[1];
    if (im.dims[0] > INT_MAX || rows * cols > INT_MAX) {
        pt_fail(err, "%s: %u samples of %llu features; expected both to fit an int (at most %d)",
                images_path, im.dims[0], (unsigned long long)(rows * cols), INT_MAX);
        goto out;
    }

    int n = (int)im.dims[0], max = 0;
    for (int i = 0; i < n; i++)
        if (lb.data[i] > max)
            max = lb.data[i];
    if (max == 0) {
        pt_fail(err, "%s: every one of the %d labels is 0, so there is only 1 class; expected labels "
                "0..K-1 with K >= 2", labels_path, n);
        goto out;
    }

    /* Take the payload buffers over: the pixels exist once in memory. */
    ds->n = n;
    ds->rows = (int)rows;
    ds->cols = (int)cols;
    ds->dim = (int)(rows * cols);
    ds->n_classes = max + 1;
    ds->x = im.data;
    ds->y = lb.data;
    ds->crc_images = im.crc32;
    ds->crc_labels = lb.crc32;
    im.data = NULL;
    lb.data = NULL;
    rc = 0;
out:
    pt_idx_free(&im);
    pt_idx_free(&lb);
    return rc;
}

void pt_dataset_free(pt_dataset *ds)
{
    pt_free(ds->x);
    pt_free(ds->y);
    *ds = (pt_dataset){ 0 };
}

/* The table describes the map x -> (x - mean) / std in both cases, and the
 * outputs report that map: scale is mean 0, std 255. Standardize takes mean
 * and population std from a 256-bin histogram of the listed samples: integer
 * counts are exact, so the result does not depend on the order of idx or on
 * how the work is split. With no samples listed it falls back to mean 0,
 * std 1 (the identity), as there is nothing to estimate from. */
void pt_input_map_fit(pt_prep_kind kind, const pt_dataset *ds, const int *idx, int n,
                      pt_input_map *map)
{
    double m = 0.0, s = 255.0;
    if (kind == PT_PREP_STANDARDIZE) {
        /* Four interleaved histograms: MNIST is mostly zeros, and a single
         * table would serialise on incrementing the same counter. */
        uint64_t h[4][256] = { { 0 } };
        size_t dim = (size_t)ds->dim;
        for (int i = 0; i < n; i++) {
            const uint8_t *row = ds->x + (size_t)idx[i] * dim;
            size_t j = 0;
            for (; j + 4 <= dim; j += 4) {
                h[0][row[j]]++;
                h[1][row[j + 1]]++;
                h[2][row[j + 2]]++;
                h[3][row[j + 3]]++;
            }
            for (; j < dim; j++)
                h[0][row[j]]++;
        }
        uint64_t count = 0, sum = 0;
        uint64_t hist[256];
        for (int v = 0; v < 256; v++) {
            hist[v] = h[0][v] + h[1][v] + h[2][v] + h[3][v];
            count += hist[v];
            sum += hist[v] * (uint64_t)v;
        }
        s = 1.0;
        if (count > 0) {
            m = (double)sum / (double)count;
            /* Two-pass over the bins rather than E[x^2] - mean^2, which
             * cancels badly when the spread is small next to the mean. */
            double ss = 0.0;
            for (int v = 0; v < 256; v++)
                ss += (double)hist[v] * ((double)v - m) * ((double)v - m);
            s = sqrt(ss / (double)count);
            if (s == 0.0)
                s = 1.0;
        }
    }
    map->mean = m;
    map->std = s;
    map->scale = (float)(1.0 / s);
    map->shift = (float)(-m / s);
}
