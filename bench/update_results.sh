#!/usr/bin/env bash
# Re-measures what bench/RESULTS.md shows and redraws bench/results.png:
# RUNS runs of bench/peers.py (default 3, each waiting for a quiet machine
# first), merged (median per shape and implementation), plus one run of the
# Google Benchmark suites. Raw results go to build/bench-runs/<UTC date>/
# (OUT_ROOT; commit only a summary to bench/runs/); the
# tables between the <!-- ...:begin --> / <!-- ...:end --> markers of
# bench/RESULTS.md are replaced; the prose around them is not (read it again).
#
#   bash bench/setup.sh && bash bench/update_results.sh
#   RUNS=5 BUILD=build-bench bash bench/update_results.sh
#   BUILD=/tmp/dcn-head/build DCN_COMMIT=abc1234 bash bench/update_results.sh
#       (a build of a clean `git archive abc1234`, not of this tree)
#   FROM=build/bench-runs/<date> bash bench/update_results.sh
#       (no measuring: re-merge, redraw and refill from an earlier measurement)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
BUILD=${BUILD:-build}
PY=.venv-bench/bin/python
BIN=$BUILD/bin
[ -n "${FROM:-}" ] || [ -x "$BIN/dcn" ] || { echo "update_results.sh: no $BIN/dcn: build first (README.md)" >&2; exit 1; }
[ -x "$PY" ] || { echo "update_results.sh: no $PY: run bash bench/setup.sh" >&2; exit 1; }

if [ -n "${FROM:-}" ]; then
    out=$FROM  # only re-merge, redraw and refill from an earlier measurement
else
    # Raw outputs stay out of the tree (bench/runs/README.md): under build/.
    out=${OUT_ROOT:-build/bench-runs}/$(date -u +%Y-%m-%dT%H%M)
    mkdir -p "$out"
    for i in $(seq "$RUNS"); do
        echo "update_results.sh: peers.py run $i of $RUNS -> $out/peers$i.json"
        "$PY" bench/peers.py --dcn-bin "$BIN/dcn" ${DCN_COMMIT:+--dcn-commit "$DCN_COMMIT"} --wait-quiet 900 \
            --json "$out/peers$i.json" >"$out/peers$i.txt"
    done
fi
"$PY" bench/peers.py --merge "$out"/peers[0-9]*.json --json "$out/merged.json" --markdown "$out/peers.md" \
    --roofline-markdown "$out/roofline.md" >/dev/null
"$PY" bench/plot_results.py "$out"/peers[0-9]*.json --out bench/results.png

if [ -z "${FROM:-}" ] && [ -x "$BIN/dcn_bench_conv" ]; then
    peak=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["peak_gflops"])' "$out/merged.json")
    wait_quiet() { "$PY" -c 'import sys; sys.path.insert(0, "bench"); import peers; peers.wait_quiet(900, print)'; }
    wait_quiet
    HL_NUM_THREADS=2 "$BIN/dcn_bench_conv" --threads 2 --peak-gflops "$peak" \
        --benchmark_out="$out/gbench_conv.json" --benchmark_out_format=json >"$out/gbench_conv.txt" 2>&1
    wait_quiet
    HL_NUM_THREADS=2 "$BIN/dcn_bench_roi" --threads 2 \
        --benchmark_out="$out/gbench_roi.json" --benchmark_out_format=json >"$out/gbench_roi.txt" 2>&1
fi
if [ -f "$out/gbench_conv.json" ]; then
    "$PY" bench/gbench_table.py "$out"/gbench_conv.json "$out"/gbench_roi.json >"$out/gbench.md"
fi

# Replace the generated sections of RESULTS.md.
"$PY" - "$out" <<'PYEOF'
import os, re, sys
out = sys.argv[1]
path = "bench/RESULTS.md"
text = open(path).read()
for name, file in (("peers", "peers.md"), ("roofline", "roofline.md"), ("gbench", "gbench.md")):
    p = os.path.join(out, file)
    if not os.path.exists(p):
        continue
    body = open(p).read().strip()
    body += "\n\nRaw results: `%s/`.\n" % out
    text, n = re.subn(r"(<!-- %s:begin -->\n).*?(<!-- %s:end -->)" % (name, name),
                      lambda m: m.group(1) + body + "\n" + m.group(2), text, flags=re.S)
    if n != 1:
        sys.exit("update_results.sh: no <!-- %s:begin/end --> markers in %s" % (name, path))
open(path, "w").write(text)
print("update_results.sh: updated %s and bench/results.png from %s" % (path, out))
PYEOF
