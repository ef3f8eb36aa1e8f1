/* plot.c: pictures of a run folder, derived from its metrics.csv and the
 * test-set data files (confusion.csv, mistakes.csv/.pgm, class_counts.csv) by
 * gnuplot, and the pictures of compare and sweep folders. Writes plot.gp (a
 * standalone script: `gnuplot plot.gp` inside the folder redraws everything)
 * and runs it with its output captured. Each picture is one figure function
 * in the table below; gnuplot being absent is not an error. */
#include "pt_results.h"
#include "pt_experiments.h"

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
    /* The data files written at the end of a run; a figure whose file is
     * absent (an older run, a run that failed early) is left out. */
    int conf_k;                      /* classes in confusion.csv; 0 when absent */
    long conf_total, conf_diag, conf_max;
    int n_mistakes;                  /* rows of mistakes.csv; -1 when absent */
    long pgm_header;                 /* bytes before the pixels of mistakes.pgm */
    int tile_rows, tile_cols;        /* one image of mistakes.pgm */
    int counts_k;                    /* rows of class_counts.csv; 0 when absent */
    long counts_train, counts_val, counts_test, counts_max;
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

/* Reads dir/file line by line; *f is NULL (and 0 returned) when it does not exist. */
static int pt_open_data(const char *dir, const char *file, FILE **f, char *path, size_t size,
                        pt_err *err)
{
    snprintf(path, size, "%s/%s", dir, file);
    *f = fopen(path, "re");
    if (!*f && errno != ENOENT)
        return pt_fail(err, "cannot open '%s': %s", path, strerror(errno));
    return 0;
}

/* confusion.csv: a header of class labels, then one row per true class. */
static int pt_scan_confusion(const char *dir, pt_plot_ctx *c, pt_err *err)
{
    char path[PT_PLOT_PATH_MAX];
    FILE *f;
    if (pt_open_data(dir, "confusion.csv", &f, path, sizeof path, err))
        return -1;
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int rc = 0, k = 0, row = 0;
    if (getline(&line, &cap, f) < 0) {
        rc = pt_fail(err, "cannot plot: '%s' is empty", path);
        goto out;
    }
    for (char *p = line; (p = strchr(p, ',')); p++)
        k++;
    if (k < 1 || k > PT_MAX_CLASSES) {
        rc = pt_fail(err, "cannot plot: '%s' has %d classes in its header", path, k);
        goto out;
    }
    while (getline(&line, &cap, f) >= 0) {
        char *p = line, *end;
        strtol(p, &end, 10);                     /* the true-class label */
        for (int col = 0; col < k; col++) {
            if (*end != ',') {
                rc = pt_fail(err, "cannot plot: '%s' row %d has fewer than %d counts", path, row + 1, k);
                goto out;
            }
            p = end + 1;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0) {
                rc = pt_fail(err, "cannot plot: '%s' row %d: expected counts", path, row + 1);
                goto out;
            }
            c->conf_total += v;
            if (col == row)
                c->conf_diag += v;
            if (v > c->conf_max)
                c->conf_max = v;
        }
        row++;
    }
    if (row != k)
        rc = pt_fail(err, "cannot plot: '%s' has %d rows for %d classes", path, row, k);
    else
        c->conf_k = k;
out:
    free(line);
    fclose(f);
    return rc;
}

/* mistakes.csv rows, and the geometry of mistakes.pgm (images stacked top to bottom). */
static int pt_scan_mistakes(const char *dir, pt_plot_ctx *c, pt_err *err)
{
    char path[PT_PLOT_PATH_MAX];
    FILE *f;
    c->n_mistakes = -1;
    if (pt_open_data(dir, "mistakes.csv", &f, path, sizeof path, err))
        return -1;
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = -1;                                  /* the header is not a mistake */
    while (getline(&line, &cap, f) >= 0)
        if (line[0] != '\n')
            n++;
    free(line);
    fclose(f);
    if (n < 0)
        return pt_fail(err, "cannot plot: '%s' is empty", path);
    if (n == 0) {
        c->n_mistakes = 0;
        return 0;
    }
    if (pt_open_data(dir, "mistakes.pgm", &f, path, sizeof path, err))
        return -1;
    if (!f)
        return pt_fail(err, "cannot plot: '%s' is missing (mistakes.csv lists %d images)", path, n);
    int w = 0, h = 0, maxval = 0, len = 0;
    int got = fscanf(f, "P5 %d %d %d%n", &w, &h, &maxval, &len);
    fclose(f);
    if (got != 3 || w < 1 || h < n || h % n != 0 || maxval != 255)
        return pt_fail(err, "cannot plot: '%s' is not a %d-image binary PGM strip", path, n);
    c->n_mistakes = n;
    c->pgm_header = len + 1;                     /* one blank after maxval */
    c->tile_cols = w;
    c->tile_rows = h / n;
    return 0;
}

/* class_counts.csv: class,train,val,test. */
static int pt_scan_counts(const char *dir, pt_plot_ctx *c, pt_err *err)
{
    char path[PT_PLOT_PATH_MAX];
    FILE *f;
    if (pt_open_data(dir, "class_counts.csv", &f, path, sizeof path, err))
        return -1;
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int k = 0, rc = 0;
    if (getline(&line, &cap, f) < 0)
        rc = pt_fail(err, "cannot plot: '%s' is empty", path);
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        int cls;
        long tr, va, te;
        if (sscanf(line, "%d,%ld,%ld,%ld", &cls, &tr, &va, &te) != 4) {
            rc = pt_fail(err, "cannot plot: '%s' line %d is not class,train,val,test", path, k + 2);
            break;
        }
        c->counts_train += tr;
        c->counts_val += va;
        c->counts_test += te;
        if (tr > c->counts_max)
            c->counts_max = tr;
        k++;
    }
    free(line);
    fclose(f);
    if (rc == 0)
        c->counts_k = k;
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

/* Colour of a count in the heatmap: log10(1 + count), so that the few
 * confusions off the diagonal stay visible next to the diagonal's hundreds. */
static void pt_fig_confusion(FILE *f, const pt_plot_ctx *c)
{
    int k = c->conf_k;
    double top = log10(1.0 + (double)(c->conf_max > 0 ? c->conf_max : 1));
    fprintf(f, "set title '%s: test-set confusion matrix (%ld samples, %.2f%% correct)' font ',13'\n",
            c->title, c->conf_total, c->conf_total > 0 ? 100.0 * c->conf_diag / c->conf_total : 0.0);
    fprintf(f, "set xlabel 'predicted class'\nset ylabel 'true class'\n"
               "set size ratio -1\nset xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\n"
               "set xtics 1 scale 0\nset ytics 1 scale 0\nset x2tics 1 scale 0 format ''\n"
               "set tics out nomirror\nset border 0\n"
               "set palette defined (0 '#ffffff', 1 '#deebf7', 2 '#9ecae1', 3 '#4292c6', "
               "4 '#08306b')\n"
               "set cbrange [0:%.6g]\nset cblabel 'count (colour on a log scale)'\n",
            k - 1, k - 1, top);
    /* Colour-bar tics at counts 0, 1, 10, 100, ... placed on the log scale. */
    fputs("set cbtics ('0' 0", f);
    for (long v = 1; v <= c->conf_max || v == 1; v *= 10)
        fprintf(f, ", '%ld' %.6g", v, log10(1.0 + (double)v));
    fputs(")\n", f);
    fputs("plot 'confusion.csv' matrix rowheaders columnheaders using 1:2:(log10(1+$3)) "
          "with image notitle", f);
    /* Counts in the cells while they stay legible; white on dark cells. */
    if (k <= 20)
        fprintf(f, ", \\\n     '' matrix rowheaders columnheaders using 1:2:($3 > 0 ? "
                   "sprintf('%%d', $3) : ''):(log10(1+$3) > %.6g ? 0xffffff : 0x202020) "
                   "with labels tc rgb variable font ',%d' notitle",
                0.6 * top, k <= 10 ? 10 : 8);
    fputc('\n', f);
}

/* A grid of 8 columns: each misclassified image with "true -> predicted" above it. */
#define PT_MISTAKE_COLS 8

static void pt_fig_mistakes(FILE *f, const pt_plot_ctx *c)
{
    int n = c->n_mistakes;
    if (n == 0) {
        fprintf(f, "set title '%s: misclassified test samples'\nunset border\nunset tics\n"
                   "set label 1 'no test sample is misclassified' at graph 0.5, 0.5 center\n"
                   "set xrange [0:1]\nset yrange [0:1]\nplot NaN notitle\n", c->title);
        return;
    }
    int cols = n < PT_MISTAKE_COLS ? n : PT_MISTAKE_COLS, grid_rows = (n + cols - 1) / cols;
    int w = c->tile_cols, h = c->tile_rows;
    int gap = w / 8 + 1, band = h / 3 + 4;      /* between tiles; room for the label above */
    double cw = w + gap, ch = h + band;
    fprintf(f, "set title '%s: first %d misclassified test samples (true -> predicted; "
               "mistakes.csv has their indices)' font ',12'\n", c->title, n);
    fprintf(f, "unset border\nunset tics\nunset colorbox\nset size ratio -1\n"
               "set palette gray negative\nset cbrange [0:255]\n"
               "set xrange [%g:%g]\nset yrange [%g:%g]\n", -gap / 2.0, cols * cw - gap / 2.0,
            -gap / 2.0, grid_rows * ch);
    /* The labels come from mistakes.csv itself: row i is tile i. */
    fprintf(f, "set datafile separator ','\n"
               "plot for [i=0:%d] 'mistakes.pgm' binary skip=%ld+i*%ld array=(%d,%d) format='%%uchar' "
               "flipy origin=((i%%%d)*%g, (%d-1-int(i/%d))*%g) with image notitle, \\\n"
               "     'mistakes.csv' skip 1 using ((int($0)%%%d)*%g+%g):((%d-1-int($0/%d))*%g+%g):"
               "(sprintf('%%d -> %%d', $2, $3)) with labels tc rgb '#c0392b' font ',10' notitle\n",
            n - 1, c->pgm_header, (long)w * h, w, h, cols, cw, grid_rows, cols, ch,
            cols, cw, w / 2.0, grid_rows, cols, ch, h + band / 2.0);
}

static void pt_fig_data(FILE *f, const pt_plot_ctx *c)
{
    int k = c->counts_k;
    fprintf(f, "set title '%s: samples per class in the training split (%ld; validation %ld, "
               "test %ld)' font ',12'\n", c->title, c->counts_train, c->counts_val, c->counts_test);
    fprintf(f, "set grid ytics lc rgb '#d0d0d0'\nset border 3 lc rgb '#404040'\nset tics nomirror\n"
               "set xlabel 'class'\nset ylabel 'training samples'\n"
               "set xrange [-0.6:%d.6]\nset yrange [0:%ld]\nset xtics 1 scale 0\n"
               "set style fill solid 0.85 noborder\nset boxwidth 0.7\n"
               "set key bmargin center horizontal\nset bmargin 5\n", k - 1,
            c->counts_max + c->counts_max / 8 + 1);
    /* The equal-share line first, so the bars and their counts sit on top of it. */
    fprintf(f, "plot %g with lines dt 2 lw 1.5 lc rgb '#606060' title 'equal share (%ld / %d)', \\\n"
               "     'class_counts.csv' skip 1 using 1:2 with boxes lc rgb '#1f77b4' title 'train', \\\n"
               "     '' skip 1 using 1:2:(sprintf('%%d', $2)) with labels offset 0,0.7 font ',9' notitle\n",
            k > 0 ? (double)c->counts_train / k : 0.0, c->counts_train, k);
}

static int pt_has_confusion(const pt_plot_ctx *c) { return c->conf_k > 0; }
static int pt_has_mistakes(const pt_plot_ctx *c) { return c->n_mistakes >= 0; }
static int pt_has_counts(const pt_plot_ctx *c) { return c->counts_k > 0; }

/* Every picture plot.gp draws: a function that writes its gnuplot commands
 * from the context, the picture's size, and whether its data is there (NULL:
 * always); output handling and the rename are shared. */
static const struct {
    const char *file;
    void (*write)(FILE *f, const pt_plot_ctx *c);
    int width, height;
    int (*available)(const pt_plot_ctx *c);
} pt_figures[] = {
    {"loss.png", pt_fig_loss, 900, 560, NULL},
    {"accuracy.png", pt_fig_accuracy, 900, 560, NULL},
    {"confusion.png", pt_fig_confusion, 760, 700, pt_has_confusion},
    {"mistakes.png", pt_fig_mistakes, 900, 780, pt_has_mistakes},
    {"data.png", pt_fig_data, 900, 560, pt_has_counts},
};

static int pt_figure_drawn(size_t i, const pt_plot_ctx *c)
{
    return !pt_figures[i].available || pt_figures[i].available(c);
}

/* The PNG terminal at a size: pngcairo (anti-aliased) when gnuplot has it. */
static void pt_terminal(FILE *f, int width, int height)
{
    fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
               "    set terminal pngcairo size %d,%d noenhanced font 'Sans,11'\n"
               "} else {\n"
               "    set terminal png size %d,%d noenhanced\n"
               "}\n", width, height, width, height);
}

static void pt_write_script(FILE *f, const pt_plot_ctx *c)
{
    fputs("# plot.gp: pictures of this run drawn from metrics.csv, confusion.csv,\n"
          "# mistakes.csv/.pgm and class_counts.csv; written by ptrain.\n"
          "# Redraw with `gnuplot plot.gp` inside this folder. Accuracies in the CSV are\n"
          "# fractions and are shown in percent; columns without any value are left out.\n"
          "# Each PNG is drawn under a temporary name and renamed when complete.\n",
          f);
    for (size_t i = 0; i < PT_ARRAY_LEN(pt_figures); i++) {
        const char *name = pt_figures[i].file;
        if (!pt_figure_drawn(i, c))
            continue;
        fprintf(f, "\n# ---- %s\nreset\n", name);
        pt_terminal(f, pt_figures[i].width, pt_figures[i].height);
        fprintf(f, "set datafile separator ','\nset output '%s.tmp'\n", name);
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
static int pt_run_gnuplot(const char *exe, const char *dir, const char *script, char *tail,
                          size_t tail_size, int *status, pt_err *err)
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
        char *const argv[] = {(char *)"gnuplot", (char *)script, NULL};
        execv(exe, argv);
        _exit(127);
    }
    close(fds[1]);
    close(devnull);

    /* The tail: gnuplot reports the error that stopped it last. */
    pt_read_tail(fds[0], tail, tail_size);
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return pt_fail(err, "cannot wait for gnuplot: %s", strerror(errno));
    }
    size_t len = strlen(tail);
    while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == ' '))
        tail[--len] = '\0';
    return 0;
}

int pt_gnuplot_run(const char *dir, const char *script, pt_err *err)
{
    char exe[PT_PLOT_PATH_MAX], tail[600];
    int status = 0;
    if (pt_find_program("gnuplot", exe, sizeof exe) != 0)
        return 1;
    if (pt_run_gnuplot(exe, dir, script, tail, sizeof tail, &status, err) != 0)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return pt_fail(err, "gnuplot %s/%s failed: %s", dir, script, tail[0] ? tail : "no output");
    return 0;
}

/* ---------------------------------------------------------------- experiment folders */

/* The PNGs plot.gp draws in a compare or sweep folder, by the CSV that marks it. */
static const char *const pt_compare_pngs[] = {"loss.png", "accuracy.png"};
static const char *const pt_sweep_pngs[] = {"sweep.png"};

static int pt_exists_in(const char *dir, const char *file)
{
    char path[PT_PLOT_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

static int pt_is_experiment_dir(const char *dir)
{
    return !pt_exists_in(dir, "metrics.csv") && pt_exists_in(dir, "plot.gp") &&
           (pt_exists_in(dir, "compare.csv") || pt_exists_in(dir, "sweep.csv"));
}

/* Run dir/plot.gp and check that every listed picture came out. */
static int pt_gnuplot_draw(const char *exe, const char *dir, const char *const *pngs, int n,
                           pt_err *err)
{
    char tail[PT_GNUPLOT_TAIL];
    int status = 0, rc = 0;
    if (pt_run_gnuplot(exe, dir, "plot.gp", tail, sizeof tail, &status, err) != 0)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = pt_fail(err, "gnuplot failed on '%s/plot.gp': %s", dir, tail[0] ? tail : "(no output)");
    for (int i = 0; i < n; i++) {
        char png[PT_PLOT_PATH_MAX + 8];
        snprintf(png, sizeof png, "%s/%s.tmp", dir, pngs[i]);
        unlink(png);
        png[strlen(png) - 4] = '\0';
        struct stat st;
        if (rc == 0 && (stat(png, &st) != 0 || st.st_size == 0))
            rc = pt_fail(err, "gnuplot ran but did not draw '%s': %s", png,
                         tail[0] ? tail : "(no output)");
    }
    return rc;
}

static int pt_recompare(const char *dir, pt_err *err);

/* A comparison's plot.gp is written again from compare.csv (the configs and
 * seeds) and its curves files; a sweep's is run as it is (it was written from
 * the config, which the folder does not hold). */
static int pt_redraw_experiment(const char *exe, const char *dir, pt_err *err)
{
    if (pt_exists_in(dir, "compare.csv"))
        return pt_recompare(dir, err);
    return pt_gnuplot_draw(exe, dir, pt_sweep_pngs, (int)PT_ARRAY_LEN(pt_sweep_pngs), err);
}

/* Write dir/plot.gp through write(), then draw it: 1 when gnuplot is missing
 * (the script is there for later), 0 when every picture is drawn, -1 on error. */
static int pt_write_and_draw(const char *dir, void (*write)(FILE *f, const void *ctx),
                             const void *ctx, const char *const *pngs, int n, pt_err *err)
{
    char path[PT_PLOT_PATH_MAX], tmp[PT_PLOT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/plot.gp", dir);
    FILE *f = pt_atomic_open(path, tmp, sizeof tmp, err);
    if (!f)
        return -1;
    write(f, ctx);
    if (pt_atomic_commit(f, tmp, path, err) != 0)
        return -1;
    char exe[PT_PLOT_PATH_MAX];
    if (pt_find_program("gnuplot", exe, sizeof exe) != 0)
        return 1;
    return pt_gnuplot_draw(exe, dir, pngs, n, err);
}

/* s inside a gnuplot '...' string: a quote is doubled. */
static void pt_gp_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static const char *pt_base_name(const char *dir)
{
    const char *b = strrchr(dir, '/');
    return b && b[1] ? b + 1 : dir;
}

static const char *const pt_colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                          "#9467bd", "#8c564b", "#e377c2", "#17becf"};

typedef struct compare_plot {
    const char *dir;
    int n, seeds;
    const char *const *labels;
    const char *name;                /* the folder's own name, for titles */
} compare_plot;

/* One picture of the comparison: for each config the train (dashed) and test
 * (solid) mean curves over the seeds, each over a band from min to max. The
 * columns are those of curves-<label>.csv: mean, std, min, max per figure. */
static void pt_compare_figure(FILE *f, const compare_plot *p, const char *png, const char *what,
                              int train_col, int test_col, double scale)
{
    fprintf(f, "\n# ---- %s\nreset\n", png);
    pt_terminal(f, 900, 600);
    fprintf(f, "set datafile separator ','\nset output '%s.tmp'\n", png);
    fputs("set grid lc rgb '#d0d0d0'\nset border lc rgb '#404040'\n"
          "set key bmargin center horizontal samplen 2.5 width 1 maxrows 2\nset bmargin 6.5\n"
          "set xlabel 'epoch'\nset autoscale xfix\nset offsets 0, 0, graph 0.03, graph 0.03\n", f);
    /* Whole epochs on the axis of a short run. */
    if (p->n > 0) {
        fprintf(f, "stats 'curves-%s.csv' skip 1 using 1 nooutput\n", p->labels[0]);
        fputs("if (STATS_records > 0 && STATS_max <= 20) { set xtics 1 }\n", f);
    }
    fprintf(f, "set title ");
    char title[PT_PLOT_PATH_MAX + 200];
    snprintf(title, sizeof title, "%s: %s per epoch, mean over %d seed%s", p->name, what,
             p->seeds, p->seeds == 1 ? "" : "s");
    pt_gp_quoted(f, title);
    fputs(".\"\\n\".'band: min to max over the seeds; dashed: train, solid: test' font ',12'\n", f);
    if (scale != 1.0)
        fprintf(f, "set ylabel '%s (%%)'\nset format y '%%g%%%%'\n", what);
    else
        fprintf(f, "set ylabel '%s (mean over the split)'\n", what);
    fputs("plot ", f);
    for (int pass = 0; pass < 2; pass++) {           /* bands first, then lines on top */
        for (int i = 0; i < p->n; i++) {
            const char *col = pt_colours[i % (int)PT_ARRAY_LEN(pt_colours)];
            char file[PT_NAME_MAX + 32];
            snprintf(file, sizeof file, "curves-%s.csv", p->labels[i]);
            for (int s = 0; s < 2; s++) {
                int mean = s == 0 ? train_col : test_col;
                if (pass > 0 || i > 0 || s > 0)
                    fputs(", \\\n     ", f);
                pt_gp_quoted(f, file);
                if (pass == 0) {
                    fprintf(f, " skip 1 using 1:($%d*%g):($%d*%g) with filledcurves fc rgb '%s' "
                               "fs transparent solid %s noborder notitle",
                            mean + 2, scale, mean + 3, scale, col, s == 0 ? "0.10" : "0.20");
                } else {
                    char t[PT_NAME_MAX + 16];
                    snprintf(t, sizeof t, "%s %s", p->labels[i], s == 0 ? "train" : "test");
                    fprintf(f, " skip 1 using 1:($%d*%g) with lines lc rgb '%s' lw 2 dt %d title ",
                            mean, scale, col, s == 0 ? 2 : 1);
                    pt_gp_quoted(f, t);
                }
            }
        }
    }
    fprintf(f, "\nunset output\nsystem \"mv -f '%s.tmp' '%s'\"\n", png, png);
}

static void pt_compare_script(FILE *f, const void *ctx)
{
    const compare_plot *p = ctx;
    fputs("# plot.gp: pictures of this comparison, drawn from the curves-<config>.csv files;\n"
          "# written by `ptrain compare`. Redraw with `gnuplot plot.gp` inside this folder.\n", f);
    /* curves-*.csv columns: epoch, then mean,std,min,max of train_loss (2-5),
     * test_loss (6-9), train_acc (10-13) and test_acc (14-17). */
    pt_compare_figure(f, p, "loss.png", "loss", 2, 6, 1.0);
    pt_compare_figure(f, p, "accuracy.png", "accuracy", 10, 14, 100.0);
}

int pt_plot_compare(const char *dir, int n, const char *const *labels, int seeds, pt_err *err)
{
    /* `ptrain plot .` should still name the folder. */
    char *real = realpath(dir, NULL);
    compare_plot p = {dir, n, seeds, labels, pt_base_name(real ? real : dir)};
    int rc = pt_write_and_draw(dir, pt_compare_script, &p, pt_compare_pngs,
                               (int)PT_ARRAY_LEN(pt_compare_pngs), err);
    free(real);
    return rc;
}

/* Labels (first column) and seeds (third, "runs") of compare.csv. */
static int pt_recompare(const char *dir, pt_err *err)
{
    char path[PT_PLOT_PATH_MAX];
    snprintf(path, sizeof path, "%s/compare.csv", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return pt_fail(err, "cannot open '%s': %s", path, strerror(errno));
    char labels[64][PT_NAME_MAX], *line = NULL;
    const char *names[64];
    size_t cap = 0;
    int n = 0, seeds = 0, rc = 0;
    if (getline(&line, &cap, f) < 0 || strncmp(line, "config,activation,runs,", 23) != 0)
        rc = pt_fail(err, "cannot plot: '%s' does not start with the compare.csv header", path);
    while (rc == 0 && n < 64 && getline(&line, &cap, f) >= 0) {
        int runs = 0;
        char act[32];
        if (sscanf(line, "%127[^,],%31[^,],%d,", labels[n], act, &runs) != 3 || runs < 1) {
            rc = pt_fail(err, "cannot plot: '%s' line %d is not a compare.csv row", path, n + 2);
            break;
        }
        names[n] = labels[n];
        seeds = runs;
        n++;
    }
    free(line);
    fclose(f);
    if (rc == 0 && n == 0)
        rc = pt_fail(err, "cannot plot: '%s' has no configs", path);
    if (rc != 0)
        return rc;
    return pt_plot_compare(dir, n, names, seeds, err);
}

/* ---- sweep.png: the metric against the first swept key */

/* Cap on the lines of sweep.png: more would make an unreadable key. */
#define PT_SWEEP_MAX_LINES 24

typedef struct sweep_plot {
    const char *dir;
    const pt_config *c;
    int n_lines, numeric, logx;
    int any;                         /* at least one finite value to draw */
    char (*titles)[256];
} sweep_plot;

static void pt_sweep_script(FILE *f, const void *ctx)
{
    const sweep_plot *p = ctx;
    const pt_config *c = p->c;
    const char *metric = c->sweep.metric;
    int pct = strstr(metric, "_acc") != NULL;
    fputs("# plot.gp: the sweep's metric against its first swept key, drawn from\n"
          "# sweep_plot.dat; written by `ptrain sweep`. Redraw with `gnuplot plot.gp` here.\n"
          "\n# ---- sweep.png\nreset\n", f);
    pt_terminal(f, 900, 600);
    fputs("set output 'sweep.png.tmp'\nset grid lc rgb '#d0d0d0'\nset border lc rgb '#404040'\n"
          "set key outside right top samplen 2.5\nset offsets graph 0.03, graph 0.03, graph 0.05, "
          "graph 0.05\n", f);
    char title[PT_PLOT_PATH_MAX + 200];
    snprintf(title, sizeof title, "%s: %s at the last epoch against %s", pt_base_name(p->dir), metric,
             c->sweep.axes[0].key);
    fputs("set title ", f);
    pt_gp_quoted(f, title);
    fputs(" font ',12'\nset xlabel ", f);
    pt_gp_quoted(f, c->sweep.axes[0].key);
    fprintf(f, "\nset ylabel '%s%s'\n", metric, pct ? " (%)" : "");
    if (pct)
        fputs("set format y '%g%%'\n", f);
    if (p->logx)
        fputs("set logscale x\n", f);
    if (p->numeric) {                              /* tics at the swept values, as written */
        fputs("set xtics (", f);
        for (int j = 0; j < c->sweep.axes[0].n_values; j++) {
            fputs(j ? ", " : "", f);
            pt_gp_quoted(f, c->sweep.axes[0].values[j]);
            fprintf(f, " %s", c->sweep.axes[0].values[j]);
        }
        fputs(")\n", f);
    }
    if (!p->any) {                                 /* gnuplot refuses an all-undefined plot */
        fputs("set label 1 'no point has a value yet' at graph 0.5, 0.5 center\n"
              "set yrange [0:1]\nplot 'sweep_plot.dat' using 1:(NaN) notitle\n"
              "unset output\nsystem \"mv -f 'sweep.png.tmp' 'sweep.png'\"\n", f);
        return;
    }
    fputs("plot ", f);
    for (int l = 0; l < p->n_lines; l++) {
        const char *col = pt_colours[l % (int)PT_ARRAY_LEN(pt_colours)];
        fprintf(f, "%s'sweep_plot.dat' using 1:%d%s with linespoints lc rgb '%s' lw 2 pt %d ps 1.1 "
                   "title ", l ? ", \\\n     " : "", l + 3, p->numeric ? "" : ":xtic(2)", col,
                5 + 2 * (l / (int)PT_ARRAY_LEN(pt_colours)));
        pt_gp_quoted(f, p->titles[l]);
    }
    fputs("\nunset output\nsystem \"mv -f 'sweep.png.tmp' 'sweep.png'\"\n", f);
}

int pt_plot_sweep(const char *dir, const pt_config *c, const pt_sweep_entry *e, long n, pt_err *err)
{
    if (c->sweep.n_axes < 1)
        return pt_fail(err, "sweep plot: the config has no sweep axes");
    const pt_sweep_axis *x = &c->sweep.axes[0];
    long total = pt_grid_size(c);
    if (total < 1)
        return pt_fail(err, "sweep plot: the grid is empty or too large");
    long per_x = total / x->n_values;              /* combinations of the other axes */
    int n_lines = per_x > PT_SWEEP_MAX_LINES ? PT_SWEEP_MAX_LINES : (int)per_x;

    /* The x axis: numbers when every value is one (log scale over a wide
     * positive range, e.g. learning rates), else the values as labels. */
    int numeric = 1, positive = 1;
    double lo = INFINITY, hi = -INFINITY, xv[PT_MAX_SWEEP_VALUES];
    for (int j = 0; j < x->n_values; j++) {
        char *end;
        xv[j] = strtod(x->values[j], &end);
        if (*end || end == x->values[j] || !isfinite(xv[j]))
            numeric = 0;
        positive &= xv[j] > 0;
        lo = fmin(lo, xv[j]);
        hi = fmax(hi, xv[j]);
    }
    int logx = numeric && positive && hi >= 10 * lo;

    /* y[line][x]: the metric of each grid point that was run, NaN otherwise. */
    double *y = malloc((size_t)n_lines * (size_t)x->n_values * sizeof *y);
    char(*titles)[256] = calloc((size_t)n_lines, sizeof *titles);
    if (!y || !titles) {
        free(y);
        free(titles);
        return pt_fail(err, "out of memory");
    }
    for (long i = 0; i < (long)n_lines * x->n_values; i++)
        y[i] = NAN;
    int pct = strstr(c->sweep.metric, "_acc") != NULL;
    for (long i = 0; i < n; i++) {
        long line = e[i].index % per_x;
        int xi = (int)(e[i].index / per_x);
        if (line < n_lines)
            y[line * x->n_values + xi] = e[i].metric * (pct ? 100.0 : 1.0);
    }
    for (int l = 0; l < n_lines; l++) {
        int vi[PT_MAX_SWEEP_AXES];
        pt_grid_point(c, l, vi);                   /* axis 0 at value 0: the others vary */
        size_t len = 0;
        for (int a = 1; a < c->sweep.n_axes && len < sizeof titles[l]; a++)
            len += (size_t)snprintf(titles[l] + len, sizeof titles[l] - len, "%s%s=%s", a > 1 ? ", " : "",
                                    c->sweep.axes[a].key, c->sweep.axes[a].values[vi[a]]);
        if (c->sweep.n_axes == 1)
            snprintf(titles[l], sizeof titles[l], "%s", c->sweep.metric);
    }

    char path[PT_PLOT_PATH_MAX], tmp[PT_PLOT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/sweep_plot.dat", dir);
    FILE *f = pt_atomic_open(path, tmp, sizeof tmp, err);
    int rc = -1;
    if (f) {
        fprintf(f, "# x, \"%s\" value, then %s for each line of sweep.png (NaN: not run)\n",
                x->key, c->sweep.metric);
        for (int j = 0; j < x->n_values; j++) {
            fprintf(f, "%.9g \"%s\"", numeric ? xv[j] : (double)j, x->values[j]);
            for (int l = 0; l < n_lines; l++) {
                double v = y[l * x->n_values + j];
                if (isnan(v))
                    fputs(" NaN", f);
                else
                    fprintf(f, " %.9g", v);
            }
            fputc('\n', f);
        }
        rc = pt_atomic_commit(f, tmp, path, err);
    }
    if (rc == 0) {
        int any = 0;
        for (long i = 0; i < (long)n_lines * x->n_values; i++)
            any |= isfinite(y[i]);
        sweep_plot p = {dir, c, n_lines, numeric, logx, any, titles};
        rc = pt_write_and_draw(dir, pt_sweep_script, &p, pt_sweep_pngs,
                               (int)PT_ARRAY_LEN(pt_sweep_pngs), err);
    }
    free(y);
    free(titles);
    return rc;
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

    /* A compare or sweep folder has no metrics.csv: redraw from its plot.gp. */
    if (pt_is_experiment_dir(dir))
        return pt_redraw_experiment(exe, dir, err);

    pt_plot_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return pt_fail(err, "out of memory");
    if (pt_scan_metrics(dir, c, err) != 0 || pt_scan_confusion(dir, c, err) != 0 ||
        pt_scan_mistakes(dir, c, err) != 0 || pt_scan_counts(dir, c, err) != 0) {
        free(c);
        return -1;
    }
    int drawn[PT_ARRAY_LEN(pt_figures)];
    for (size_t i = 0; i < PT_ARRAY_LEN(pt_figures); i++)
        drawn[i] = pt_figure_drawn(i, c);
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
    if (pt_run_gnuplot(exe, dir, "plot.gp", tail, sizeof tail, &status, err) != 0)
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
        if (rc == 0 && drawn[i] && (stat(png, &st) != 0 || st.st_size == 0))
            rc = pt_fail(err, "gnuplot ran but did not draw '%s': %s", png,
                         tail[0] ? tail : "(no output)");
    }
    return rc;
}
