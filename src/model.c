/* model.c: parameter layout, initialisation and model.bin (see pt_model.h). */
#include "pt_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "pt_results.h"

static const char PT_MODEL_MAGIC[8] = {'P', 'T', 'R', 'M', 'O', 'D', 'E', 'L'};
enum { PT_MODEL_VERSION = 1 };

int pt_model_create(pt_model *m, int n_layers, const int *sizes, pt_act_kind act, pt_out_kind out,
                    pt_err *err)
{
    memset(m, 0, sizeof *m);
    if (n_layers < 1 || n_layers > PT_MAX_LAYERS)
        return pt_fail(err, "model: %d weight layers, expected 1..%d", n_layers, PT_MAX_LAYERS);
    size_t off = 0;
    for (int l = 0; l < n_layers; l++) {
        int in = sizes[l], o = sizes[l + 1];
        if (in < 1 || o < 1 || in > 1 << 20 || o > 1 << 20)
            return pt_fail(err, "model: layer %d maps %d -> %d units, expected 1..%d", l + 1, in, o,
                           1 << 20);
        pt_layer *L = &m->layer[l];
        L->in = in;
        L->out = o;
        L->outp = (o + PT_LANES - 1) / PT_LANES * PT_LANES;
        L->off_w = off;
        off += (size_t)in * (size_t)L->outp;
        L->off_b = off;
        off += (size_t)L->outp;
        m->n_real += (size_t)in * (size_t)o + (size_t)o;
    }
    m->n_layers = n_layers;
    m->act = act;
    m->out = out;
    m->n_params = off;
    m->params = pt_alloc(off * sizeof(float));
    if (!m->params)
        return pt_fail(err, "model: cannot allocate %zu parameters", off);
    return 0;
}

void pt_model_free(pt_model *m)
{
    pt_free(m->params);
    m->params = NULL;
}

void pt_model_init(pt_model *m, pt_init_kind init, double scale, pt_rng *rng)
{
    memset(m->params, 0, m->n_params * sizeof(float));
    for (int l = 0; l < m->n_layers; l++) {
        const pt_layer *L = &m->layer[l];
        double std = init == PT_INIT_XAVIER ? sqrt(2.0 / (L->in + L->out))
                     : init == PT_INIT_HE   ? sqrt(2.0 / L->in)
                                            : scale;
        /* Drawn in the math order W[o][k], so the numbers do not depend on
         * the padded, transposed storage. */
        for (int o = 0; o < L->out; o++)
            for (int k = 0; k < L->in; k++)
                *pt_model_w(m, l, o, k) = (float)(std * pt_rng_normal(rng));
    }
}

/* Serialisation goes through one growable byte buffer so that the crc covers
 * exactly what is written and the file is written in one atomic step. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
} pt_bytes;

static int bytes_put(pt_bytes *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static int put_u32(pt_bytes *b, uint32_t v)
{
    unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24)};
    return bytes_put(b, le, 4);
}

static int put_f32(pt_bytes *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    return put_u32(b, v);
}

int pt_model_save(const pt_model *m, const char *path, pt_err *err)
{
    pt_bytes b = {0};
    int bad = bytes_put(&b, PT_MODEL_MAGIC, 8) | put_u32(&b, PT_MODEL_VERSION) |
              put_u32(&b, (uint32_t)m->n_layers);
    bad |= put_u32(&b, (uint32_t)m->layer[0].in);
    for (int l = 0; l < m->n_layers; l++)
        bad |= put_u32(&b, (uint32_t)m->layer[l].out);
    bad |= put_u32(&b, (uint32_t)m->act) | put_u32(&b, (uint32_t)m->out);
    for (int l = 0; l < m->n_layers && !bad; l++) {
        const pt_layer *L = &m->layer[l];
        for (int o = 0; o < L->out; o++)
            for (int k = 0; k < L->in; k++)
                bad |= put_f32(&b, *pt_model_w(m, l, o, k));
        for (int o = 0; o < L->out; o++)
            bad |= put_f32(&b, *pt_model_b(m, l, o));
    }
    if (!bad)
        bad |= put_u32(&b, (uint32_t)crc32(0L, b.p, (uInt)b.len));
    if (bad) {
        free(b.p);
        return pt_fail(err, "%s: out of memory while serialising the model", path);
    }
    char tmp[PT_PATH_MAX + 32];
    FILE *f = pt_atomic_open(path, tmp, sizeof tmp, err);
    if (!f) {
        free(b.p);
        return -1;
    }
    if (fwrite(b.p, 1, b.len, f) != b.len) {
        int e = errno;
        pt_atomic_abort(f, tmp);
        free(b.p);
        return pt_fail(err, "%s: write failed: %s", path, strerror(e));
    }
    free(b.p);
    return pt_atomic_commit(f, tmp, path, err);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int pt_model_load(pt_model *m, const char *path, pt_err *err)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f)
        return pt_fail(err, "cannot open '%s': %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *p = realloc(buf, cap);
            if (!p) {
                fclose(f);
                free(buf);
                return pt_fail(err, "%s: out of memory", path);
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    int rc = -1;
    const size_t fixed = 8 + 4 + 4;
    if (len < fixed + 4 || memcmp(buf, PT_MODEL_MAGIC, 8) != 0) {
        pt_fail(err, "%s: not a ptrain model (expected magic 'PTRMODEL' at byte 0)", path);
        goto out;
    }
    uint32_t version = get_u32(buf + 8), n_layers = get_u32(buf + 12);
    if (version != PT_MODEL_VERSION) {
        pt_fail(err, "%s: model format version %u, this ptrain reads version %d", path, version,
                PT_MODEL_VERSION);
        goto out;
    }
    if (n_layers < 1 || n_layers > PT_MAX_LAYERS) {
        pt_fail(err, "%s: byte 12: %u layers, expected 1..%d", path, n_layers, PT_MAX_LAYERS);
        goto out;
    }
    size_t head = fixed + 4 * ((size_t)n_layers + 1) + 8;
    if (len < head + 4) {
        pt_fail(err, "%s: truncated header (%zu bytes)", path, len);
        goto out;
    }
    int sizes[PT_MAX_LAYERS + 1];
    size_t expect = head + 4;
    for (uint32_t i = 0; i <= n_layers; i++) {
        uint32_t s = get_u32(buf + fixed + 4 * i);
        if (s < 1 || s > 1u << 20) {
            pt_fail(err, "%s: byte %zu: layer size %u, expected 1..%d", path, fixed + 4 * i, s, 1 << 20);
            goto out;
        }
        sizes[i] = (int)s;
        if (i > 0)
            expect += 4 * ((size_t)sizes[i - 1] * s + s);
    }
    uint32_t act = get_u32(buf + head - 8), outk = get_u32(buf + head - 4);
    if (act >= PT_ACT_COUNT || outk >= PT_OUT_COUNT) {
        pt_fail(err, "%s: byte %zu: unknown activation %u or output %u", path, head - 8, act, outk);
        goto out;
    }
    if (len != expect) {
        pt_fail(err, "%s: %zu bytes, the header describes %zu", path, len, expect);
        goto out;
    }
    uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(len - 4));
    if (crc != get_u32(buf + len - 4)) {
        pt_fail(err, "%s: checksum mismatch (file damaged)", path);
        goto out;
    }
    if (pt_model_create(m, (int)n_layers, sizes, (pt_act_kind)act, (pt_out_kind)outk, err))
        goto out;
    const unsigned char *p = buf + head;
    for (int l = 0; l < m->n_layers; l++) {
        const pt_layer *L = &m->layer[l];
        for (int o = 0; o < L->out; o++)
            for (int k = 0; k < L->in; k++, p += 4) {
                uint32_t v = get_u32(p);
                memcpy(pt_model_w(m, l, o, k), &v, 4);
            }
        for (int o = 0; o < L->out; o++, p += 4) {
            uint32_t v = get_u32(p);
            memcpy(pt_model_b(m, l, o), &v, 4);
        }
    }
    rc = 0;
out:
    free(buf);
    return rc;
}
