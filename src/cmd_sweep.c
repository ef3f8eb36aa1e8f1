/* cmd_sweep.c: `ptrain sweep CONFIG [--name NAME] [--jobs N] [section.key=value ...]`:
 * trains the points of the config's [sweep] grid into <results_dir>/sweep-<stem>/runs/,
 * resumes where an earlier invocation stopped, and writes sweep.csv, sweep.md,
 * best.ini and sweep.png. The grid, names and files themselves are experiments.c's. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pt_cli.h"
#include "pt_experiments.h"

enum { MAX_OVERRIDES = 256, MAX_JOBS = 256 };

static const char SWEEP_USAGE[] =
    "usage: ptrain sweep CONFIG [--name NAME] [--jobs N] [section.key=value ...]";

typedef struct sweep_state {
    const pt_cli *cli;
    const pt_config *base;
    const char *dir;              /* the sweep folder */
    char runs_dir[PT_PATH_MAX];   /* becomes each point's run.results_dir */
    const long *points;           /* grid indices being run, ascending */
    long n_points, grid_size;
    const char *command;
    long done;                    /* points finished in this invocation */
    long n_todo;
} sweep_state;

static void point_dir(const sweep_state *st, long index, char *out, size_t size)
{
    char name[PT_NAME_MAX];
    pt_grid_point_name(st->base, index, name, sizeof name);
    snprintf(out, size, "%s/%s", st->runs_dir, name);
}

/* One console line for a point that just finished (read back from its folder). */
static void report_point(sweep_state *st, long index)
{
    char dir[PT_PATH_MAX + PT_NAME_MAX];
    point_dir(st, index, dir, sizeof dir);
    pt_sweep_entry e;
    pt_sweep_entry_read(&e, st->base, index, dir);
    st->done++;
    if (st->cli->quiet)
        return;
    printf("[%ld/%ld] %s: ", st->done, st->n_todo, e.name);
    if (e.state == PT_POINT_COMPLETE)
        printf("%s %.4f, test accuracy %.2f%%, %.3f s/epoch\n", st->base->sweep.metric, e.metric,
               100 * e.final.test_acc, e.seconds_per_epoch);
    else
        printf("failed (see %s/summary.json)\n", dir);
    fflush(stdout);
}

/* The leaderboard, best.ini and (at the end) the picture, from what is on
 * disk now: points of this sweep not run yet are listed as missing. */
static int write_leaderboard(const sweep_state *st, int draw, long *best_out, pt_err *err)
{
    pt_sweep_entry *e = calloc((size_t)st->n_points + 1, sizeof *e);
    if (!e)
        return pt_fail(err, "out of memory");
    for (long i = 0; i < st->n_points; i++) {
        char dir[PT_PATH_MAX + PT_NAME_MAX];
        point_dir(st, st->points[i], dir, sizeof dir);
        pt_sweep_entry_read(&e[i], st->base, st->points[i], dir);
    }
    pt_sweep_sort(e, st->n_points, st->base->sweep.metric);
    char path[PT_PATH_MAX + PT_NAME_MAX + 32];
    int rc = 0;
    snprintf(path, sizeof path, "%s/sweep.csv", st->dir);
    rc = pt_sweep_write_csv(path, st->base, e, st->n_points, err);
    snprintf(path, sizeof path, "%s/sweep.md", st->dir);
    if (rc == 0)
        rc = pt_sweep_write_md(path, st->base, e, st->n_points, st->grid_size, st->command, err);
    *best_out = -1;
    if (rc == 0 && st->n_points > 0 && e[0].state == PT_POINT_COMPLETE && e[0].metric == e[0].metric) {
        *best_out = e[0].index;
        snprintf(path, sizeof path, "%s/best.ini", st->dir);
        rc = pt_sweep_write_best(path, st->base, e[0].index, err);
    }
    if (rc == 0 && draw) {
        int drawn = pt_plot_sweep(st->dir, st->base, e, st->n_points, err);
        if (drawn == 1)
            fprintf(stderr, "ptrain: warning: gnuplot is not installed: sweep.png is not drawn; draw "
                            "it later with `ptrain plot %s`\n", st->dir);
        else if (drawn < 0)
            fprintf(stderr, "ptrain: warning: sweep.png not drawn: %s\n", err->msg);
    }
    free(e);
    return rc;
}

/* Train one point in this process. 0 complete, 1 failed, -1 error (printed). */
static int run_point(const sweep_state *st, long index, int threads, const pt_run_hooks *hooks)
{
    pt_config *cfg = malloc(sizeof *cfg);
    pt_err err = {{0}};
    if (!cfg) {
        pt_cli_error("out of memory");
        return -1;
    }
    int rc = pt_grid_apply(cfg, st->base, index, &err);
    if (rc == 0) {
        snprintf(cfg->run.results_dir, sizeof cfg->run.results_dir, "%s", st->runs_dir);
        pt_grid_point_name(st->base, index, cfg->run.name, sizeof cfg->run.name);
        if (threads > 0)
            cfg->run.threads = threads;
        pt_run_result res;
        rc = pt_run_train(cfg, hooks, &res, &err);
    }
    if (rc < 0)
        pt_cli_error("%s", err.msg);
    free(cfg);
    return rc;
}

/* Parallelism: by default (--jobs 1) points run one after another in this
 * process, each with all the threads the config asks for. With --jobs N, N
 * forked children run at a time with run.threads = threads / N each, child j
 * on CPUs [j*t, (j+1)*t) of the allowed set when there are enough, else
 * wherever the OS puts it. The parent only forks and waits: it never opens an
 * OpenMP region, so the children start with a clean OpenMP runtime. Results
 * do not depend on the thread count, so neither mode changes a number. */
static int run_parallel(sweep_state *st, const long *todo, long n_todo, int jobs)
{
    cpu_set_t allowed;
    int cpus[CPU_SETSIZE], n_cpus = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[n_cpus++] = c;
    int total = pt_run_threads(st->base);
    int per_job = total / jobs > 0 ? total / jobs : 1;
    int pin = n_cpus >= jobs * per_job;
    pid_t pid_of[MAX_JOBS] = {0};
    long point_of[MAX_JOBS];
    int running = 0, rc = 0;
    if (!st->cli->quiet) {
        printf("%d processes at a time, %d thread%s each%s\n", jobs, per_job, per_job == 1 ? "" : "s",
               pin ? ", each on its own CPUs" : "");
        fflush(stdout);
    }
    for (long i = 0; i < n_todo || running > 0;) {
        if (i < n_todo && running < jobs) {
            int slot = 0;
            while (pid_of[slot])
                slot++;
            fflush(NULL);
            pid_t pid = fork();
            if (pid < 0) {
                pt_cli_error("cannot start a process for a sweep point: %s", strerror(errno));
                rc = -1;
                n_todo = i;                      /* start nothing more; wait for the others */
                continue;
            }
            if (pid == 0) {
                if (pin) {
                    cpu_set_t mine;
                    CPU_ZERO(&mine);
                    for (int c = 0; c < per_job; c++)
                        CPU_SET(cpus[slot * per_job + c], &mine);
                    sched_setaffinity(0, sizeof mine, &mine);
                }
                pt_cli quiet = *st->cli;
                quiet.quiet = 1;
                pt_run_hooks hooks = pt_cli_run_hooks(&quiet);
                int r = run_point(st, todo[i], per_job, &hooks);
                fflush(NULL);
                _exit(r == 0 ? 0 : r > 0 ? 1 : 3);
            }
            pid_of[slot] = pid;
            point_of[slot] = todo[i];
            running++;
            i++;
            continue;
        }
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int slot = 0; slot < jobs; slot++) {
            if (pid_of[slot] != pid)
                continue;
            pid_of[slot] = 0;
            running--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
                rc = -1;                         /* the child said why */
            report_point(st, point_of[slot]);
            long best;
            pt_err err = {{0}};
            if (write_leaderboard(st, 0, &best, &err)) {
                pt_cli_error("%s", err.msg);
                rc = -1;
            }
        }
    }
    return rc;
}

int pt_cmd_sweep(const pt_cli *cli, int argc, char **argv)
{
    const char *path = NULL, *name = NULL;
    char *overrides[MAX_OVERRIDES];
    int n_overrides = 0, jobs = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--name") && i + 1 < argc) {
            name = argv[++i];
        } else if (!strcmp(a, "--jobs") && i + 1 < argc) {
            long v;
            if (pt_cli_parse_long(a, argv[++i], 1, MAX_JOBS, &v))
                return PT_EXIT_USAGE;
            jobs = (int)v;
        } else if (a[0] == '-' && a[1] == '-') {
            pt_cli_error("sweep: unknown or incomplete option '%s' (options: --name NAME, --jobs N)"
                         "\n%s", a, SWEEP_USAGE);
            return PT_EXIT_USAGE;
        } else if (!path && !strchr(a, '=')) {
            path = a;
        } else if (n_overrides < MAX_OVERRIDES) {
            overrides[n_overrides++] = argv[i];
        } else {
            pt_cli_error("sweep: more than %d overrides", MAX_OVERRIDES);
            return PT_EXIT_USAGE;
        }
    }
    if (!path) {
        pt_cli_error("sweep needs a config with a [sweep] section\n%s", SWEEP_USAGE);
        return PT_EXIT_USAGE;
    }

    int rc = PT_EXIT_USAGE, lock_fd = -1;
    long *points = NULL, *todo = NULL;
    pt_config *base = malloc(sizeof *base), *done_cfg = malloc(sizeof *done_cfg);
    pt_err err = {{0}};
    if (!base || !done_cfg) {
        pt_cli_error("out of memory");
        goto out;
    }
    if (pt_cli_load_config(base, path, n_overrides, overrides))
        goto out;
    if (base->sweep.n_axes == 0) {
        pt_cli_error("%s has no [sweep] section with a key to sweep; add one, e.g.\n"
                     "  [sweep]\n  train.lr = 0.01 0.05 0.1\n  model.hidden = 15 32\n"
                     "(`ptrain keys` documents the [sweep] keys)", path);
        goto out;
    }
    long grid = pt_grid_size(base);
    points = malloc((size_t)(grid > 0 ? grid : 1) * sizeof *points);
    todo = malloc((size_t)(grid > 0 ? grid : 1) * sizeof *todo);
    if (!points || !todo) {
        pt_cli_error("out of memory");
        goto out;
    }
    long n_points = grid < 0 ? -1 : pt_grid_select(base, points, &err);
    if (n_points < 0) {
        pt_cli_error("%s: %s", path, err.msg[0] ? err.msg : "the [sweep] grid is too large");
        goto out;
    }
    /* Every point must make a valid config, with the ranked column, before
     * the first one trains. */
    for (long i = 0; i < n_points; i++) {
        if (pt_grid_apply(done_cfg, base, points[i], &err)) {
            pt_cli_error("%s: %s", path, err.msg);
            goto out;
        }
        if (strncmp(base->sweep.metric, "val_", 4) == 0 && done_cfg->data.validation == 0) {
            pt_cli_error("%s: sweep.metric = %s, but data.validation = 0 leaves no validation split "
                         "(point p%03ld); rank by test_acc or hold out a validation split",
                         path, base->sweep.metric, points[i] + 1);
            goto out;
        }
    }

    /* The folder: deterministic, so that the same command resumes. */
    char stem[64], folder[PT_NAME_MAX], dir[PT_PATH_MAX + PT_NAME_MAX + 8];
    pt_exp_stem(path, stem, sizeof stem);
    snprintf(folder, sizeof folder, "%s", name ? name : "");
    if (!name)
        snprintf(folder, sizeof folder, "sweep-%s", stem);
    if (!folder[0] || strchr(folder, '/') || !strcmp(folder, ".") || !strcmp(folder, "..")) {
        pt_cli_error("--name '%s': expected one folder name (no '/')", folder);
        goto out;
    }
    sweep_state st = {.cli = cli, .base = base, .dir = dir, .points = points, .n_points = n_points,
                      .grid_size = grid};
    snprintf(dir, sizeof dir, "%s/%s", base->run.results_dir, folder);
    rc = PT_EXIT_INPUT;
    if (strlen(dir) + 6 > sizeof st.runs_dir) {
        pt_cli_error("sweep folder path '%s' is too long", dir);
        goto out;
    }
    memcpy(st.runs_dir, dir, strlen(dir));
    memcpy(st.runs_dir + strlen(dir), "/runs", 6);
    if (pt_results_mkdirs(st.runs_dir, &err)) {
        pt_cli_error("%s", err.msg);
        goto out;
    }
    /* Two sweeps in one folder would remove each other's running points. */
    char lock_path[sizeof dir + 16];
    snprintf(lock_path, sizeof lock_path, "%s/.lock", dir);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        pt_cli_error("%s is in use by another `ptrain sweep` (or cannot be locked: %s)", dir,
                     strerror(errno));
        goto out;
    }

    /* Resuming: the folder and every point's name follow from the config, so
     * the same command finds its earlier work. A point whose summary.json says
     * "complete" is skipped (after checking that it trained the same thing);
     * any other point folder (failed, or "running" after a kill) is removed
     * and trained again. */
    long n_todo = 0, n_skipped = 0, n_redo = 0;
    for (long i = 0; i < n_points; i++) {
        char pdir[PT_PATH_MAX + PT_NAME_MAX], cfg_path[sizeof pdir + 16];
        point_dir(&st, points[i], pdir, sizeof pdir);
        int status = pt_exp_read_status(pdir);
        if (status == PT_STATUS_COMPLETE) {
            pt_config want;
            snprintf(cfg_path, sizeof cfg_path, "%s/config.ini", pdir);
            pt_config_defaults(done_cfg);
            if (pt_config_load(done_cfg, cfg_path, &err) || pt_grid_apply(&want, base, points[i], &err) ||
                !pt_config_same_training(done_cfg, &want)) {
                pt_cli_error("%s/ holds a finished run of another config (its config.ini differs in "
                             "[data], [model] or [train] from this sweep's point): sweep into a new "
                             "folder with --name, or remove that one", pdir);
                rc = PT_EXIT_USAGE;
                goto out;
            }
            n_skipped++;
            if (cli->verbose)
                printf("skip %s: complete\n", pdir);
            continue;
        }
        if (access(pdir, F_OK) == 0) {
            if (!cli->quiet)
                printf("rerun %s: status %s\n", pdir,
                       status == PT_STATUS_FAILED ? "failed" : status == PT_STATUS_RUNNING
                                                                   ? "running (interrupted)"
                                                                   : "unknown");
            if (pt_exp_remove_tree(pdir, &err)) {
                pt_cli_error("%s", err.msg);
                goto out;
            }
            n_redo++;
        }
        todo[n_todo++] = points[i];
    }
    char command[2048];
    size_t len = (size_t)snprintf(command, sizeof command, "ptrain sweep");
    for (int i = 0; i < argc && len < sizeof command; i++)
        len += (size_t)snprintf(command + len, sizeof command - len, " %s", argv[i]);
    st.command = command;
    st.n_todo = n_todo;
    if (!cli->quiet) {
        printf("sweep: %ld point%s", n_points, n_points == 1 ? "" : "s");
        if (n_points < grid)
            printf(" drawn from a grid of %ld", grid);
        printf(" -> %s/; %ld to run", dir, n_todo);
        if (n_redo)
            printf(" (%ld again, after a failed or interrupted try)", n_redo);
        printf(", %ld skipped (complete)\n", n_skipped);
        fflush(stdout);
    }

    long best = -1;
    int failed_runs = 0;
    if (jobs > 1 && n_todo > 1) {
        if (run_parallel(&st, todo, n_todo, jobs < n_todo ? jobs : (int)n_todo))
            goto out;
    } else {
        pt_cli sub = *cli;
        sub.quiet = !cli->verbose;
        pt_run_hooks hooks = pt_cli_run_hooks(&sub);
        for (long i = 0; i < n_todo; i++) {
            int r = run_point(&st, todo[i], 0, &hooks);
            if (r < 0)
                goto out;
            failed_runs += r > 0;
            report_point(&st, todo[i]);
            /* Kept current, so an interrupted sweep still has a leaderboard. */
            if (write_leaderboard(&st, 0, &best, &err)) {
                pt_cli_error("%s", err.msg);
                goto out;
            }
        }
    }
    if (write_leaderboard(&st, 1, &best, &err)) {
        pt_cli_error("%s", err.msg);
        goto out;
    }
    if (best < 0) {
        long complete = 0;
        for (long i = 0; i < n_points; i++) {
            char pdir[PT_PATH_MAX + PT_NAME_MAX];
            point_dir(&st, points[i], pdir, sizeof pdir);
            complete += pt_exp_read_status(pdir) == PT_STATUS_COMPLETE;
        }
        if (complete) {
            pt_cli_error("no point has a value of sweep.metric = %s to rank by%s; see %s/sweep.md",
                         base->sweep.metric, strncmp(base->sweep.metric, "val_", 4) == 0
                                                 ? " (data.validation = 0 leaves no validation split)"
                                                 : "", dir);
            rc = PT_EXIT_USAGE;
        } else {
            pt_cli_error("no point of the sweep completed; see %s/sweep.md", dir);
            rc = PT_EXIT_FAILED;
        }
        goto out;
    }
    pt_sweep_entry e;
    char pdir[PT_PATH_MAX + PT_NAME_MAX];
    point_dir(&st, best, pdir, sizeof pdir);
    pt_sweep_entry_read(&e, base, best, pdir);
    if (failed_runs && !cli->quiet)
        printf("%d point%s failed (diverged); sweep.md lists them\n", failed_runs,
               failed_runs == 1 ? "" : "s");
    printf("best: %s (%s %.4f); leaderboard %s/sweep.md, config %s/best.ini\n", e.name,
           base->sweep.metric, e.metric, dir, dir);
    rc = PT_EXIT_OK;
out:
    if (lock_fd >= 0)
        close(lock_fd);
    free(points);
    free(todo);
    free(base);
    free(done_cfg);
    return rc;
}
