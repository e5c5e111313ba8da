#!/usr/bin/env bash
# Two builds of dcn side by side on the benchmark shapes: each CLI in its
# own process, alternating, ROUNDS rounds of `--repeat 10` (after the tool's
# own warm-up), 2 threads. Prints one line per run and then, per shape, the
# median over rounds (min-max) of each build and the ratio. For "did this
# change the speed?" (the peers' table is bench/peers.py).
#
#   bash bench/compare_builds.sh BEFORE/bin/dcn AFTER/bin/dcn [ROUNDS]
#
# Needs numpy in .venv (bench/make_inputs.py, bench/make_roi_inputs.py).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1
AFTER=$2
ROUNDS=${3:-5}
PY=.venv/bin/python
TMP=${TMPDIR:-/tmp}/dcn_compare_builds
mkdir -p "$TMP"
export HL_NUM_THREADS=${HL_NUM_THREADS:-2}

# name | make_inputs.py flags | dcn flags (the shape table of bench/peers.py)
conv_cases=(
    "c3|--shape 1,128,100,168,128 --mask --bias|--padding 1"
    "c4|--shape 1,256,50,84,256 --mask --bias|--padding 1"
    "c5|--shape 1,512,25,42,512 --mask --bias|--padding 1"
    "c4entry|--shape 1,256,100,168,256 --stride 2 --bias|--padding 1 --stride 2"
    "cls|--shape 8,256,14,14,256 --offset-groups 4 --mask --bias|--padding 1"
    "small|--shape 1,64,56,56,64 --mask --bias|--padding 1"
)
log=$TMP/runs.txt
: > "$log"
for c in "${conv_cases[@]}"; do
    IFS='|' read -r name make flags <<< "$c"
    d=$TMP/$name
    [ -f "$d/input.npy" ] || $PY bench/make_inputs.py $make --out "$d" > /dev/null
    args="--input $d/input.npy --offset $d/offset.npy --weight $d/weight.npy --bias $d/bias.npy"
    [ -f "$d/mask.npy" ] && args="$args --mask $d/mask.npy"
    for r in $(seq "$ROUNDS"); do
        for which in before after; do
            bin=$BEFORE; [ $which = after ] && bin=$AFTER
            echo "$name $which $r $($bin deform-conv2d $args $flags --output "$d/out.npy" --repeat 10 2>&1 | tail -1)" | tee -a "$log"
        done
    done
done
for case in rfcn frcnn; do
    d=$TMP/$case
    $PY bench/make_roi_inputs.py --case $case --out "$d" > "$d.cmd"
    cmd=$(tail -1 "$d.cmd" | sed 's/^dcn //')
    for r in $(seq "$ROUNDS"); do
        for which in before after; do
            bin=$BEFORE; [ $which = after ] && bin=$AFTER
            echo "$case $which $r $($bin $cmd 2>&1 | tail -1)" | tee -a "$log"
        done
    done
done
$PY - "$log" <<'PYEOF'
import re, statistics, sys, collections
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) (before|after) \d+ median_ms=([\d.]+)", line)
    if m:
        runs[m.group(1)][m.group(2)].append(float(m.group(3)))
print("| case | before ms, median (min-max) | after ms | after / before |")
print("| --- | --- | --- | --- |")
for name, r in runs.items():
    b, a = r["before"], r["after"]
    print(f"| {name} | {statistics.median(b):.2f} ({min(b):.2f}-{max(b):.2f}) | "
          f"{statistics.median(a):.2f} ({min(a):.2f}-{max(a):.2f}) | {statistics.median(a) / statistics.median(b):.3f} |")
PYEOF
