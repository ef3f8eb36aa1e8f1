/* results.c: the run folder on disk: creating it under a name never used
 * before, the resolved config.ini, metrics.csv grown one flushed row per
 * epoch, summary.json rewritten atomically, and the atomic-write helpers.
 * Pictures are plot.c's job; nothing here prints or exits. */
#include "pt_results.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <hwloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* __VERSION__ alone is "12.2.0" under gcc: name the compiler too. */
#if defined(__clang__)
#define PT_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define PT_COMPILER "gcc " __VERSION__
#else
#define PT_COMPILER "unknown"
#endif

#ifndef PT_GIT_REV
#define PT_GIT_REV "unknown"   /* the Makefile passes the commit; other builds say so honestly */
#endif

/* results_dir + '/' + name, and room for "/summary.json" and a temp suffix. */
#define PT_RUN_DIR_MAX (PT_PATH_MAX + PT_NAME_MAX + 1)
#define PT_RUN_FILE_MAX (PT_RUN_DIR_MAX + 32)
/* A run name taken this many times means something other than a clash is wrong. */
#define PT_MAX_SUFFIX 9999

static const char pt_metrics_header[] =
    "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds,samples_per_sec";

struct pt_results {
    char dir[PT_RUN_DIR_MAX];
    char name[PT_NAME_MAX];
    FILE *metrics;
};

const char *pt_results_dir(const pt_results *r) { return r->dir; }
const char *pt_results_name(const pt_results *r) { return r->name; }

/* ---------------------------------------------------------------- atomic files */

FILE *pt_atomic_open(const char *path, char *tmp_path, size_t tmp_size, pt_err *err)
{
    /* O_EXCL with a pid and counter instead of mkstemp: mkstemp's 0600 mode
     * would survive the rename, while open() honours the user's umask. */
    static _Atomic unsigned counter;             /* threads may write summaries at once */
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned n = counter++;
        int len = snprintf(tmp_path, tmp_size, "%s.tmp.%ld.%u", path, (long)getpid(), n);
        if (len < 0 || (size_t)len >= tmp_size) {
            pt_fail(err, "path too long for a temporary file beside '%s'", path);
            return NULL;
        }
        int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            pt_fail(err, "cannot create '%s': %s", tmp_path, strerror(errno));
            return NULL;
        }
        FILE *f = fdopen(fd, "w");
        if (!f) {
            int e = errno;
            close(fd);
            unlink(tmp_path);
            pt_fail(err, "cannot open '%s': %s", tmp_path, strerror(e));
            return NULL;
        }
        return f;
    }
    pt_fail(err, "cannot find a free temporary name beside '%s'", path);
    return NULL;
}

/* Make the rename itself durable; filesystems that cannot sync a directory
 * (EINVAL) still gave us the atomic rename, which is what readers rely on. */
static int pt_sync_parent(const char *path, pt_err *err)
{
    char dir[PT_RUN_FILE_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = pt_fail(err, "cannot sync folder '%s': %s", dir, strerror(errno));
    close(fd);
    return rc;
}

int pt_atomic_commit(FILE *f, const char *tmp_path, const char *path, pt_err *err)
{
    /* Every step can report a full disk; any failure removes the temp file so
     * the previous version of path stays the one readers see. */
    int e = 0;
    const char *what = NULL;
    if (fflush(f) != 0 || ferror(f)) {
        e = errno;
        what = "write";
    } else if (fsync(fileno(f)) != 0) {
        e = errno;
        what = "sync";
    }
    if (fclose(f) != 0 && !what) {
        e = errno;
        what = "close";
    }
    if (!what && rename(tmp_path, path) != 0) {
        e = errno;
        what = "rename to final name";
    }
    if (what) {
        unlink(tmp_path);
        return pt_fail(err, "cannot %s '%s' (for '%s'): %s", what, tmp_path, path,
                       e ? strerror(e) : "I/O error");
    }
    return pt_sync_parent(path, err);
}

void pt_atomic_abort(FILE *f, const char *tmp_path)
{
    if (f)
        fclose(f);
    if (tmp_path && tmp_path[0])
        unlink(tmp_path);
}

/* ---------------------------------------------------------------- run folder */

/* mkdir -p: each missing component is created; one that exists but is not a
 * folder is named in the error, since that is what the user has to fix. */
static int pt_mkdir_p(const char *path, pt_err *err)
{
    char buf[PT_PATH_MAX];
    size_t len = strlen(path);
    if (len == 0)
        return pt_fail(err, "run.results_dir is empty");
    if (len >= sizeof buf)
        return pt_fail(err, "run.results_dir is longer than %d characters", PT_PATH_MAX - 1);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue;                            /* "a//b" or a trailing slash */
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            return pt_fail(err, "cannot create results folder '%s' (run.results_dir = '%s'): %s",
                           buf, path, strerror(e));
        }
        struct stat st;
        if (stat(buf, &st) != 0) {
            int e = errno;
            return pt_fail(err, "cannot create results folder '%s' (run.results_dir = '%s'): %s",
                           buf, path, strerror(e));
        }
        if (!S_ISDIR(st.st_mode))
            return pt_fail(err, "cannot create results folder '%s': '%s' exists and is not a folder",
                           path, buf);
        buf[i] = saved;
    }
    return 0;
}

/* A run name becomes one path component, so it must not escape results_dir
 * or hide control characters in listings and JSON. */
static int pt_check_run_name(const char *name, pt_err *err)
{
    if (name[0] == '\0')
        return pt_fail(err, "run name is empty");
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return pt_fail(err, "run.name '%s' is not a usable folder name", name);
    if (strlen(name) >= PT_NAME_MAX)
        return pt_fail(err, "run.name is longer than %d characters", PT_NAME_MAX - 1);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p == '/')
            return pt_fail(err, "run.name '%s' contains '/': it names one folder inside "
                           "run.results_dir (set run.results_dir for another location)", name);
        if (*p < 0x20 || *p >= 0x7f)
            return pt_fail(err, "run.name contains the non-printable byte 0x%02x at position %d; "
                           "use letters, digits, '-', '_' or '.'",
                           *p, (int)(p - (const unsigned char *)name));
    }
    return 0;
}

/* "<stem of the config file>-YYYYmmdd-HHMMSS", the stem reduced to safe
 * characters so that any config file name gives a valid run name. */
static int pt_auto_name(const pt_config *cfg, char *out, size_t size, pt_err *err)
{
    char stem[64] = "";
    const char *base = strrchr(cfg->source, '/');
    base = base ? base + 1 : cfg->source;
    const char *dot = strrchr(base, '.');
    size_t n = dot ? (size_t)(dot - base) : strlen(base);
    if (n >= sizeof stem)
        n = sizeof stem - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)base[i];
        stem[i] = (isalnum(c) && c < 0x80) || c == '-' || c == '_' || c == '.' ? (char)c : '_';
    }
    stem[n] = '\0';
    if (stem[0] == '\0' || stem[0] == '.')
        snprintf(stem, sizeof stem, "run");

    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    if (!localtime_r(&now, &tm) || strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm) == 0)
        return pt_fail(err, "cannot format the local time for a run name");
    snprintf(out, size, "%s-%s", stem, stamp);
    return 0;
}

/* Claim results_dir/base, or base-2, base-3...: mkdir either creates the
 * folder or fails with EEXIST, so two runs started together never share one. */
static int pt_claim_folder(pt_results *r, const char *results_dir, const char *base, pt_err *err)
{
    for (int k = 1; k <= PT_MAX_SUFFIX; k++) {
        char name[PT_NAME_MAX + 16];
        if (k == 1)
            snprintf(name, sizeof name, "%s", base);
        else
            snprintf(name, sizeof name, "%s-%d", base, k);
        if (strlen(name) >= PT_NAME_MAX)
            return pt_fail(err, "run name '%s' is taken in '%s' and too long for a -%d suffix",
                           base, results_dir, k);
        int len = snprintf(r->dir, sizeof r->dir, "%s/%s", results_dir, name);
        if (len < 0 || (size_t)len >= sizeof r->dir)
            return pt_fail(err, "run folder path '%s/%s' is too long", results_dir, name);
        if (mkdir(r->dir, 0777) == 0) {
            memcpy(r->name, name, strlen(name) + 1);
            return 0;
        }
        if (errno != EEXIST)
            return pt_fail(err, "cannot create run folder '%s': %s", r->dir, strerror(errno));
    }
    return pt_fail(err, "run names '%s' to '%s-%d' are all taken in '%s'", base, base,
                   PT_MAX_SUFFIX, results_dir);
}

int pt_results_new_folder(const pt_config *cfg, const char *prefix, char *dir, size_t size,
                          pt_err *err)
{
    pt_results *r = calloc(1, sizeof *r);
    if (!r)
        return pt_fail(err, "out of memory");
    char base[PT_NAME_MAX], stamp[PT_NAME_MAX];
    int rc = -1;
    if (cfg->run.name[0]) {
        snprintf(base, sizeof base, "%s", cfg->run.name);
    } else {
        if (pt_auto_name(cfg, stamp, sizeof stamp, err))
            goto out;
        snprintf(base, sizeof base, "%.20s-%.100s", prefix, stamp);
    }
    if (pt_check_run_name(base, err) || pt_mkdir_p(cfg->run.results_dir, err) ||
        pt_claim_folder(r, cfg->run.results_dir, base, err))
        goto out;
    if (strlen(r->dir) >= size) {
        pt_fail(err, "folder path '%s' is too long", r->dir);
        goto out;
    }
    memcpy(dir, r->dir, strlen(r->dir) + 1);
    rc = 0;
out:
    free(r);
    return rc;
}

static int pt_write_config(const pt_results *r, const pt_config *cfg, pt_err *err)
{
    /* The copy carries the folder's actual name, so rerunning config.ini
     * names its run after this one instead of the caller's request. */
    pt_config *copy = malloc(sizeof *copy);
    if (!copy)
        return pt_fail(err, "out of memory copying the config");
    *copy = *cfg;
    snprintf(copy->run.name, sizeof copy->run.name, "%s", r->name);

    char path[PT_RUN_FILE_MAX], tmp[PT_RUN_FILE_MAX + 32];
    snprintf(path, sizeof path, "%s/config.ini", r->dir);
    FILE *f = pt_atomic_open(path, tmp, sizeof tmp, err);
    if (!f) {
        free(copy);
        return -1;
    }
    int rc = pt_config_write(copy, f);
    free(copy);
    if (rc != 0) {
        pt_atomic_abort(f, tmp);
        return pt_fail(err, "cannot write '%s'", path);
    }
    return pt_atomic_commit(f, tmp, path, err);
}

static int pt_open_metrics(pt_results *r, pt_err *err)
{
    char path[PT_RUN_FILE_MAX];
    snprintf(path, sizeof path, "%s/metrics.csv", r->dir);
    r->metrics = fopen(path, "wxe");             /* x: the folder is new, anything there is a bug */
    if (!r->metrics)
        return pt_fail(err, "cannot create '%s': %s", path, strerror(errno));
    if (fprintf(r->metrics, "%s\n", pt_metrics_header) < 0 || fflush(r->metrics) != 0)
        return pt_fail(err, "cannot write '%s': %s", path, strerror(errno));
    return 0;
}

int pt_results_create(pt_results **out, const pt_config *cfg, pt_err *err)
{
    *out = NULL;
    char base[PT_NAME_MAX];
    if (cfg->run.name[0]) {
        if (pt_check_run_name(cfg->run.name, err) != 0)
            return -1;
        snprintf(base, sizeof base, "%s", cfg->run.name);
    } else if (pt_auto_name(cfg, base, sizeof base, err) != 0) {
        return -1;
    }

    /* "results/" and "results" name the same folder; keep paths tidy. */
    char results_dir[PT_PATH_MAX];
    snprintf(results_dir, sizeof results_dir, "%s", cfg->run.results_dir);
    size_t len = strlen(results_dir);
    while (len > 1 && results_dir[len - 1] == '/')
        results_dir[--len] = '\0';
    if (pt_mkdir_p(results_dir, err) != 0)
        return -1;

    pt_results *r = calloc(1, sizeof *r);
    if (!r)
        return pt_fail(err, "out of memory");
    if (pt_claim_folder(r, strcmp(results_dir, "/") == 0 ? "" : results_dir, base, err) != 0) {
        free(r);
        return -1;
    }

    pt_summary s;
    memset(&s, 0, sizeof s);
    s.status = PT_STATUS_RUNNING;
    s.threads = cfg->run.threads;
    if (pt_write_config(r, cfg, err) != 0 || pt_results_summary(r, &s, err) != 0 ||
        pt_open_metrics(r, err) != 0) {
        /* The folder stays: it is claimed and what it holds helps explain the failure. */
        pt_results_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* ---------------------------------------------------------------- metrics.csv */

/* Every row has every column; NaN is spelled "nan" (never "-nan") so that
 * readers need one spelling, and gnuplot treats it as a missing point. */
static void pt_csv_number(FILE *f, double v)
{
    if (isnan(v))
        fputs(",nan", f);
    else
        fprintf(f, ",%.9g", v);
}

int pt_results_append(pt_results *r, const pt_epoch_metrics *m, pt_err *err)
{
    FILE *f = r->metrics;
    if (!f)
        return pt_fail(err, "metrics.csv of run '%s' is not open", r->name);
    fprintf(f, "%d", m->epoch);
    pt_csv_number(f, m->train_loss);
    pt_csv_number(f, m->train_acc);
    pt_csv_number(f, m->val_loss);
    pt_csv_number(f, m->val_acc);
    pt_csv_number(f, m->test_loss);
    pt_csv_number(f, m->test_acc);
    pt_csv_number(f, m->lr);
    pt_csv_number(f, m->seconds);
    pt_csv_number(f, m->samples_per_sec);
    fputc('\n', f);
    /* Flushed per row: a killed run still has every finished epoch on disk. */
    if (fflush(f) != 0 || ferror(f))
        return pt_fail(err, "cannot write '%s/metrics.csv': %s", r->dir, strerror(errno));
    return 0;
}

/* ---------------------------------------------------------------- summary.json */

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static int pt_utf8_len(const unsigned char *s)
{
    int n;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    else if ((s[0] & 0xe0) == 0xc0)
        n = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Messages carry paths and user text: quote them so any byte sequence still
 * yields valid JSON (invalid UTF-8 becomes U+FFFD). */
static void pt_json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else if (c >= 0x80) {
            int n = pt_utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", f);
                s++;
                continue;
            }
            fwrite(s, 1, (size_t)n, f);
            s += n;
            continue;
        } else {
            fputc(c, f);
        }
        s++;
    }
    fputc('"', f);
}

/* JSON has no NaN or Infinity: a missing value is null. */
static void pt_json_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fputs("null", f);
}

static void pt_json_metrics(FILE *f, const char *key, const pt_epoch_metrics *m, int present)
{
    fprintf(f, "  \"%s\": ", key);
    if (!present) {
        fputs("null,\n", f);
        return;
    }
    const struct { const char *name; double v; } cols[] = {
        {"train_loss", m->train_loss}, {"train_acc", m->train_acc},
        {"val_loss", m->val_loss},     {"val_acc", m->val_acc},
        {"test_loss", m->test_loss},   {"test_acc", m->test_acc},
        {"lr", m->lr},                 {"seconds", m->seconds},
        {"samples_per_sec", m->samples_per_sec},
    };
    fprintf(f, "{\n    \"epoch\": %d", m->epoch);
    for (size_t i = 0; i < PT_ARRAY_LEN(cols); i++) {
        fprintf(f, ",\n    \"%s\": ", cols[i].name);
        pt_json_number(f, cols[i].v);
    }
    fputs("\n  },\n", f);
}

/* The placement text is pasted in as it is; a caller's buffer that cut it
 * short would make the whole summary unreadable, so it must at least be one
 * closed array or object: brackets balanced and strings closed. */
static int pt_json_looks_complete(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    if (*s != '[' && *s != '{')
        return 0;
    int depth = 0, in_string = 0;
    for (; *s; s++) {
        if (in_string) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                in_string = 0;
        } else if (*s == '"') {
            in_string = 1;
        } else if (*s == '[' || *s == '{') {
            depth++;
        } else if (*s == ']' || *s == '}') {
            if (--depth < 0)
                return 0;
        } else if (depth == 0 && !(*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) {
            return 0;                            /* text after the closing bracket */
        }
    }
    return depth == 0 && !in_string;
}

static void pt_json_summary(FILE *f, const pt_results *r, const pt_summary *s)
{
    static const char *const status_names[] = {"running", "complete", "failed"};
    fputs("{\n  \"status\": ", f);
    pt_json_string(f, status_names[s->status]);
    fputs(",\n  \"message\": ", f);
    pt_json_string(f, s->message);
    fputs(",\n  \"name\": ", f);
    pt_json_string(f, r->name);
    fprintf(f, ",\n  \"epochs_done\": %d,\n", s->epochs_done);
    pt_json_metrics(f, "final", &s->final, s->epochs_done > 0);
    pt_json_metrics(f, "best", &s->best, s->epochs_done > 0);

    fprintf(f, "  \"n_classes\": %d,\n  \"confusion\": ", s->n_classes);
    if (s->confusion && s->n_classes > 0) {
        fputs("[", f);
        for (int t = 0; t < s->n_classes; t++) {
            fputs(t ? ",\n    [" : "\n    [", f);
            for (int p = 0; p < s->n_classes; p++)
                fprintf(f, p ? ", %ld" : "%ld", s->confusion[(size_t)t * s->n_classes + p]);
            fputs("]", f);
        }
        fputs("\n  ],\n", f);
    } else {
        fputs("null,\n", f);
    }

    if (s->threads_requested > 0)
        fprintf(f, "  \"threads_requested\": %d,\n", s->threads_requested);
    if (s->threads > 0)
        fprintf(f, "  \"threads\": %d,\n", s->threads);
    else
        fputs("  \"threads\": null,\n", f);
    /* Written by pt_placement_write_json, which produces a JSON array. */
    fprintf(f, "  \"placement\": %s,\n",
            s->placement_json && pt_json_looks_complete(s->placement_json) ? s->placement_json
                                                                           : "null");

    fputs("  \"timing\": {\n    \"train_seconds\": ", f);
    pt_json_number(f, s->train_seconds);
    fputs(",\n    \"total_seconds\": ", f);
    pt_json_number(f, s->total_seconds);
    if (s->peak_rss_kb > 0)
        fprintf(f, ",\n    \"peak_rss_kb\": %ld\n  },\n", s->peak_rss_kb);
    else
        fputs(",\n    \"peak_rss_kb\": null\n  },\n", f);   /* not measured */

    fprintf(f,
            "  \"data\": {\n"
            "    \"n_train\": %ld,\n    \"n_val\": %ld,\n    \"n_test\": %ld,\n"
            "    \"crc32\": {\n"
            "      \"train_images\": \"%08x\",\n      \"train_labels\": \"%08x\",\n"
            "      \"test_images\": \"%08x\",\n      \"test_labels\": \"%08x\"\n"
            "    }\n  },\n",
            s->n_train, s->n_val, s->n_test, s->crc_train_images, s->crc_train_labels,
            s->crc_test_images, s->crc_test_labels);
    fprintf(f, "  \"model\": {\n    \"n_params\": %ld\n  },\n", s->n_params);

    unsigned hv = hwloc_get_api_version();
    fputs("  \"versions\": {\n    \"ptrain\": ", f);
    pt_json_string(f, PT_VERSION);
    fputs(",\n    \"git\": ", f);
    pt_json_string(f, PT_GIT_REV);
    fputs(",\n    \"compiler\": ", f);
    pt_json_string(f, PT_COMPILER);
    fprintf(f, ",\n    \"hwloc\": \"%u.%u.%u\",\n    \"zlib\": ", hv >> 16, (hv >> 8) & 0xff,
            hv & 0xff);
    pt_json_string(f, zlibVersion());
    fputs("\n  }\n}\n", f);
}

int pt_results_summary(pt_results *r, const pt_summary *s, pt_err *err)
{
    if ((unsigned)s->status > PT_STATUS_FAILED)
        return pt_fail(err, "summary status %d is not a pt_run_status", (int)s->status);
    if (s->n_classes < 0 || s->n_classes > PT_MAX_CLASSES)
        return pt_fail(err, "summary n_classes %d is outside 0..%d", s->n_classes, PT_MAX_CLASSES);
    char path[PT_RUN_FILE_MAX], tmp[PT_RUN_FILE_MAX + 32];
    snprintf(path, sizeof path, "%s/summary.json", r->dir);
    FILE *f = pt_atomic_open(path, tmp, sizeof tmp, err);
    if (!f)
        return -1;
    pt_json_summary(f, r, s);
    return pt_atomic_commit(f, tmp, path, err);
}

void pt_results_close(pt_results *r)
{
    if (!r)
        return;
    if (r->metrics)
        fclose(r->metrics);                      /* rows were flushed as written */
    free(r);
}

/* ---------------------------------------------------------------- test-set data files */

int pt_results_mkdirs(const char *path, pt_err *err)
{
    return pt_mkdir_p(path, err);
}

/* Open dir/file for an atomic whole-file write. */
static FILE *pt_open_in(const char *dir, const char *file, char *path, size_t path_size, char *tmp,
                        size_t tmp_size, pt_err *err)
{
    if (snprintf(path, path_size, "%s/%s", dir, file) >= (int)path_size) {
        pt_fail(err, "path '%s/%s' is too long", dir, file);
        return NULL;
    }
    return pt_atomic_open(path, tmp, tmp_size, err);
}

int pt_results_write_confusion(const char *dir, int k, const long *confusion, pt_err *err)
{
    char path[PT_RUN_FILE_MAX], tmp[PT_RUN_FILE_MAX + 32];
    FILE *f = pt_open_in(dir, "confusion.csv", path, sizeof path, tmp, sizeof tmp, err);
    if (!f)
        return -1;
    /* A matrix with its labels: rows are true classes, columns predictions. */
    fputs("true\\predicted", f);
    for (int p = 0; p < k; p++)
        fprintf(f, ",%d", p);
    fputc('\n', f);
    for (int t = 0; t < k; t++) {
        fprintf(f, "%d", t);
        for (int p = 0; p < k; p++)
            fprintf(f, ",%ld", confusion[(size_t)t * (size_t)k + (size_t)p]);
        fputc('\n', f);
    }
    return pt_atomic_commit(f, tmp, path, err);
}

int pt_results_write_class_counts(const char *dir, int k, const long *train, const long *val,
                                  const long *test, pt_err *err)
{
    char path[PT_RUN_FILE_MAX], tmp[PT_RUN_FILE_MAX + 32];
    FILE *f = pt_open_in(dir, "class_counts.csv", path, sizeof path, tmp, sizeof tmp, err);
    if (!f)
        return -1;
    fputs("class,train,val,test\n", f);
    for (int c = 0; c < k; c++)
        fprintf(f, "%d,%ld,%ld,%ld\n", c, train[c], val[c], test[c]);
    return pt_atomic_commit(f, tmp, path, err);
}

int pt_results_write_mistakes(const char *dir, int n, const long *index, const int *truth,
                              const int *pred, const uint8_t *const *images, int rows, int cols,
                              pt_err *err)
{
    if (rows < 1 || cols < 1 || (long)rows * cols > 1L << 20)
        return pt_fail(err, "mistakes: image shape %dx%d is not drawable", rows, cols);
    char path[PT_RUN_FILE_MAX], tmp[PT_RUN_FILE_MAX + 32];
    FILE *f = pt_open_in(dir, "mistakes.csv", path, sizeof path, tmp, sizeof tmp, err);
    if (!f)
        return -1;
    fputs("index,true,predicted\n", f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%ld,%d,%d\n", index[i], truth[i], pred[i]);
    if (pt_atomic_commit(f, tmp, path, err) != 0)
        return -1;

    /* The images themselves, stacked top to bottom in the order of the CSV,
     * as one binary PGM: any image viewer opens it, and gnuplot reads each
     * tile at a byte offset. Without mistakes there is no image to write. */
    f = pt_open_in(dir, "mistakes.pgm", path, sizeof path, tmp, sizeof tmp, err);
    if (!f)
        return -1;
    if (n > 0) {
        fprintf(f, "P5\n%d %d\n255\n", cols, rows * n);
        for (int i = 0; i < n; i++)
            fwrite(images[i], 1, (size_t)rows * (size_t)cols, f);
    } else {
        fprintf(f, "P5\n%d %d\n255\n", cols, 1);
        for (int x = 0; x < cols; x++)
            fputc(0, f);
    }
    return pt_atomic_commit(f, tmp, path, err);
}
