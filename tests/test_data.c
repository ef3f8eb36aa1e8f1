/* test_data.c: IDX reading, dataset loading and the preprocessing table.
 * Every file is written here, byte by byte, into a fresh temporary folder, so
 * each malformed case is exactly the one named and the messages can be
 * checked for the path, the offset and what was expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "pt_data.h"
#include "pt_experiments.h"

static char tmpdir[256];

/* ---- helpers -------------------------------------------------------------- */

static void path_of(char *buf, size_t size, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < size);
}

static void write_raw(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n > 0)
        assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const uint8_t *b, size_t n)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    if (n > 0)
        assert_int_equal(gzwrite(gz, b, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void write_file(const char *path, const uint8_t *b, size_t n, int gzip)
{
    if (gzip)
        write_gz(path, b, n);
    else
        write_raw(path, b, n);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    uint8_t *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Header + big-endian dims + payload, as an IDX writer would produce them.
 * Returns the total length; buf must be large enough. */
static size_t make_idx(uint8_t *buf, int type, int ndim, const uint32_t *dims, const uint8_t *payload,
                       size_t payload_len)
{
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = (uint8_t)type;
    buf[3] = (uint8_t)ndim;
    size_t o = 4;
    for (int d = 0; d < ndim; d++) {
        buf[o++] = (uint8_t)(dims[d] >> 24);
        buf[o++] = (uint8_t)(dims[d] >> 16);
        buf[o++] = (uint8_t)(dims[d] >> 8);
        buf[o++] = (uint8_t)dims[d];
    }
    if (payload_len > 0)
        memcpy(buf + o, payload, payload_len);
    return o + payload_len;
}

static void expect_has(const char *msg, const char *needle)
{
    if (!strstr(msg, needle))
        fail_msg("message lacks \"%s\":\n  %s", needle, msg);
}

static void expect_lacks(const char *msg, const char *needle)
{
    if (strstr(msg, needle))
        fail_msg("message should not contain \"%s\":\n  %s", needle, msg);
}

/* Reads a file that must be rejected; returns the message after checking the
 * failure left nothing allocated and named the file. */
static const char *expect_idx_error(const char *path, pt_err *err)
{
    pt_idx idx;
    memset(&idx, 0xAB, sizeof idx);
    err->msg[0] = '\0';
    assert_int_equal(pt_idx_read(path, &idx, err), -1);
    assert_null(idx.data);
    expect_has(err->msg, path);
    return err->msg;
}

/* The 3 x 2 x 4 u8 file most tests start from: 16 header + 24 payload bytes. */
static const uint32_t small_dims[3] = { 3, 2, 4 };
enum { SMALL_HEAD = 16, SMALL_PAYLOAD = 24, SMALL_TOTAL = 40 };

static size_t make_small(uint8_t *buf)
{
    uint8_t pay[SMALL_PAYLOAD];
    for (int i = 0; i < SMALL_PAYLOAD; i++)
        pay[i] = (uint8_t)(i * 7 + 1);
    return make_idx(buf, PT_IDX_U8, 3, small_dims, pay, sizeof pay);
}

static uint32_t crc_of(const uint8_t *b, size_t n)
{
    return (uint32_t)crc32(crc32(0, Z_NULL, 0), b, (uInt)n);
}

/* ---- setup ---------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/pt_test_data_XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    pt_err err;
    return pt_exp_remove_tree(tmpdir, &err);
}

/* ---- good files ----------------------------------------------------------- */

static void test_u8_3d_plain_and_gzip(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    assert_int_equal(len, SMALL_TOTAL);
    for (int gz = 0; gz < 2; gz++) {
        char path[512];
        path_of(path, sizeof path, gz ? "small3d.idx.gz" : "small3d.idx");
        write_file(path, buf, len, gz);
        pt_idx idx;
        pt_err err = { "" };
        assert_int_equal(pt_idx_read(path, &idx, &err), 0);
        assert_int_equal(idx.type, PT_IDX_U8);
        assert_int_equal(idx.ndim, 3);
        assert_int_equal(idx.dims[0], 3);
        assert_int_equal(idx.dims[1], 2);
        assert_int_equal(idx.dims[2], 4);
        assert_int_equal(idx.n_bytes, SMALL_PAYLOAD);
        assert_memory_equal(idx.data, buf + SMALL_HEAD, SMALL_PAYLOAD);
        /* The checksum is of the decompressed bytes, so it is the same for
         * the plain and the gzip copy. */
        assert_int_equal(idx.crc32, crc_of(buf, len));
        assert_true(((uintptr_t)idx.data % PT_ALIGN) == 0);
        pt_idx_free(&idx);
        assert_null(idx.data);
    }
}

static void test_multibyte_types_to_host(void **state)
{
    (void)state;
    static const struct {
        int type;
        uint8_t be[16];
        size_t n;
    } cases[] = {
        { PT_IDX_I16, { 0x01, 0x02, 0xFF, 0xFE }, 4 },
        { PT_IDX_I32, { 0x01, 0x02, 0x03, 0x04, 0xFF, 0xFF, 0xFF, 0xFE }, 8 },
        { PT_IDX_F32, { 0x3F, 0xC0, 0x00, 0x00, 0xBE, 0x80, 0x00, 0x00 }, 8 },   /* 1.5, -0.25 */
        { PT_IDX_F64, { 0x40, 0x0A, 0, 0, 0, 0, 0, 0, 0xBF, 0xF0, 0, 0, 0, 0, 0, 0 }, 16 }, /* 3.25, -1 */
        { PT_IDX_I8, { 0x7F, 0x80 }, 2 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int gz = 0; gz < 2; gz++) {
            uint8_t buf[64];
            uint32_t dims[1] = { 2 };
            size_t len = make_idx(buf, cases[c].type, 1, dims, cases[c].be, cases[c].n);
            char path[512], name[64];
            snprintf(name, sizeof name, "multi_%zu_%d.idx", c, gz);
            path_of(path, sizeof path, name);
            write_file(path, buf, len, gz);
            pt_idx idx;
            pt_err err = { "" };
            assert_int_equal(pt_idx_read(path, &idx, &err), 0);
            assert_int_equal(idx.type, cases[c].type);
            assert_int_equal(idx.n_bytes, cases[c].n);
            /* crc is over the file's big-endian bytes, not the converted ones */
            assert_int_equal(idx.crc32, crc_of(buf, len));
            switch (cases[c].type) {
            case PT_IDX_I16: {
                int16_t v[2];
                memcpy(v, idx.data, sizeof v);
                assert_int_equal(v[0], 0x0102);
                assert_int_equal(v[1], -2);
                break;
            }
            case PT_IDX_I32: {
                int32_t v[2];
                memcpy(v, idx.data, sizeof v);
                assert_int_equal(v[0], 0x01020304);
                assert_int_equal(v[1], -2);
                break;
            }
            case PT_IDX_F32: {
                float v[2];
                memcpy(v, idx.data, sizeof v);
                assert_true(v[0] == 1.5f);
                assert_true(v[1] == -0.25f);
                break;
            }
            case PT_IDX_F64: {
                double v[2];
                memcpy(v, idx.data, sizeof v);
                assert_true(v[0] == 3.25);
                assert_true(v[1] == -1.0);
                break;
            }
            default: {
                int8_t v[2];
                memcpy(v, idx.data, sizeof v);
                assert_int_equal(v[0], 127);
                assert_int_equal(v[1], -128);
            }
            }
            pt_idx_free(&idx);
        }
    }
}

/* gzip is recognised by content: a plain file called .gz and a gzip file
 * without the suffix both read, and messages say which it was. */
static void test_gzip_detected_by_content(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    char plain_gz[512], gz_idx[512];
    path_of(plain_gz, sizeof plain_gz, "really_plain.gz");
    path_of(gz_idx, sizeof gz_idx, "really_gzip.idx");
    write_raw(plain_gz, buf, len);
    write_gz(gz_idx, buf, len);
    pt_idx a, b;
    pt_err err = { "" };
    assert_int_equal(pt_idx_read(plain_gz, &a, &err), 0);
    assert_int_equal(pt_idx_read(gz_idx, &b, &err), 0);
    assert_int_equal(a.crc32, b.crc32);
    assert_memory_equal(a.data, b.data, SMALL_PAYLOAD);
    pt_idx_free(&a);
    pt_idx_free(&b);

    buf[0] = 0x1F;   /* bad magic, to get a message from each */
    write_raw(plain_gz, buf, len);
    write_gz(gz_idx, buf, len);
    const char *m = expect_idx_error(plain_gz, &err);
    expect_has(m, "(uncompressed)");
    m = expect_idx_error(gz_idx, &err);
    expect_has(m, "(gzip, offsets in decompressed bytes)");
}

/* ---- malformed headers ---------------------------------------------------- */

static void test_bad_magic(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    buf[0] = 0x01;
    char path[512];
    path_of(path, sizeof path, "bad_magic.idx");
    write_raw(path, buf, len);
    pt_err err;
    const char *m = expect_idx_error(path, &err);
    expect_has(m, "byte 0:");
    expect_has(m, "magic bytes 0x00 0x00");
    expect_has(m, "found 0x01 0x00");

    buf[0] = 0;
    buf[1] = 0x08;
    write_raw(path, buf, len);
    m = expect_idx_error(path, &err);
    expect_has(m, "found 0x00 0x08");
}

static void test_bad_type_code(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    char path[512];
    path_of(path, sizeof path, "bad_type.idx");
    pt_err err;
    const int bad[] = { 0x00, 0x07, 0x0A, 0x0F, 0xFF };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf[2] = (uint8_t)bad[i];
        write_raw(path, buf, len);
        const char *m = expect_idx_error(path, &err);
        char want[64];
        snprintf(want, sizeof want, "type code 0x%02X", bad[i]);
        expect_has(m, "byte 2:");
        expect_has(m, want);
        expect_has(m, "expected 0x08 (u8)");
        expect_has(m, "0x0E (f64)");
    }
}

static void test_bad_ndim(void **state)
{
    (void)state;
    char path[512];
    path_of(path, sizeof path, "bad_ndim.idx");
    pt_err err;
    /* ndim 0: nothing follows the 4 header bytes */
    uint8_t zero[4] = { 0, 0, PT_IDX_U8, 0 };
    write_raw(path, zero, sizeof zero);
    const char *m = expect_idx_error(path, &err);
    expect_has(m, "byte 3: 0 dimensions");
    expect_has(m, "expected 1 to 4");

    /* ndim 5, with a plausible 5-D header and payload after it */
    uint8_t buf[64];
    uint32_t dims[5] = { 1, 1, 1, 1, 2 };
    uint8_t pay[2] = { 1, 2 };
    size_t len = make_idx(buf, PT_IDX_U8, 5, dims, pay, sizeof pay);
    write_raw(path, buf, len);
    m = expect_idx_error(path, &err);
    expect_has(m, "byte 3: 5 dimensions");
    expect_has(m, "expected 1 to 4");
}

static void test_zero_dimension(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t dims[3] = { 3, 0, 4 };
    size_t len = make_idx(buf, PT_IDX_U8, 3, dims, NULL, 0);
    char path[512];
    path_of(path, sizeof path, "zero_dim.idx");
    write_raw(path, buf, len);
    pt_err err;
    const char *m = expect_idx_error(path, &err);
    expect_has(m, "byte 8:");
    expect_has(m, "dimension 2 of 3 is 0");
    expect_has(m, "expected every dimension >= 1");

    dims[1] = 2;
    dims[0] = 0;
    len = make_idx(buf, PT_IDX_U8, 3, dims, NULL, 0);
    write_raw(path, buf, len);
    m = expect_idx_error(path, &err);
    expect_has(m, "byte 4:");
    expect_has(m, "dimension 1 of 3 is 0");
}

/* A header asking for ~2^130 bytes must be refused from the header alone:
 * the file is only its 20 header bytes, so a reader that allocated first
 * would fail differently (out of memory, or truncated). */
static void test_absurd_dimensions(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t dims[4] = { 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu };
    size_t len = make_idx(buf, PT_IDX_F64, 4, dims, NULL, 0);
    for (int gz = 0; gz < 2; gz++) {
        char path[512];
        path_of(path, sizeof path, gz ? "absurd.idx.gz" : "absurd.idx");
        write_file(path, buf, len, gz);
        pt_err err;
        const char *m = expect_idx_error(path, &err);
        expect_has(m, "absurd dimensions 4294967295 x 4294967295 x 4294967295 x 4294967295");
        expect_has(m, "8-byte f64");
        expect_has(m, "bytes 4-19");
        expect_lacks(m, "truncated");
    }

    /* One byte over the limit: 65536 x 65537 u8 = 2^32 + 65536 */
    uint32_t over[2] = { 65536, 65537 };
    len = make_idx(buf, PT_IDX_U8, 2, over, NULL, 0);
    char path[512];
    path_of(path, sizeof path, "just_over.idx.gz");
    write_gz(path, buf, len);
    pt_err err;
    expect_has(expect_idx_error(path, &err), "absurd dimensions 65536 x 65537");

    /* Exactly the limit is not absurd: a plain file's length is checked
     * against it before any allocation, so this is reported as truncated. */
    uint32_t at[2] = { 65536, 65536 };
    len = make_idx(buf, PT_IDX_U8, 2, at, NULL, 0);
    path_of(path, sizeof path, "at_limit.idx");
    write_raw(path, buf, len);
    const char *m = expect_idx_error(path, &err);
    expect_lacks(m, "absurd");
    expect_has(m, "truncated: the data ends at byte 12; expected 4294967308 bytes");
}

static void test_truncated_header(void **state)
{
    (void)state;
    uint8_t buf[64];
    make_small(buf);
    for (int gz = 0; gz < 2; gz++) {
        char path[512];
        path_of(path, sizeof path, gz ? "short_head.idx.gz" : "short_head.idx");
        pt_err err;

        write_file(path, buf, 3, gz);
        const char *m = expect_idx_error(path, &err);
        expect_has(m, "truncated header: the data ends at byte 3; expected at least 4 header bytes");

        write_file(path, buf, 10, gz);
        m = expect_idx_error(path, &err);
        expect_has(m, "truncated header: the data ends at byte 10; expected 16 header bytes");
        expect_has(m, gz ? "(gzip" : "(uncompressed)");
    }
}

static void test_truncated_payload(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    for (int gz = 0; gz < 2; gz++) {
        char path[512];
        path_of(path, sizeof path, gz ? "short_pay.idx.gz" : "short_pay.idx");
        write_file(path, buf, len - 4, gz);
        pt_err err;
        const char *m = expect_idx_error(path, &err);
        expect_has(m, "truncated: the data ends at byte 36; expected 40 bytes (16 header + 24 payload");
        expect_has(m, "3 x 2 x 4 u8");
    }
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    buf[len] = 0xEE;
    buf[len + 1] = 0xFF;
    for (int gz = 0; gz < 2; gz++) {
        char path[512];
        path_of(path, sizeof path, gz ? "trailing.idx.gz" : "trailing.idx");
        write_file(path, buf, len + 2, gz);
        pt_err err;
        const char *m = expect_idx_error(path, &err);
        expect_has(m, "2 extra bytes after the payload at offset 40");
    }
}

/* Damage to a gzip file must surface as zlib's diagnosis, not as a short or
 * garbled read: a bad block header, a bad check value, a missing trailer. */
static void test_corrupt_gzip(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    char good[512], bad[512];
    path_of(good, sizeof good, "good.idx.gz");
    path_of(bad, sizeof bad, "corrupt.idx.gz");
    write_gz(good, buf, len);
    size_t glen;
    uint8_t *g = slurp(good, &glen);
    assert_true(glen > 18);
    assert_int_equal(g[0], 0x1F);
    assert_int_equal(g[1], 0x8B);
    pt_err err;

    /* byte 10 is the first deflate block header (gzopen writes no name):
     * 0xFF sets BTYPE = 3, which deflate reserves */
    uint8_t keep = g[10];
    g[10] = 0xFF;
    write_raw(bad, g, glen);
    const char *m = expect_idx_error(bad, &err);
    expect_has(m, "corrupt gzip data near byte");
    expect_has(m, "invalid block type");
    expect_lacks(m, "<fd:");
    g[10] = keep;

    /* the CRC-32 in the gzip trailer no longer matches */
    g[glen - 8] ^= 0xFF;
    write_raw(bad, g, glen);
    m = expect_idx_error(bad, &err);
    expect_has(m, "corrupt gzip data");
    expect_has(m, "incorrect data check");
    g[glen - 8] ^= 0xFF;

    /* cut inside the deflate data: both the payload and the stream end early */
    write_raw(bad, g, glen - 10);
    m = expect_idx_error(bad, &err);
    expect_has(m, "truncated: the data ends at byte");
    expect_has(m, "expected 40 bytes");
    expect_has(m, "(the gzip stream is cut short)");

    /* the trailer is missing: the IDX data is whole but the file is not */
    write_raw(bad, g, glen - 8);
    m = expect_idx_error(bad, &err);
    expect_has(m, "gzip stream is cut short");

    free(g);
}

static void test_missing_empty_and_directory(void **state)
{
    (void)state;
    char path[512];
    pt_err err;
    path_of(path, sizeof path, "no_such_file.idx");
    const char *m = expect_idx_error(path, &err);
    expect_has(m, "cannot open");
    expect_has(m, strerror(ENOENT));

    path_of(path, sizeof path, "empty.idx");
    write_raw(path, NULL, 0);
    m = expect_idx_error(path, &err);
    expect_has(m, "empty file (0 bytes)");

    path_of(path, sizeof path, "empty.idx.gz");
    write_gz(path, NULL, 0);
    m = expect_idx_error(path, &err);
    expect_has(m, "decompresses to 0 bytes");

    path_of(path, sizeof path, "a_directory");
    assert_int_equal(mkdir(path, 0700), 0);
    m = expect_idx_error(path, &err);
    expect_has(m, "is a directory");
}

/* ---- dataset -------------------------------------------------------------- */

static void write_labels(const char *name, char *path, size_t size, const uint8_t *y, uint32_t n, int gz)
{
    uint8_t buf[512];
    assert_true(n + 8 <= sizeof buf);
    size_t len = make_idx(buf, PT_IDX_U8, 1, &n, y, n);
    path_of(path, size, name);
    write_file(path, buf, len, gz);
}

static void test_dataset_3d(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    char im[512], lb[512];
    path_of(im, sizeof im, "ds3_images.gz");
    write_gz(im, buf, len);
    const uint8_t y[3] = { 0, 2, 1 };
    write_labels("ds3_labels", lb, sizeof lb, y, 3, 0);
    size_t lb_len;
    uint8_t *lb_bytes = slurp(lb, &lb_len);

    pt_dataset ds;
    pt_err err = { "" };
    assert_int_equal(pt_dataset_load(&ds, im, lb, &err), 0);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.rows, 2);
    assert_int_equal(ds.cols, 4);
    assert_int_equal(ds.dim, 8);
    assert_int_equal(ds.n_classes, 3);
    assert_memory_equal(ds.x, buf + SMALL_HEAD, SMALL_PAYLOAD);
    assert_memory_equal(ds.y, y, 3);
    assert_int_equal(ds.crc_images, crc_of(buf, len));
    assert_int_equal(ds.crc_labels, crc_of(lb_bytes, lb_len));
    free(lb_bytes);
    pt_dataset_free(&ds);
    assert_null(ds.x);
    assert_null(ds.y);
}

static void test_dataset_2d(void **state)
{
    (void)state;
    uint8_t buf[64], pay[20];
    for (int i = 0; i < 20; i++)
        pay[i] = (uint8_t)(200 + i);
    uint32_t dims[2] = { 4, 5 };
    size_t len = make_idx(buf, PT_IDX_U8, 2, dims, pay, sizeof pay);
    char im[512], lb[512];
    path_of(im, sizeof im, "ds2_images");
    write_raw(im, buf, len);
    const uint8_t y[4] = { 1, 0, 1, 0 };
    write_labels("ds2_labels.gz", lb, sizeof lb, y, 4, 1);

    pt_dataset ds;
    pt_err err = { "" };
    assert_int_equal(pt_dataset_load(&ds, im, lb, &err), 0);
    assert_int_equal(ds.n, 4);
    assert_int_equal(ds.rows, 1);
    assert_int_equal(ds.cols, 5);
    assert_int_equal(ds.dim, 5);
    assert_int_equal(ds.n_classes, 2);
    assert_memory_equal(ds.x, pay, sizeof pay);
    pt_dataset_free(&ds);

    /* the largest label a u8 can hold gives 256 classes */
    const uint8_t y256[4] = { 255, 0, 3, 9 };
    write_labels("ds2_labels256", lb, sizeof lb, y256, 4, 0);
    assert_int_equal(pt_dataset_load(&ds, im, lb, &err), 0);
    assert_int_equal(ds.n_classes, 256);
    pt_dataset_free(&ds);
}

static void test_dataset_count_mismatch(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    char im[512], lb[512];
    path_of(im, sizeof im, "mm_images");
    write_raw(im, buf, len);
    const uint8_t y[2] = { 0, 1 };
    write_labels("mm_labels", lb, sizeof lb, y, 2, 0);
    pt_dataset ds;
    pt_err err;
    assert_int_equal(pt_dataset_load(&ds, im, lb, &err), -1);
    assert_null(ds.x);
    assert_null(ds.y);
    expect_has(err.msg, im);
    expect_has(err.msg, lb);
    expect_has(err.msg, "has 3 images");
    expect_has(err.msg, "has 2 labels");
    expect_has(err.msg, "expected the same count");
}

static void test_dataset_one_class(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_small(buf);
    char im[512], lb[512];
    path_of(im, sizeof im, "oc_images");
    write_raw(im, buf, len);
    const uint8_t y[3] = { 0, 0, 0 };
    write_labels("oc_labels", lb, sizeof lb, y, 3, 0);
    pt_dataset ds;
    pt_err err;
    assert_int_equal(pt_dataset_load(&ds, im, lb, &err), -1);
    assert_null(ds.x);
    expect_has(err.msg, lb);
    expect_has(err.msg, "only 1 class");
    expect_has(err.msg, "K >= 2");
}

static void test_dataset_wrong_shapes(void **state)
{
    (void)state;
    uint8_t buf[64];
    char im[512], lb[512], good_im[512], good_lb[512];
    pt_dataset ds;
    pt_err err;

    size_t len = make_small(buf);
    path_of(good_im, sizeof good_im, "ws_good_images");
    write_raw(good_im, buf, len);
    const uint8_t y[3] = { 0, 1, 1 };
    write_labels("ws_good_labels", good_lb, sizeof good_lb, y, 3, 0);

    /* images of type i32 */
    uint8_t big[128];
    uint8_t pay[96] = { 0 };
    len = make_idx(big, PT_IDX_I32, 3, small_dims, pay, sizeof pay);
    path_of(im, sizeof im, "ws_i32_images");
    write_raw(im, big, len);
    assert_int_equal(pt_dataset_load(&ds, im, good_lb, &err), -1);
    expect_has(err.msg, im);
    expect_has(err.msg, "3-D i32");
    expect_has(err.msg, "expected u8");

    /* 1-D images */
    uint32_t n3 = 3;
    len = make_idx(big, PT_IDX_U8, 1, &n3, y, 3);
    path_of(im, sizeof im, "ws_1d_images");
    write_raw(im, big, len);
    assert_int_equal(pt_dataset_load(&ds, im, good_lb, &err), -1);
    expect_has(err.msg, "1-D u8");
    expect_has(err.msg, "2 dimensions");

    /* 2-D labels */
    uint32_t d2[2] = { 3, 1 };
    len = make_idx(big, PT_IDX_U8, 2, d2, y, 3);
    path_of(lb, sizeof lb, "ws_2d_labels");
    write_raw(lb, big, len);
    assert_int_equal(pt_dataset_load(&ds, good_im, lb, &err), -1);
    expect_has(err.msg, lb);
    expect_has(err.msg, "2-D u8");
    expect_has(err.msg, "1 dimension (n)");

    /* labels missing: images were read and must be released (ASan checks) */
    path_of(lb, sizeof lb, "ws_no_labels");
    assert_int_equal(pt_dataset_load(&ds, good_im, lb, &err), -1);
    expect_has(err.msg, lb);
    expect_has(err.msg, strerror(ENOENT));
    assert_null(ds.x);
}

/* ---- preprocessing -------------------------------------------------------- */

/* Value the map gives to pixel v, as the kernels compute it. */
static double mapped(const pt_input_map *m, int v)
{
    return (double)((float)v * m->scale + m->shift);
}

static void expect_close(double got, double want)
{
    if (!(fabs(got - want) <= 1e-6 + 1e-6 * fabs(want)))
        fail_msg("got %.9g, want %.9g", got, want);
}

static void test_prep_scale(void **state)
{
    (void)state;
    uint8_t x[4] = { 0, 51, 255, 7 };
    pt_dataset ds = { .n = 2, .dim = 2, .rows = 1, .cols = 2, .n_classes = 2, .x = x };
    int idx[2] = { 0, 1 };
    pt_input_map m;
    pt_input_map_fit(PT_PREP_SCALE, &ds, idx, 2, &m);
    assert_true(m.mean == 0.0);
    assert_true(m.std == 255.0);
    assert_true(m.shift == 0.0f);
    expect_close(mapped(&m, 0), 0.0);
    expect_close(mapped(&m, 255), 1.0);
    expect_close(mapped(&m, 51), 51.0 / 255.0);
}

static void test_prep_standardize(void **state)
{
    (void)state;
    /* samples {0,10}, {20,30}, {255,255}, {9,9}: the first two have mean
     * 15 and population variance (225+25+25+225)/4 = 125; the third is
     * excluded by idx and would move both if it were counted. */
    uint8_t x[8] = { 0, 10, 20, 30, 255, 255, 9, 9 };
    pt_dataset ds = { .n = 4, .dim = 2, .rows = 1, .cols = 2, .n_classes = 2, .x = x };
    pt_input_map m, m2;
    int idx[2] = { 0, 1 };
    pt_input_map_fit(PT_PREP_STANDARDIZE, &ds, idx, 2, &m);
    expect_close(m.mean, 15.0);
    expect_close(m.std, sqrt(125.0));
    expect_close(mapped(&m, 15), 0.0);
    expect_close(mapped(&m, 0), -15.0 / sqrt(125.0));
    expect_close(mapped(&m, 255), 240.0 / sqrt(125.0));

    /* order of the index list does not change a bit */
    int rev[2] = { 1, 0 };
    pt_input_map_fit(PT_PREP_STANDARDIZE, &ds, rev, 2, &m2);
    assert_memory_equal(&m, &m2, sizeof m);

    /* a sample counted twice is weighted twice: {0,10,20,30,20,30} */
    int dup[3] = { 0, 1, 1 };
    pt_input_map_fit(PT_PREP_STANDARDIZE, &ds, dup, 3, &m);
    double mu = 110.0 / 6.0;
    double var = ((0 - mu) * (0 - mu) + (10 - mu) * (10 - mu) + 2 * (20 - mu) * (20 - mu) +
                  2 * (30 - mu) * (30 - mu)) / 6.0;
    expect_close(m.mean, mu);
    expect_close(m.std, sqrt(var));

    /* constant pixels: std 0 becomes 1, so the map stays finite */
    int one[1] = { 2 };
    pt_input_map_fit(PT_PREP_STANDARDIZE, &ds, one, 1, &m);
    expect_close(m.mean, 255.0);
    assert_true(m.std == 1.0);
    expect_close(mapped(&m, 255), 0.0);
    expect_close(mapped(&m, 0), -255.0);
}

/* The 4-way split histogram must count a row whose length is not a multiple
 * of 4: dim 7, with the odd pixels at the tail carrying the spread. */
static void test_prep_standardize_odd_dim(void **state)
{
    (void)state;
    uint8_t x[7] = { 1, 1, 1, 1, 1, 1, 8 };
    pt_dataset ds = { .n = 1, .dim = 7, .rows = 1, .cols = 7, .n_classes = 2, .x = x };
    int idx[1] = { 0 };
    pt_input_map m;
    pt_input_map_fit(PT_PREP_STANDARDIZE, &ds, idx, 1, &m);
    expect_close(m.mean, 2.0);
    expect_close(m.std, sqrt((6.0 * 1.0 + 36.0) / 7.0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u8_3d_plain_and_gzip),
        cmocka_unit_test(test_multibyte_types_to_host),
        cmocka_unit_test(test_gzip_detected_by_content),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_type_code),
        cmocka_unit_test(test_bad_ndim),
        cmocka_unit_test(test_zero_dimension),
        cmocka_unit_test(test_absurd_dimensions),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_truncated_payload),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_corrupt_gzip),
        cmocka_unit_test(test_missing_empty_and_directory),
        cmocka_unit_test(test_dataset_3d),
        cmocka_unit_test(test_dataset_2d),
        cmocka_unit_test(test_dataset_count_mismatch),
        cmocka_unit_test(test_dataset_one_class),
        cmocka_unit_test(test_dataset_wrong_shapes),
        cmocka_unit_test(test_prep_scale),
        cmocka_unit_test(test_prep_standardize),
        cmocka_unit_test(test_prep_standardize_odd_dim),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
