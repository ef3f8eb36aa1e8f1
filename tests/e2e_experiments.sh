#!/usr/bin/env bash
# End-to-end check of `ptrain compare`, `ptrain sweep` and the pictures of a
# run, on tiny configs (2000 training and 500 test images, 3 epochs) written
# into a temporary folder; every result goes under it through run.results_dir.
# Usage: tests/e2e_experiments.sh [PTRAIN]   (default ./ptrain, run from the repo root)
set -euo pipefail
ptrain=${1:-./ptrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/check.sh"
is_png() { test "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG'; }
has_gnuplot() { command -v gnuplot >/dev/null; }
# Last row of a metrics.csv without the timing columns (seconds, samples_per_sec).
final_row() { tail -n 1 "$1" | cut -d, -f1-8; }
mtime() { stat -c %y "$1"; }
res="$tmp/res"

for act in tanh relu; do
    cat >"$tmp/$act.ini" <<EOF
[data]
train_limit = 2000
test_limit = 500
validation = 0
[model]
hidden = 12
activation = $act
[train]
optimizer = adam
lr = 0.003
epochs = 3
[run]
plots = false
save_model = false
EOF
done
{ cat "$tmp/tanh.ini"; printf '[sweep]\ntrain.lr = 0.001 0.01\nmodel.hidden = 8 16\n'; } >"$tmp/grid.ini"

# ---- compare: 2 configs x 2 seeds
"$ptrain" compare "$tmp/tanh.ini" "$tmp/relu.ini" --seeds 2 --name cmp run.results_dir="$res" \
    >"$tmp/compare.out" 2>&1
cmp="$res/cmp"
check "compare writes compare.csv, compare.md and one folder per seed" \
    test -s "$cmp/compare.csv" -a -s "$cmp/compare.md" -a "$(ls "$cmp/runs" | wc -l)" -eq 4
check "compare.csv: header and 2 rows, every row as wide as the header" \
    awk -F, 'NR == 1 { n = NF; ok = ($1 == "config" && $7 == "final_test_acc_mean") }
             NR > 1 && NF != n { ok = 0 } END { exit !(ok && NR == 3) }' "$cmp/compare.csv"
for act in tanh relu; do
    want=$(for s in 1 2; do tail -n 1 "$cmp/runs/$act-seed$s/metrics.csv"; done |
        awk -F, '{ s += $7 } END { printf "%.9g", s / NR }')
    check "compare.csv mean test accuracy of $act = mean of its runs' final test_acc ($want)" \
        awk -F, -v c="$act" -v w="$want" '$1 == c { d = $7 - w; found = 1 }
            END { exit !(found && d < 1e-7 && d > -1e-7) }' "$cmp/compare.csv"
done
check "compare.md has a row per config and says what the errors count" \
    test "$(grep -c -e '^| tanh | tanh | 2 |' -e '^| relu | relu | 2 |' "$cmp/compare.md")" -eq 2 -a \
    -n "$(grep 'misclassified samples' "$cmp/compare.md")"
if has_gnuplot; then
    check "compare draws loss.png" is_png "$cmp/loss.png"
    check "compare accuracy.png is a PNG" is_png "$cmp/accuracy.png"
fi
"$ptrain" -q compare "$tmp/tanh.ini" --seeds 1 --name cmp run.results_dir="$res" >/dev/null 2>&1
check "compare never reuses a folder: the same --name gets cmp-2" test -s "$res/cmp-2/compare.csv"
set +e
"$ptrain" compare "$tmp/tanh.ini" "$tmp/missing.ini" run.results_dir="$res" >"$tmp/missing.out" 2>&1
rc=$?
set -e
check "compare with a missing config: exit 2, names the file" \
    test "$rc" -eq 2 -a -n "$(grep 'missing.ini' "$tmp/missing.out")"

# ---- sweep: a 2 x 2 grid
"$ptrain" sweep "$tmp/grid.ini" run.results_dir="$res" >"$tmp/sweep1.out" 2>&1
sw="$res/sweep-grid"
check "sweep runs the 4 points into deterministic folders" \
    test "$(ls "$sw/runs" | tr '\n' ' ')" = "p001-lr0.001-hidden8 p002-lr0.001-hidden16 p003-lr0.01-hidden8 p004-lr0.01-hidden16 "
check "sweep.csv: 4 complete points sorted by test_acc, best first" \
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i }
             NR > 1 { if ($col["status"] != "complete" || (NR > 2 && $col["metric"] > prev)) bad = 1
                      prev = $col["metric"] }
             END { exit !(NR == 5 && !bad) }' "$sw/sweep.csv"
check "sweep.md and best.ini written; best.ini has no [sweep] section" \
    test -s "$sw/sweep.md" -a -s "$sw/best.ini" -a -z "$(grep '^\[sweep\]' "$sw/best.ini" || true)"
if has_gnuplot; then check "sweep draws sweep.png" is_png "$sw/sweep.png"; fi
best=$(awk -F, 'NR == 2 { print $3 }' "$sw/sweep.csv")
"$ptrain" -q "$sw/best.ini" run.results_dir="$tmp/rerun" run.name=best >/dev/null 2>&1
check "best.ini ($best) reproduces the best point's final metrics" \
    test "$(final_row "$tmp/rerun/best/metrics.csv")" = "$(final_row "$sw/runs/$best/metrics.csv")"

before=$(mtime "$sw/runs/p001-lr0.001-hidden8/summary.json")
"$ptrain" sweep "$tmp/grid.ini" run.results_dir="$res" >"$tmp/sweep2.out" 2>&1
check "rerunning the sweep skips all 4 points" \
    test -n "$(grep '0 to run, 4 skipped' "$tmp/sweep2.out")" -a \
    "$(mtime "$sw/runs/p001-lr0.001-hidden8/summary.json")" = "$before"
sed -i 's/"status": "complete"/"status": "failed"/' "$sw/runs/p003-lr0.01-hidden8/summary.json"
touch "$sw/runs/p003-lr0.01-hidden8/stale-file"
"$ptrain" sweep "$tmp/grid.ini" run.results_dir="$res" >"$tmp/sweep3.out" 2>&1
check "a point marked failed is removed and rerun; the others are kept" \
    test -n "$(grep '1 to run' "$tmp/sweep3.out")" -a ! -e "$sw/runs/p003-lr0.01-hidden8/stale-file" -a \
    -n "$(grep '"status": "complete"' "$sw/runs/p003-lr0.01-hidden8/summary.json")" -a \
    "$(mtime "$sw/runs/p001-lr0.001-hidden8/summary.json")" = "$before"

"$ptrain" -q sweep "$tmp/grid.ini" --jobs 2 --name par run.results_dir="$res" >/dev/null 2>&1
check "--jobs 2 ranks the points exactly as one process did (timing aside)" \
    test "$(cut -d, -f1-15 "$res/par/sweep.csv")" = "$(cut -d, -f1-15 "$sw/sweep.csv")"

"$ptrain" -q sweep "$tmp/grid.ini" --name sub sweep.samples=2 run.results_dir="$res" >/dev/null 2>&1
first=$(ls "$res/sub/runs" | tr '\n' ' ')
check "sweep.samples = 2 runs exactly 2 points" test "$(ls "$res/sub/runs" | wc -l)" -eq 2
"$ptrain" sweep "$tmp/grid.ini" --name sub sweep.samples=2 run.results_dir="$res" >"$tmp/sub.out" 2>&1
check "the same 2 points on rerun, both skipped" \
    test "$(ls "$res/sub/runs" | tr '\n' ' ')" = "$first" -a -n "$(grep '0 to run, 2 skipped' "$tmp/sub.out")"

set +e
"$ptrain" sweep "$tmp/tanh.ini" run.results_dir="$res" >"$tmp/nosweep.out" 2>&1
rc=$?
set -e
check "sweep of a config without [sweep]: exit 2, says so" \
    test "$rc" -eq 2 -a -n "$(grep 'no \[sweep\] section' "$tmp/nosweep.out")"

# ---- the pictures and data files of one run
run="$sw/runs/p004-lr0.01-hidden16"
check "a run writes confusion.csv, mistakes.csv/.pgm and class_counts.csv (no PNG: plots off)" \
    test -s "$run/confusion.csv" -a -s "$run/mistakes.csv" -a -s "$run/mistakes.pgm" -a \
    -s "$run/class_counts.csv" -a ! -e "$run/confusion.png"
n_test=$(grep '"n_test"' "$run/summary.json" | tr -dc 0-9)
acc=$(final_row "$run/metrics.csv" | cut -d, -f7)
check "confusion.csv sums to n_test ($n_test)" \
    awk -F, -v n="$n_test" 'NR > 1 { for (i = 2; i <= NF; i++) s += $i } END { exit !(s == n) }' \
    "$run/confusion.csv"
check "confusion.csv diagonal / n_test = final test_acc ($acc)" \
    awk -F, -v n="$n_test" -v a="$acc" 'NR > 1 { d += $(NR) } END { x = d / n - a; exit !(x < 1e-9 && x > -1e-9) }' \
    "$run/confusion.csv"
check "mistakes.csv lists min(48, misclassified) test samples" \
    test "$(tail -n +2 "$run/mistakes.csv" | wc -l)" -eq "$(awk -v n="$n_test" -v a="$acc" \
    'BEGIN { m = int(n * (1 - a) + 0.5); print (m < 48 ? m : 48) }')"
check "class_counts.csv: the train column sums to n_train" \
    test "$(awk -F, 'NR > 1 { s += $2 } END { print s }' "$run/class_counts.csv")" -eq \
    "$(grep '"n_train"' "$run/summary.json" | tr -dc 0-9)"
if has_gnuplot; then
    "$ptrain" -q plot "$run" >/dev/null 2>&1
    check "ptrain plot draws confusion.png" is_png "$run/confusion.png"
    check "ptrain plot draws mistakes.png" is_png "$run/mistakes.png"
    check "ptrain plot draws data.png" is_png "$run/data.png"
    rm "$cmp/loss.png"
    "$ptrain" -q plot "$cmp" >/dev/null 2>&1
    check "ptrain plot redraws a compare folder" is_png "$cmp/loss.png"
fi

summary e2e-experiments
