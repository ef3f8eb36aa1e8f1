#!/usr/bin/env bash
# End-to-end check of `ptrain scale`: a tiny scaling run over 1, 2, 3 and 16
# threads (16 > the cores of a CI machine: workers are capped, then forced
# with run.oversubscribe) must finish, write its files, and find identical
# weights and loss at every thread count.
set -euo pipefail
ptrain=${1:-./ptrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/check.sh"
small=(data.train_limit=4000 data.validation=500 data.test_limit=500 run.results_dir="$tmp")

"$ptrain" -q scale configs/tanh.ini --threads 1,2,3,16 --repeat 2 --steps 40 --warmup 5 \
    --name capped "${small[@]}" >"$tmp/out.txt" 2>&1
dir="$tmp/capped"
check "scale writes its files" test -s "$dir/scaling.csv" -a -s "$dir/scaling_runs.csv" -a -s "$dir/scaling.md" -a -s "$dir/config.ini"
check "one row per thread count" test "$(tail -n +2 "$dir/scaling.csv" | wc -l)" -eq 4
check "every row identical" test "$(tail -n +2 "$dir/scaling.csv" | awk -F, '$NF != "yes"' | wc -l)" -eq 0
check "8 timed runs recorded" test "$(tail -n +2 "$dir/scaling_runs.csv" | wc -l)" -eq 8
check "speedup of the first count is 1" awk -F, 'NR == 2 { exit !($10 == 1) }' "$dir/scaling.csv"
# The four parts of a step (shards, gradients, update, wait) account for
# the step's wall time: not more, and not much less (the rest is the
# divergence check and loop bookkeeping).
check "step parts add up to the step time" awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { s = $col["partials_us"] + $col["shards_us"] + $col["grads_us"] + $col["update_us"] + $col["wait_us"]
      if (!(s > 0.7 * $col["step_us"] && s < 1.05 * $col["step_us"])) bad = 1 }
    END { exit bad || NR < 2 }' "$dir/scaling_runs.csv"
# The machine's ceiling: independent copies ran beside every multi-worker
# run; one worker is its own ceiling.
check "ceiling measured for every count" awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { c = $col["ceiling_samples_per_sec"]; r = $col["share_of_ceiling"]
      if (!(c > 0 && r > 0 && r < 2)) bad = 1
      if (NR == 2 && $col["share_of_ceiling"] != 1) bad = 1 }
    END { exit bad || NR < 2 }' "$dir/scaling.csv"
# The round trip between PUs: measured where a run has more than one worker
# and a PU for each (workers that share a PU would time context switches).
round_trip_ok() { # folder: every row's round_trip_ns is as its workers say
    local pus
    pus=$(sed -n 's/.*; \([0-9][0-9]*\) allowed PUs.*/\1/p' "$1/scaling.md")
    awk -F, -v pus="$pus" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { t = $col["round_trip_ns"]; w = $col["workers"]
          if (w > 1 && w <= pus) { if (!(t > 0 && t < 1e6)) bad = 1 } else if (t != "nan") bad = 1 }
        END { exit bad || NR < 2 || pus == "" }' "$1/scaling.csv"
}
check "round trip measured where every worker has a PU, nan elsewhere" round_trip_ok "$dir"
check "the model is labelled and covers 16, 32 and 64 cores" \
    sh -c 'grep -q "^## Model (not a measurement)" "$1" && grep -q "^| 16 |" "$1" && grep -q "^| 64 |" "$1"' _ "$dir/scaling.md"
if command -v gnuplot >/dev/null; then
    check "scaling.png drawn" test "$(head -c 4 "$dir/scaling.png" | od -An -c | tr -d ' ')" = '211PNG'
fi

"$ptrain" -q scale configs/tanh.ini --threads 1,2 --repeat 1 --steps 40 --warmup 5 \
    --name bare --no-ceiling "${small[@]}" >"$tmp/out3.txt" 2>&1
check "--no-ceiling: the ceiling is nan, the plot leaves it out, the table says so" sh -c '
    awk -F, "NR == 3 && \$17 != \"nan\" { bad = 1 } END { exit bad || NR != 3 }" "$1/scaling.csv" &&
    ! grep -q "machine ceiling" "$1/scaling.gp" && grep -q "Not measured" "$1/scaling.md"' _ "$tmp/bare"

# A runtime that grants fewer threads than asked (OMP_THREAD_LIMIT) still
# runs every worker, with the same bits; the ceiling cannot be measured.
OMP_THREAD_LIMIT=1 "$ptrain" -q scale configs/tanh.ini --threads 1,2 --repeat 1 --steps 40 --warmup 5 \
    --name limited "${small[@]}" >"$tmp/out4.txt" 2>&1 || true
check "thread limit 1: 2 workers on one thread, identical, ceiling nan with a warning" sh -c '
    awk -F, "NR == 3 && (\$2 != 2 || \$17 != \"nan\" || \$NF != \"yes\") { bad = 1 } END { exit bad || NR != 3 }" \
        "$1/scaling.csv" && grep -q "fewer threads than the 2 copies" "$2"' _ "$tmp/limited" "$tmp/out4.txt"
check "thread limit 1: no round trip between threads that did not both run" \
    awk -F, 'NR == 3 && $20 != "nan" { bad = 1 } END { exit bad || NR != 3 }' "$tmp/limited/scaling.csv"

"$ptrain" -q scale configs/tanh.ini --threads 1,16 --repeat 1 --steps 40 --warmup 5 \
    --name forced run.oversubscribe=true "${small[@]}" >"$tmp/out2.txt" 2>&1
check "oversubscribed 16 workers identical to 1" \
    awk -F, 'NR > 1 && $NF != "yes" { bad = 1 } END { exit bad }' "$tmp/forced/scaling.csv"
check "16 workers really ran" awk -F, 'NR == 3 { exit !($2 == 16) }' "$tmp/forced/scaling.csv"
check "oversubscribed: no round trip where workers share PUs" round_trip_ok "$tmp/forced"

set +e
"$ptrain" scale configs/tanh.ini --threads 1,x "${small[@]}" >"$tmp/bad.txt" 2>&1
rc=$?
set -e
check "bad --threads list: exit 2 with the expected form" \
    test "$rc" -eq 2 -a -n "$(grep -- '--threads 1,2,4,8,16' "$tmp/bad.txt")"

# Where the results cannot go, scale says so before it measures anything.
set +e
"$ptrain" scale configs/tanh.ini --threads 1,2 --name ../escape "${small[@]}" >"$tmp/badname.txt" 2>&1
rc=$?
touch "$tmp/a-file"
"$ptrain" scale configs/tanh.ini --threads 1,2 "${small[@]}" run.results_dir="$tmp/a-file/sub" \
    >"$tmp/baddir.txt" 2>&1
rc2=$?
set -e
check "--name with '/': exit 2, the reason, nothing measured or written" sh -c '
    test "$1" -eq 2 && grep -q "without ./." "$2" && ! grep -q "samples/s" "$2" && ! test -e "$3/escape"' \
    _ "$rc" "$tmp/badname.txt" "$tmp"
check "results_dir under a file: fails naming it before any run" sh -c '
    test "$1" -ne 0 && grep -q "a-file" "$2" && ! grep -q "samples/s" "$2"' _ "$rc2" "$tmp/baddir.txt"

summary e2e-scale
