/* plot.c: pictures of a run folder, derived from its metrics.csv by gnuplot.
 * Writes plot.gp (a standalone script: `gnuplot plot.gp` inside the folder
 * redraws everything) and runs it with its output captured. Each picture is
 * one figure function in the table below; gnuplot being absent is not an error. */
#include "pt_results.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PT_PLOT_DIR_MAX (PT_PATH_MAX + PT_NAME_MAX + 1)   /* results_dir/name */
#define PT_PLOT_PATH_MAX (PT_PLOT_DIR_MAX + 64)           /* a file inside it */
#define PT_CSV_MAX_COLS 32
#define PT_GNUPLOT_TAIL 600          /* bytes of gnuplot's output kept for the error message */

/* What the figures need to know about metrics.csv: which columns exist and
 * which hold at least one finite value (no validation split leaves val_* all
 * "nan", and gnuplot refuses a plot whose every point is undefined). */
typedef struct pt_plot_ctx {
    char title[PT_NAME_MAX + 64];    /* run name, already quoted for a gnuplot '...' string */
    int rows;
    int n_cols;
    char col_name[PT_CSV_MAX_COLS][32];
    int finite[PT_CSV_MAX_COLS];
} pt_plot_ctx;

/* 1-based gnuplot column of name, or 0 when metrics.csv has no such column. */
static int pt_col(const pt_plot_ctx *c, const char *name)
{
    for (int i = 0; i < c->n_cols; i++)
        if (strcmp(c->col_name[i], name) == 0)
            return i + 1;
    return 0;
}

static int pt_has_values(const pt_plot_ctx *c, const char *name)
{
    int col = pt_col(c, name);
    return col > 0 && c->finite[col - 1];
}

static void pt_chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

static int pt_scan_metrics(const char *dir, pt_plot_ctx *c, pt_err *err)
{
    char path[PT_PLOT_PATH_MAX];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return pt_fail(err, "cannot plot '%s': cannot open '%s': %s", dir, path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    if (getline(&line, &cap, f) < 0) {
        rc = pt_fail(err, "cannot plot: '%s' is empty (no header)", path);
        goto out;
    }
    pt_chomp(line);
    c->n_cols = 0;
    for (char *save = NULL, *tok = strtok_r(line, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (c->n_cols == PT_CSV_MAX_COLS) {
            rc = pt_fail(err, "cannot plot: '%s' has more than %d columns", path, PT_CSV_MAX_COLS);
            goto out;
        }
        snprintf(c->col_name[c->n_cols++], sizeof c->col_name[0], "%s", tok);
    }
    if (pt_col(c, "epoch") != 1) {
        rc = pt_fail(err, "cannot plot: '%s' does not start with the metrics.csv header "
                     "(first column must be epoch)", path);
        goto out;
    }
    while (getline(&line, &cap, f) >= 0) {
        pt_chomp(line);
        if (line[0] == '\0')
            continue;
        c->rows++;
        /* Fields are split by hand: strtok would merge the empty fields a
         * foreign CSV might have and shift every later column. */
        char *p = line;
        for (int i = 0; i < c->n_cols && p; i++) {
            char *end;
            double v = strtod(p, &end);
            if (end != p && isfinite(v))
                c->finite[i] = 1;
            p = strchr(p, ',');
            if (p)
                p++;
        }
    }
    if (ferror(f))
        rc = pt_fail(err, "cannot read '%s': %s", path, strerror(errno));
    else if (c->rows == 0)
        rc = pt_fail(err, "cannot plot '%s': metrics.csv has no epochs yet", dir);
out:
    free(line);
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- figures */

/* Settings every line chart shares; emitted after `reset` in each figure so
 * a figure never inherits another's axes or labels. */
static void pt_line_chart_style(FILE *f, const pt_plot_ctx *c)
{
    fputs("set grid lc rgb '#d0d0d0'\n"
          "set border lc rgb '#404040'\n"
          /* Under the axes, below the epoch label: the key can never cover a curve. */
          "set key bmargin center horizontal samplen 2.5 width 2\nset bmargin 5.5\n"
          "set title font ',13'\n"
          "set xlabel 'epoch'\n"
          /* x ends at the first and last epoch (offsets pad), not at a round tic. */
          "set autoscale xfix\n"
          "set style line 1 lc rgb '#1f77b4' lw 2 pt 7 ps 0.8\n"
          "set style line 2 lc rgb '#ff7f0e' lw 2 pt 5 ps 0.8\n"
          "set style line 3 lc rgb '#2ca02c' lw 2 pt 9 ps 0.9\n"
          "set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05\n",
          f);
    /* Whole epochs only: autoscaled tics would show 1.5 for short runs. */
    if (c->rows <= 20)
        fputs("set xtics 1\n", f);
    else
        fputs("set xtics\nset mxtics\n", f);
}

typedef struct pt_curve {
    const char *column;
    const char *title;
} pt_curve;

/* Draw the curves that have values; scale turns fractions into percent. */
static void pt_plot_curves(FILE *f, const pt_plot_ctx *c, const pt_curve *curves, int n, double scale)
{
    /* Markers on every point hide the line for long runs; keep about 25. */
    int pi = c->rows > 25 ? (c->rows + 24) / 25 : 1;
    int drawn = 0;
    for (int i = 0; i < n; i++) {
        if (!pt_has_values(c, curves[i].column))
            continue;
        int col = pt_col(c, curves[i].column);
        fputs(drawn ? ", \\\n     " : "plot ", f);
        if (scale == 1.0)
            fprintf(f, "'metrics.csv' skip 1 using 1:%d", col);
        else
            fprintf(f, "'metrics.csv' skip 1 using 1:($%d*%g)", col, scale);
        fprintf(f, " with linespoints ls %d pi %d title '%s'", i + 1, pi, curves[i].title);
        drawn++;
    }
    if (!drawn)
        /* A diverged run can have no finite value at all: say so in the
         * picture instead of failing (gnuplot rejects an all-undefined plot). */
        fputs("set label 1 'no finite values in metrics.csv' at graph 0.5, 0.5 center\n"
              "set xrange [0:1]\nset yrange [0:1]\nplot NaN notitle", f);
    fputc('\n', f);
}

static void pt_fig_loss(FILE *f, const pt_plot_ctx *c)
{
    static const pt_curve curves[] = {
        {"train_loss", "train"}, {"val_loss", "validation"}, {"test_loss", "test"}};
    pt_line_chart_style(f, c);
    fprintf(f, "set title '%s: loss per epoch'\n", c->title);
    fputs("set ylabel 'loss (mean over the split)'\n", f);
    pt_plot_curves(f, c, curves, (int)PT_ARRAY_LEN(curves), 1.0);
}

static void pt_fig_accuracy(FILE *f, const pt_plot_ctx *c)
{
    static const pt_curve curves[] = {
        {"train_acc", "train"}, {"val_acc", "validation"}, {"test_acc", "test"}};
    pt_line_chart_style(f, c);
    fprintf(f, "set title '%s: accuracy per epoch'\n", c->title);
    fputs("set ylabel 'accuracy (%)'\nset format y '%g%%'\n", f);
    pt_plot_curves(f, c, curves, (int)PT_ARRAY_LEN(curves), 100.0);
}

/* Every picture plot.gp draws. A new one (confusion heatmap, misclassified
 * digits, class counts) is a function that writes its gnuplot commands from
 * the context, plus a row here; output handling and the rename are shared. */
static const struct {
    const char *file;
    void (*write)(FILE *f, const pt_plot_ctx *c);
} pt_figures[] = {
    {"loss.png", pt_fig_loss},
    {"accuracy.png", pt_fig_accuracy},
};

static void pt_write_script(FILE *f, const pt_plot_ctx *c)
{
    fputs("# plot.gp: pictures of this run drawn from metrics.csv; written by ptrain.\n"
          "# Redraw with `gnuplot plot.gp` inside this folder. Accuracies in the CSV are\n"
          "# fractions and are shown in percent; columns without any value are left out.\n"
          "# Each PNG is drawn under a temporary name and renamed when complete.\n"
          "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "    set terminal pngcairo size 900,560 noenhanced font 'Sans,11'\n"
          "} else {\n"
          "    set terminal png size 900,560 noenhanced\n"
          "}\n",
          f);
    for (size_t i = 0; i < PT_ARRAY_LEN(pt_figures); i++) {
        const char *name = pt_figures[i].file;
        fprintf(f, "\n# ---- %s\nreset\nset datafile separator ','\nset output '%s.tmp'\n", name, name);
        pt_figures[i].write(f, c);
        fprintf(f, "unset output\nsystem \"mv -f '%s.tmp' '%s'\"\n", name, name);
    }
}

/* ---------------------------------------------------------------- running gnuplot */

/* Full path of an executable called name on $PATH; 0 when found. */
static int pt_find_program(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";                  /* execvp's default */
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        /* An empty entry means the current folder, as for the shell. */
        int n = len ? snprintf(out, size, "%.*s/%s", (int)len, path, name)
                    : snprintf(out, size, "./%s", name);
        struct stat st;
        if (n > 0 && (size_t)n < size && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
            access(out, X_OK) == 0)
            return 0;
        path += len;
        if (*path == ':')
            path++;
    }
    return -1;
}

/* Run `gnuplot plot.gp` inside dir (so the script's relative names work, and
 * without chdir in this process, which other threads share), collecting
 * its stdout and stderr; only the tail is kept for a message. */
static int pt_run_gnuplot(const char *exe, const char *dir, char *tail, size_t tail_size,
                          int *status, pt_err *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return pt_fail(err, "cannot create a pipe for gnuplot: %s", strerror(errno));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return pt_fail(err, "cannot open /dev/null: %s", strerror(e));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        close(devnull);
        return pt_fail(err, "cannot start gnuplot: %s", strerror(e));
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        if (chdir(dir) != 0)
            _exit(126);
        if (dup2(devnull, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0)
            _exit(126);
        char *const argv[] = {(char *)"gnuplot", (char *)"plot.gp", NULL};
        execv(exe, argv);
        _exit(127);
    }
    close(fds[1]);
    close(devnull);

    size_t len = 0;
    char buf[4096];
    tail[0] = '\0';
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* Keep the last bytes: gnuplot reports the error that stopped it last. */
        size_t add = (size_t)n, keep = tail_size - 1;
        const char *src = buf;
        if (add > keep) {
            src += add - keep;
            add = keep;
        }
        if (len + add > keep) {
            size_t drop = len + add - keep;
            memmove(tail, tail + drop, len - drop);
            len -= drop;
        }
        memcpy(tail + len, src, add);
        len += add;
        tail[len] = '\0';
    }
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return pt_fail(err, "cannot wait for gnuplot: %s", strerror(errno));
    }
    while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == ' '))
        tail[--len] = '\0';
    return 0;
}

int pt_results_plot(const char *dir_arg, pt_err *err)
{
    char exe[PT_PLOT_PATH_MAX];
    if (pt_find_program("gnuplot", exe, sizeof exe) != 0)
        return 1;

    char dir[PT_PLOT_DIR_MAX];
    if (snprintf(dir, sizeof dir, "%s", dir_arg) >= (int)sizeof dir)
        return pt_fail(err, "run folder path '%s' is too long", dir_arg);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        dir[--n] = '\0';

    pt_plot_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return pt_fail(err, "out of memory");
    if (pt_scan_metrics(dir, c, err) != 0) {
        free(c);
        return -1;
    }
    /* Title from the folder's name; a ' inside a gnuplot '...' string is ''. */
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    size_t t = 0;
    for (const char *p = base; *p && t + 3 < sizeof c->title; p++) {
        if (*p == '\'')
            c->title[t++] = '\'';
        c->title[t++] = *p;
    }
    c->title[t] = '\0';

    char path[PT_PLOT_PATH_MAX], tmp[PT_PLOT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/plot.gp", dir);
    FILE *f = pt_atomic_open(path, tmp, sizeof tmp, err);
    if (!f) {
        free(c);
        return -1;
    }
    pt_write_script(f, c);
    free(c);
    if (pt_atomic_commit(f, tmp, path, err) != 0)
        return -1;

    char tail[PT_GNUPLOT_TAIL];
    int status = 0;
    if (pt_run_gnuplot(exe, dir, tail, sizeof tail, &status, err) != 0)
        return -1;
    int rc = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 126)
            rc = pt_fail(err, "cannot run gnuplot in '%s' (cannot enter the folder)", dir);
        else if (WIFEXITED(status))
            rc = pt_fail(err, "gnuplot failed (exit %d) on '%s': %s", WEXITSTATUS(status), path,
                         tail[0] ? tail : "(no output)");
        else
            rc = pt_fail(err, "gnuplot was killed by signal %d on '%s'", WTERMSIG(status), path);
    }
    /* gnuplot stops at the first error, possibly before a rename: check every
     * picture and leave no half-drawn temporary behind. */
    for (size_t i = 0; i < PT_ARRAY_LEN(pt_figures); i++) {
        char png[PT_PLOT_PATH_MAX + 8];
        snprintf(png, sizeof png, "%s/%s.tmp", dir, pt_figures[i].file);
        unlink(png);
        png[strlen(png) - 4] = '\0';
        struct stat st;
        if (rc == 0 && (stat(png, &st) != 0 || st.st_size == 0))
            rc = pt_fail(err, "gnuplot ran but did not draw '%s': %s", png,
                         tail[0] ? tail : "(no output)");
    }
    return rc;
}
