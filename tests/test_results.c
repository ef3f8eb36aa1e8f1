/* test_results.c: the run folder contract: naming (explicit, taken, automatic,
 * invalid), config.ini, metrics.csv rows readable while the run is open,
 * summary.json validity and escaping, atomic writes, error messages, and the
 * gnuplot pictures (real gnuplot, absent gnuplot, failing gnuplot). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <hwloc.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "pt_experiments.h"
#include "pt_results.h"

static char root[256];       /* mkdtemp folder holding every test's results_dir */

/* ---------------------------------------------------------------- helpers */

static void path_in(char *out, size_t size, const char *sub)
{
    snprintf(out, size, "%s/%s", root, sub);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

static char *slurp_in(const char *dir, const char *file)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return slurp(path);
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int exists_in(const char *dir, const char *file)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return stat(path, &st) == 0;
}

/* Number of entries in dir whose name contains ".tmp": leftovers of atomic writes. */
static int temp_files_in(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp"))
            n++;
    closedir(d);
    return n;
}

static void make_cfg(pt_config *c, const char *results_sub, const char *name)
{
    pt_config_defaults(c);
    path_in(c->run.results_dir, sizeof c->run.results_dir, results_sub);
    snprintf(c->run.name, sizeof c->run.name, "%s", name);
}

static pt_epoch_metrics metrics_row(int epoch, double val)
{
    pt_epoch_metrics m = {
        .epoch = epoch, .train_loss = 1.0 / epoch, .train_acc = 0.8 + 0.05 * epoch,
        .val_loss = val, .val_acc = val, .test_loss = 1.1 / epoch, .test_acc = 0.78 + 0.05 * epoch,
        .lr = 0.1, .seconds = 2.5, .samples_per_sec = 24000,
    };
    return m;
}

/* A strict recursive-descent JSON checker (RFC 8259 grammar, no extensions):
 * stronger than counting braces, and small enough to trust. */
static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20)
            return NULL;                         /* raw control characters are invalid */
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 5;
                continue;
            }
            if (!*p || !strchr("\"\\/bfnrt", *p))
                return NULL;
        }
        p++;
    }
    return p + 1;
}

static const char *json_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 32)
        return NULL;
    p = json_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int object = *p == '{';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (object) {
                p = json_string(json_ws(p));
                if (!p)
                    return NULL;
                p = json_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            p = json_value(p, depth + 1);
            if (!p)
                return NULL;
            p = json_ws(p);
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    }
    if (*p == '"')
        return json_string(p);
    if (strncmp(p, "true", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    if (strncmp(p, "null", 4) == 0)
        return p + 4;
    return json_number(p);
}

static int json_valid(const char *text)
{
    const char *end = json_value(text, 0);
    return end && *json_ws(end) == '\0';
}

static int gnuplot_installed(void)
{
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

static int png_ok(const char *dir, const char *file)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    char path[4200];
    unsigned char head[8];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return n == sizeof head && memcmp(head, sig, sizeof sig) == 0;
}

/* ---------------------------------------------------------------- tests: the folder */

static void test_json_checker_rejects_invalid(void **state)
{
    (void)state;
    /* The checker the summary tests rely on must itself be able to say no. */
    assert_true(json_valid("{\"a\": [1, 2.5e-3, null, \"x\\n\"], \"b\": {}}"));
    assert_false(json_valid("{\"a\": nan}"));
    assert_false(json_valid("{\"a\": 1,}"));
    assert_false(json_valid("{\"a\": \"x\ny\"}"));
    assert_false(json_valid("{\"a\": \"\\x\"}"));
    assert_false(json_valid("{\"a\": [1, 2}"));
    assert_false(json_valid("{\"a\": 1} x"));
}

static void test_create_explicit_name(void **state)
{
    (void)state;
    pt_config cfg;
    pt_err err = {""};
    pt_results *r = NULL;
    make_cfg(&cfg, "explicit", "first");
    assert_int_equal(pt_results_create(&r, &cfg, &err), 0);
    assert_non_null(r);
    assert_string_equal(pt_results_name(r), "first");
    char want[2048];
    snprintf(want, sizeof want, "%s/explicit/first", root);
    assert_string_equal(pt_results_dir(r), want);

    char *ini = slurp_in(want, "config.ini");
    assert_non_null(ini);
    assert_non_null(strstr(ini, "[train]"));
    assert_non_null(strstr(ini, "first"));
    free(ini);

    char *csv = slurp_in(want, "metrics.csv");
    assert_non_null(csv);
    assert_string_equal(csv, "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,"
                             "lr,seconds,samples_per_sec\n");
    free(csv);

    char *json = slurp_in(want, "summary.json");
    assert_non_null(json);
    assert_true(json_valid(json));
    assert_non_null(strstr(json, "\n  \"status\": \"running\",\n"));
    assert_non_null(strstr(json, "\"name\": \"first\""));
    assert_non_null(strstr(json, "\"epochs_done\": 0"));
    assert_non_null(strstr(json, "\"final\": null"));     /* nothing measured yet */
    free(json);

    assert_int_equal(temp_files_in(want), 0);
    pt_results_close(r);
    pt_results_close(NULL);
}

static void test_taken_name_gets_suffix(void **state)
{
    (void)state;
    pt_config cfg;
    pt_err err = {""};
    pt_results *r[3] = {NULL, NULL, NULL};
    make_cfg(&cfg, "dup", "same");
    for (int i = 0; i < 3; i++)
        assert_int_equal(pt_results_create(&r[i], &cfg, &err), 0);
    assert_string_equal(pt_results_name(r[0]), "same");
    assert_string_equal(pt_results_name(r[1]), "same-2");
    assert_string_equal(pt_results_name(r[2]), "same-3");
    /* The caller's config is not changed; the written one names the real folder. */
    assert_string_equal(cfg.run.name, "same");
    char *ini = slurp_in(pt_results_dir(r[1]), "config.ini");
    assert_non_null(ini);
    assert_non_null(strstr(ini, "same-2"));
    free(ini);
    for (int i = 0; i < 3; i++)
        pt_results_close(r[i]);
}

static void expect_auto_name(const char *source, const char *pattern)
{
    pt_config cfg;
    pt_err err = {""};
    pt_results *r = NULL;
    make_cfg(&cfg, "auto", "");
    snprintf(cfg.source, sizeof cfg.source, "%s", source);
    assert_int_equal(pt_results_create(&r, &cfg, &err), 0);
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int match = regexec(&re, pt_results_name(r), 0, NULL, 0);
    if (match != 0)
        print_error("name '%s' does not match %s\n", pt_results_name(r), pattern);
    assert_int_equal(match, 0);
    regfree(&re);
    pt_results_close(r);
}

static void test_auto_name(void **state)
{
    (void)state;
    expect_auto_name("configs/tanh.ini", "^tanh-[0-9]{8}-[0-9]{6}(-[0-9]+)?$");
    expect_auto_name("", "^run-[0-9]{8}-[0-9]{6}(-[0-9]+)?$");
    /* Characters that would make an awkward folder name are replaced. */
    expect_auto_name("/x/my conf$.v2.ini", "^my_conf_\\.v2-[0-9]{8}-[0-9]{6}(-[0-9]+)?$");
    expect_auto_name("/x/.ini", "^run-[0-9]{8}-[0-9]{6}(-[0-9]+)?$");
}

static void test_results_dir_created_with_parents(void **state)
{
    (void)state;
    pt_config cfg;
    pt_err err = {""};
    pt_results *r = NULL;
    make_cfg(&cfg, "deep/er/est//", "n");
    assert_int_equal(pt_results_create(&r, &cfg, &err), 0);
    char want[2048];
    snprintf(want, sizeof want, "%s/deep/er/est/n", root);
    assert_string_equal(pt_results_dir(r), want);
    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    pt_results_close(r);
}

static void test_invalid_run_names(void **state)
{
    (void)state;
    static const struct { const char *name, *says; } bad[] = {
        {"a/b", "'/'"}, {".", "not a usable"}, {"..", "not a usable"},
        {"tab\there", "0x09"}, {"del\x7f", "0x7f"}, {"caf\xc3\xa9", "0xc3"},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(bad); i++) {
        pt_config cfg;
        pt_err err = {""};
        pt_results *r = (pt_results *)&cfg;  /* must be reset to NULL on failure */
        make_cfg(&cfg, "invalid", bad[i].name);
        assert_int_equal(pt_results_create(&r, &cfg, &err), -1);
        assert_null(r);
        if (!strstr(err.msg, bad[i].says))
            print_error("name %zu: message '%s' lacks '%s'\n", i, err.msg, bad[i].says);
        assert_non_null(strstr(err.msg, bad[i].says));
    }
    /* Rejected before anything was created. */
    char dir[2048];
    path_in(dir, sizeof dir, "invalid");
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0);
}

static void test_unwritable_results_dir(void **state)
{
    (void)state;
    char file[2048];
    path_in(file, sizeof file, "plainfile");
    spit(file, "not a folder\n");
    pt_config cfg;
    pt_err err = {""};
    pt_results *r = NULL;
    make_cfg(&cfg, "plainfile/sub", "x");
    assert_int_equal(pt_results_create(&r, &cfg, &err), -1);
    assert_null(r);
    assert_non_null(strstr(err.msg, "plainfile"));
    assert_non_null(strstr(err.msg, "is not a folder"));

    cfg.run.results_dir[0] = '\0';
    assert_int_equal(pt_results_create(&r, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "results_dir is empty"));
}

/* ---------------------------------------------------------------- tests: files */

static void test_metrics_rows_flushed(void **state)
{
    (void)state;
    pt_config cfg;
    pt_err err = {""};
    pt_results *r = NULL;
    make_cfg(&cfg, "rows", "r");
    assert_int_equal(pt_results_create(&r, &cfg, &err), 0);
    pt_epoch_metrics m1 = metrics_row(1, NAN);
    m1.train_loss = 0.123456789012;
    pt_epoch_metrics m2 = metrics_row(2, -NAN);   /* a negative NaN must not become "-nan" */
    assert_int_equal(pt_results_append(r, &m1, &err), 0);
    assert_int_equal(pt_results_append(r, &m2, &err), 0);

    /* Read while still open: rows must already be on disk. */
    char *csv = slurp_in(pt_results_dir(r), "metrics.csv");
    assert_non_null(csv);
    const char *want =
        "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds,samples_per_sec\n"
        "1,0.123456789,0.85,nan,nan,1.1,0.83,0.1,2.5,24000\n"
        "2,0.5,0.9,nan,nan,0.55,0.88,0.1,2.5,24000\n";
    assert_string_equal(csv, want);
    free(csv);
    pt_results_close(r);
}

static void test_summary_complete(void **state)
{
    (void)state;
    pt_config cfg;
    pt_err err = {""};
    pt_results *r = NULL;
    make_cfg(&cfg, "summary", "s");
    assert_int_equal(pt_results_create(&r, &cfg, &err), 0);

    static const long confusion[9] = {5, 1, 0, 0, 7, 2, 3, 0, 9};
    pt_summary s;
    memset(&s, 0, sizeof s);
    s.status = PT_STATUS_COMPLETE;
    snprintf(s.message, sizeof s.message, "say \"hi\" \\ back\nslash\t\x01 caf\xc3\xa9 \xff end");
    s.epochs_done = 2;
    s.final = metrics_row(2, NAN);
    s.final.test_acc = INFINITY;
    s.best = metrics_row(1, 0.5);
    s.n_classes = 3;
    s.confusion = confusion;
    s.threads = 4;
    s.placement_json = "[{\"thread\": 0, \"pu\": 2}]";
    s.train_seconds = 12.5;
    s.total_seconds = NAN;
    s.n_train = 50000;
    s.n_val = 10000;
    s.n_test = 10000;
    s.n_params = 11935;
    s.crc_train_images = 0xdeadbeefu;
    s.crc_test_labels = 10;
    s.peak_rss_kb = 54321;
    assert_int_equal(pt_results_summary(r, &s, &err), 0);

    char *json = slurp_in(pt_results_dir(r), "summary.json");
    assert_non_null(json);
    if (!json_valid(json))
        print_error("invalid JSON:\n%s\n", json);
    assert_true(json_valid(json));
    /* One key per line, so `grep '"status"'` finds it. */
    assert_non_null(strstr(json, "\n  \"status\": \"complete\",\n"));
    assert_null(strstr(json, "running"));
    assert_non_null(strstr(json, "\"message\": \"say \\\"hi\\\" \\\\ back\\nslash\\t\\u0001 "
                                 "caf\xc3\xa9 \\ufffd end\""));
    assert_non_null(strstr(json, "\"val_loss\": null"));
    assert_non_null(strstr(json, "\"test_acc\": null"));    /* infinity is not JSON either */
    assert_non_null(strstr(json, "\"total_seconds\": null"));
    assert_non_null(strstr(json, "\"train_seconds\": 12.5"));
    assert_non_null(strstr(json, "\"val_acc\": 0.5"));       /* best epoch's value */
    assert_non_null(strstr(json, "[5, 1, 0],\n    [0, 7, 2],\n    [3, 0, 9]"));
    assert_non_null(strstr(json, "\"placement\": [{\"thread\": 0, \"pu\": 2}]"));
    assert_non_null(strstr(json, "\"train_images\": \"deadbeef\""));
    assert_non_null(strstr(json, "\"test_labels\": \"0000000a\""));
    assert_non_null(strstr(json, "\"peak_rss_kb\": 54321"));
    assert_non_null(strstr(json, "\"n_params\": 11935"));
    assert_non_null(strstr(json, "\"threads\": 4"));
    char want[128];
    snprintf(want, sizeof want, "\"zlib\": \"%s\"", zlibVersion());
    assert_non_null(strstr(json, want));
    unsigned hv = hwloc_get_api_version();
    snprintf(want, sizeof want, "\"hwloc\": \"%u.%u.%u\"", hv >> 16, (hv >> 8) & 0xff, hv & 0xff);
    assert_non_null(strstr(json, want));
    assert_non_null(strstr(json, "\"ptrain\": \"" PT_VERSION "\""));
    free(json);
    assert_int_equal(temp_files_in(pt_results_dir(r)), 0);

    /* Without a confusion matrix, placement or memory figure the fields are
     * null; placement text cut short by a caller's buffer must not make the
     * file invalid. */
    static const char *const placements[] = {NULL, "", "[{\"thread\": 0, \"pu\"",
                                             "[{\"thread\": \"]\"}", "[1]]", "[1] x"};
    for (size_t i = 0; i < PT_ARRAY_LEN(placements); i++) {
        s.status = PT_STATUS_FAILED;
        s.confusion = NULL;
        s.placement_json = placements[i];
        s.peak_rss_kb = 0;
        assert_int_equal(pt_results_summary(r, &s, &err), 0);
        json = slurp_in(pt_results_dir(r), "summary.json");
        assert_non_null(json);
        if (!json_valid(json))
            print_error("placement %zu: invalid JSON:\n%s\n", i, json);
        assert_true(json_valid(json));
        assert_non_null(strstr(json, "\"status\": \"failed\""));
        assert_non_null(strstr(json, "\"confusion\": null"));
        assert_non_null(strstr(json, "\"placement\": null"));
        assert_non_null(strstr(json, "\"peak_rss_kb\": null"));
        free(json);
    }
    pt_results_close(r);
}

static void test_summary_rejects_bad_input(void **state)
{
    (void)state;
    pt_config cfg;
    pt_err err = {""};
    pt_results *r = NULL;
    make_cfg(&cfg, "badsummary", "b");
    assert_int_equal(pt_results_create(&r, &cfg, &err), 0);
    pt_summary s;
    memset(&s, 0, sizeof s);
    s.status = PT_STATUS_COMPLETE;
    s.n_classes = PT_MAX_CLASSES + 1;
    assert_int_equal(pt_results_summary(r, &s, &err), -1);
    assert_non_null(strstr(err.msg, "n_classes"));
    s.n_classes = 10;
    s.status = (pt_run_status)7;
    assert_int_equal(pt_results_summary(r, &s, &err), -1);
    assert_non_null(strstr(err.msg, "status"));
    /* The previous summary is still the one on disk. */
    char *json = slurp_in(pt_results_dir(r), "summary.json");
    assert_non_null(json);
    assert_non_null(strstr(json, "\"status\": \"running\""));
    free(json);
    pt_results_close(r);
}

static void test_atomic_commit_and_abort(void **state)
{
    (void)state;
    char dir[2048], path[2100], tmp[2200];
    pt_err err = {""};
    path_in(dir, sizeof dir, "atomic");
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(path, sizeof path, "%s/file.txt", dir);

    FILE *f = pt_atomic_open(path, tmp, sizeof tmp, &err);
    assert_non_null(f);
    assert_non_null(strstr(tmp, "file.txt.tmp"));
    fputs("version 1\n", f);
    assert_false(exists_in(dir, "file.txt"));            /* nothing under the final name yet */
    assert_int_equal(pt_atomic_commit(f, tmp, path, &err), 0);
    char *text = slurp(path);
    assert_non_null(text);
    assert_string_equal(text, "version 1\n");
    free(text);
    assert_int_equal(temp_files_in(dir), 0);

    f = pt_atomic_open(path, tmp, sizeof tmp, &err);
    assert_non_null(f);
    fputs("version 2, half writ", f);
    fflush(f);
    assert_int_equal(temp_files_in(dir), 1);
    pt_atomic_abort(f, tmp);
    text = slurp(path);
    assert_non_null(text);
    assert_string_equal(text, "version 1\n");
    free(text);
    assert_int_equal(temp_files_in(dir), 0);

    /* Errors: no such folder; a temp name that does not fit the buffer. */
    char missing[2200];
    snprintf(missing, sizeof missing, "%s/no/such/file", dir);
    assert_null(pt_atomic_open(missing, tmp, sizeof tmp, &err));
    assert_non_null(strstr(err.msg, "No such file"));
    char small[8];
    assert_null(pt_atomic_open(path, small, sizeof small, &err));
    assert_non_null(strstr(err.msg, "too long"));
}

/* ---------------------------------------------------------------- tests: plots */

static pt_results *run_with_rows(const char *sub, int epochs, double val)
{
    pt_config cfg;
    pt_err err = {""};
    pt_results *r = NULL;
    make_cfg(&cfg, sub, "plotted");
    assert_int_equal(pt_results_create(&r, &cfg, &err), 0);
    for (int e = 1; e <= epochs; e++) {
        pt_epoch_metrics m = metrics_row(e, val);
        assert_int_equal(pt_results_append(r, &m, &err), 0);
    }
    return r;
}

static void test_plot_draws_pngs(void **state)
{
    (void)state;
    if (!gnuplot_installed()) {
        print_message("gnuplot is not installed: skipping the drawing check\n");
        skip();
    }
    pt_err err = {""};
    pt_results *r = run_with_rows("plot", 12, NAN);   /* no validation split */
    const char *dir = pt_results_dir(r);
    int rc = pt_results_plot(dir, &err);
    if (rc != 0)
        print_error("pt_results_plot: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_true(png_ok(dir, "loss.png"));
    assert_true(png_ok(dir, "accuracy.png"));
    assert_int_equal(temp_files_in(dir), 0);
    char *gp = slurp_in(dir, "plot.gp");
    assert_non_null(gp);
    assert_non_null(strstr(gp, "set datafile separator ','"));
    assert_non_null(strstr(gp, "skip 1"));
    assert_non_null(strstr(gp, "title 'test'"));
    assert_null(strstr(gp, "title 'validation'"));        /* all-NaN columns are left out */
    free(gp);
    pt_results_close(r);

    /* With a validation split the curve is drawn; the folder may end in '/'. */
    r = run_with_rows("plotval", 3, 0.4);
    char slashed[2100];
    snprintf(slashed, sizeof slashed, "%s/", pt_results_dir(r));
    assert_int_equal(pt_results_plot(slashed, &err), 0);
    gp = slurp_in(pt_results_dir(r), "plot.gp");
    assert_non_null(gp);
    assert_non_null(strstr(gp, "title 'validation'"));
    free(gp);
    assert_true(png_ok(pt_results_dir(r), "accuracy.png"));
    pt_results_close(r);

    /* A diverged run (no finite value at all) still gets pictures. */
    r = run_with_rows("plotnan", 2, NAN);
    pt_results_close(r);
    char dir2[2048], csv[2100];
    path_in(dir2, sizeof dir2, "plotnan/plotted");
    snprintf(csv, sizeof csv, "%s/metrics.csv", dir2);
    spit(csv, "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds,"
              "samples_per_sec\n1,nan,nan,nan,nan,nan,nan,0.1,1,1\n");
    rc = pt_results_plot(dir2, &err);
    if (rc != 0)
        print_error("pt_results_plot: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_true(png_ok(dir2, "loss.png"));
}

/* Runs pt_results_plot with PATH set to bin only. */
static int plot_with_path(const char *bin, const char *dir, pt_err *err)
{
    char *saved = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    assert_non_null(saved);
    setenv("PATH", bin, 1);
    int rc = pt_results_plot(dir, err);
    setenv("PATH", saved, 1);
    free(saved);
    return rc;
}

static void test_plot_without_gnuplot(void **state)
{
    (void)state;
    char bin[2048];
    pt_err err = {""};
    path_in(bin, sizeof bin, "emptybin");
    assert_int_equal(mkdir(bin, 0777), 0);
    pt_results *r = run_with_rows("nognuplot", 2, NAN);
    assert_int_equal(plot_with_path(bin, pt_results_dir(r), &err), 1);
    assert_false(exists_in(pt_results_dir(r), "loss.png"));
    assert_false(exists_in(pt_results_dir(r), "plot.gp"));
    pt_results_close(r);
}

static void test_plot_gnuplot_fails(void **state)
{
    (void)state;
    /* A stand-in gnuplot that fails like the real one: its stderr tail must
     * reach the message, and no picture or temporary may remain. */
    char bin[2048], exe[2100];
    pt_err err = {""};
    path_in(bin, sizeof bin, "fakebin");
    assert_int_equal(mkdir(bin, 0777), 0);
    snprintf(exe, sizeof exe, "%s/gnuplot", bin);
    spit(exe, "#!/bin/sh\necho 'drawing...'\necho 'loss.png.tmp' > loss.png.tmp\n"
              "echo '\"plot.gp\" line 9: boom happened' >&2\nexit 1\n");
    assert_int_equal(chmod(exe, 0755), 0);
    pt_results *r = run_with_rows("fakeplot", 2, NAN);
    assert_int_equal(plot_with_path(bin, pt_results_dir(r), &err), -1);
    assert_non_null(strstr(err.msg, "exit 1"));
    assert_non_null(strstr(err.msg, "boom happened"));
    assert_false(exists_in(pt_results_dir(r), "loss.png"));
    assert_int_equal(temp_files_in(pt_results_dir(r)), 0);
    assert_true(exists_in(pt_results_dir(r), "plot.gp"));

    /* A gnuplot that exits 0 without drawing is caught too. */
    spit(exe, "#!/bin/sh\nexit 0\n");
    assert_int_equal(plot_with_path(bin, pt_results_dir(r), &err), -1);
    assert_non_null(strstr(err.msg, "did not draw"));
    pt_results_close(r);
}

static void test_plot_bad_folder(void **state)
{
    (void)state;
    if (!gnuplot_installed()) {
        print_message("gnuplot is not installed: pt_results_plot returns 1 before reading\n");
        skip();
    }
    pt_err err = {""};
    char dir[2048], csv[2100];
    path_in(dir, sizeof dir, "nometrics");
    assert_int_equal(mkdir(dir, 0777), 0);
    assert_int_equal(pt_results_plot(dir, &err), -1);
    assert_non_null(strstr(err.msg, "metrics.csv"));

    snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
    spit(csv, "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds,"
              "samples_per_sec\n");
    assert_int_equal(pt_results_plot(dir, &err), -1);
    assert_non_null(strstr(err.msg, "no epochs"));

    spit(csv, "name,value\nx,1\n");
    assert_int_equal(pt_results_plot(dir, &err), -1);
    assert_non_null(strstr(err.msg, "epoch"));
    assert_false(exists_in(dir, "loss.png"));
}

/* ---------------------------------------------------------------- fixture */

static int group_setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/pt-results-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (getenv("PT_KEEP_TEST_OUTPUT")) {         /* to look at the pictures */
        print_message("test output kept in %s\n", root);
        return 0;
    }
    pt_err err;
    return pt_exp_remove_tree(root, &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_checker_rejects_invalid),
        cmocka_unit_test(test_create_explicit_name),
        cmocka_unit_test(test_taken_name_gets_suffix),
        cmocka_unit_test(test_auto_name),
        cmocka_unit_test(test_results_dir_created_with_parents),
        cmocka_unit_test(test_invalid_run_names),
        cmocka_unit_test(test_unwritable_results_dir),
        cmocka_unit_test(test_metrics_rows_flushed),
        cmocka_unit_test(test_summary_complete),
        cmocka_unit_test(test_summary_rejects_bad_input),
        cmocka_unit_test(test_atomic_commit_and_abort),
        cmocka_unit_test(test_plot_draws_pngs),
        cmocka_unit_test(test_plot_without_gnuplot),
        cmocka_unit_test(test_plot_gnuplot_fails),
        cmocka_unit_test(test_plot_bad_folder),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
