#!/usr/bin/env bash
# End-to-end checks of the ptrain binary on MNIST (make data), run from the
# repository root: the smoke config writes a complete run folder; rerunning
# its config.ini, or running it with other thread counts and placements,
# reproduces the metrics and model.bin bit for bit; every error path exits
# with its documented code and a useful message; `ptrain keys` matches
# configs/reference.ini. Every run writes into a temporary results folder.
# Usage: tests/e2e.sh [PTRAIN]   (default ./ptrain)
set -euo pipefail
ptrain=${1:-./ptrain}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
res="$tmp/results"
. "$(dirname "${BASH_SOURCE[0]}")/check.sh"

# run NAME ARGS...: ptrain ARGS, stdout+stderr to $tmp/NAME.log, exit status to $tmp/NAME.rc.
run() {
    local name=$1
    shift
    set +e
    "$ptrain" "$@" >"$tmp/$name.log" 2>&1
    echo $? >"$tmp/$name.rc"
    set -e
}
rc_is() { test "$(cat "$tmp/$1.rc")" -eq "$2"; }
log_has() { grep -qF -- "$2" "$tmp/$1.log"; }
# exits NAME CODE FRAGMENT...: exit status CODE and every fragment in the output.
exits() {
    local name=$1 code=$2
    shift 2
    rc_is "$name" "$code" || { echo "     exit $(cat "$tmp/$name.rc"), expected $code:"; sed 's/^/     | /' "$tmp/$name.log"; return 1; }
    for f in "$@"; do
        log_has "$name" "$f" || { echo "     no '$f' in:"; sed 's/^/     | /' "$tmp/$name.log"; return 1; }
    done
}
# Metrics without the timing columns (seconds, samples_per_sec), chosen by header name.
metrics() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = $i != "seconds" && $i != "samples_per_sec" }
             { line = ""; for (i = 1; i <= NF; i++) if (keep[i]) line = line (line == "" ? "" : ",") $i; print line }' "$1"
}
same_run() { # dir_a dir_b: identical metrics (minus timing) and identical model.bin
    test -s "$1/metrics.csv" -a -s "$2/metrics.csv" -a -s "$1/model.bin" -a -s "$2/model.bin" || return 1
    cmp -s <(metrics "$1/metrics.csv") <(metrics "$2/metrics.csv") && cmp -s "$1/model.bin" "$2/model.bin"
}
same_file() { # a b: identical, else show the start of the difference
    cmp -s "$1" "$2" || { diff "$1" "$2" | head -n 10 | sed 's/^/     | /'; return 1; }
}
is_png() { test "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a"; }
json_has() { grep -qE -- "$2" "$1"; }

if [ ! -s data/mnist/train-images-idx3-ubyte ] || [ ! -s data/mnist/t10k-labels-idx1-ubyte ]; then
    echo "FAIL MNIST is missing in data/mnist (run make data)"
    echo "e2e: 0 passed, 1 failed"
    exit 1
fi

results_before=$(ls -A results 2>/dev/null || true)

# ---- (a) the smoke run writes a complete folder ---------------------------------
run smoke configs/smoke.ini run.results_dir="$res" run.name=smoke
dir="$res/smoke"
check "smoke run exits 0" exits smoke 0
check "config.ini written" test -s "$dir/config.ini"
check "metrics.csv: header + 2 rows" \
    test "$(head -n 1 "$dir/metrics.csv" | cut -d, -f1)" = epoch -a "$(wc -l <"$dir/metrics.csv")" -eq 3
check "summary.json says complete" json_has "$dir/summary.json" '"status": *"complete"'
check "model.bin written" test -s "$dir/model.bin"
if command -v gnuplot >/dev/null; then
    check "loss.png is a PNG" is_png "$dir/loss.png"
else
    echo "skip loss.png (gnuplot not installed)"
fi
check "no temporary files left" test -d "$dir" -a -z "$(find "$dir" -name '*.tmp.*')"

# ---- (b) rerunning the written config.ini reproduces the run ---------------------
# Same name, same results_dir: the taken name gets a -2 suffix.
run rerun "$dir/config.ini"
check "rerun of config.ini exits 0" exits rerun 0
check "rerun lands in smoke-2/" test -d "$res/smoke-2"
check "rerun reproduces metrics and model.bin" same_run "$dir" "$res/smoke-2"

# ---- (c) thread counts and placements do not change a bit -----------------------
# 7 and 16 threads exceed the cores of a small machine on purpose; oversubscribe
# makes ptrain run them instead of capping the count.
base=(configs/smoke.ini run.results_dir="$res" run.plots=false)
OMP_NUM_THREADS=1 run t1 "${base[@]}" run.name=t1
check "1 thread: exits 0" exits t1 0
for n in 2 7 16; do
    OMP_NUM_THREADS=$n run "t$n" "${base[@]}" run.name="t$n" run.oversubscribe=true
    check "$n threads: ran with $n threads" json_has "$res/t$n/summary.json" "\"threads\": *$n,"
    check "$n threads: metrics and model.bin identical to 1 thread" same_run "$res/t1" "$res/t$n"
done
for bind in none scatter; do
    OMP_NUM_THREADS=2 PTRAIN_BIND=$bind run "b$bind" "${base[@]}" run.name="b$bind"
    check "PTRAIN_BIND=$bind: bind recorded in config.ini" grep -qx "bind = $bind" "$res/b$bind/config.ini"
    check "PTRAIN_BIND=$bind: identical to 1 thread" same_run "$res/t1" "$res/b$bind"
done
check "smoke and 1-thread runs agree too" same_run "$dir" "$res/t1"
# Gradients are summed over the whole batch in sample order, so the shard
# size (how a batch is cut for the forward phase) does not change the weights.
# The loss column may differ in its last bits (summed per shard), so only
# the weights are compared.
OMP_NUM_THREADS=2 run shard5 "${base[@]}" run.name=shard5 train.shard=5
check "train.shard=5: model.bin identical to the default shard" cmp -s "$res/t1/model.bin" "$res/shard5/model.bin"

# ---- (d) error paths: exit code and message ----------------------------------------
run missing_cfg "$tmp/no-such.ini"
check "missing config: exit 2, names the file" exits missing_cfg 2 "$tmp/no-such.ini"

printf '[train]\nbatch = 32\nlr_rate = 0.1\n' >"$tmp/typo.ini"
run typo "$tmp/typo.ini"
check "unknown key: exit 2, file:line and 'did you mean'" exits typo 2 "$tmp/typo.ini:3" "lr_rate" "did you mean 'lr'"

run bad_override configs/smoke.ini train.lr=fast run.results_dir="$res"
check "bad override value: exit 2, names key and value" exits bad_override 2 "train.lr" "fast"

run bad_enum configs/smoke.ini model.activation=tahn run.results_dir="$res"
check "bad enum value: exit 2, suggests tanh" exits bad_enum 2 "tahn" "tanh"

run missing_data configs/smoke.ini data.train_images="$tmp/nowhere-idx3-ubyte" run.results_dir="$res"
check "missing data file: exit 3, names the path" exits missing_data 3 "$tmp/nowhere-idx3-ubyte"

head -c 5000 data/mnist/t10k-images-idx3-ubyte >"$tmp/truncated-idx3-ubyte"
run truncated configs/smoke.ini data.test_images="$tmp/truncated-idx3-ubyte" run.results_dir="$res"
check "truncated IDX: exit 3, names the file and byte 5000" exits truncated 3 "$tmp/truncated-idx3-ubyte" "5000"

# SGD with weight decay: w <- (1 - lr*wd) w - lr g, a factor of -99 per step
# at lr 100, wd 1, so the weights overflow to inf within ~20 steps and the
# loss becomes NaN. (train.lr is capped at 100 by the config, so a bigger
# rate alone cannot be asked for.)
run diverge configs/smoke.ini train.optimizer=sgd train.lr=100 train.weight_decay=1 \
    run.results_dir="$res" run.name=diverge run.plots=false
check "divergence: exit 1, message says diverged" exits diverge 1 "diverged"
check "divergence: summary.json status failed" json_has "$res/diverge/summary.json" '"status": *"failed"'
check "divergence: summary.json message says diverged" json_has "$res/diverge/summary.json" '"message": *"[^"]*diverged'
check "divergence: metrics.csv header only, no model.bin" \
    test "$(wc -l <"$res/diverge/metrics.csv")" -eq 1 -a ! -e "$res/diverge/model.bin"

touch "$tmp/plain-file"
run unwritable configs/smoke.ini run.results_dir="$tmp/plain-file/results"
check "results_dir under a file: exit 3, names it" exits unwritable 3 "$tmp/plain-file"
if [ "$(id -u)" -ne 0 ]; then # root writes through permissions; only a user can test them
    mkdir "$tmp/readonly" && chmod 555 "$tmp/readonly"
    run readonly configs/smoke.ini run.results_dir="$tmp/readonly/results"
    check "read-only results_dir: exit 3, names it" exits readonly 3 "$tmp/readonly"
    chmod 755 "$tmp/readonly"
fi

# ---- (e) the key reference is current ---------------------------------------------------
"$ptrain" keys >"$tmp/keys.ini"
check "ptrain keys equals configs/reference.ini" same_file "$tmp/keys.ini" configs/reference.ini

# ---- (f) the command line -------------------------------------------------------------
run help --help
check "--help: exit 0, prints usage" exits help 0 "usage: ptrain"
run badopt --no-such-option
check "unknown option: exit 2, names it" exits badopt 2 "--no-such-option"
run nocmd frobnicate
check "unknown command: exit 2" exits nocmd 2 "frobnicate"
run noargs
check "no arguments: exit 2, usage" exits noargs 2 "usage"

check "nothing written to results/" test "$(ls -A results 2>/dev/null)" = "$results_before"

summary e2e
