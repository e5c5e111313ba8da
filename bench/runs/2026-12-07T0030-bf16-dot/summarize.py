"""Summarises the rounds in this directory: per benchmark and dtype the
median of the round medians and the spread (min-max of the round medians),
and the bfloat16 / float32 throughput ratio (time_f32 / time_bf16)."""
import collections
import glob
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
med = collections.defaultdict(list)  # (bench, dtype) -> [round medians]
label = {}
for f in sorted(glob.glob(os.path.join(HERE, "*.round*.json"))):
    dtype = os.path.basename(f).split(".")[0]
    for b in json.load(open(f))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            name = b["run_name"].replace("/real_time", "")
            med[(name, dtype)].append(b["real_time"])
            label[(name, dtype)] = b.get("label", "")
print("| benchmark | float32 ms (spread) | bfloat16 ms (spread) | bf16 / f32 throughput | bf16 path |")
print("| --- | ---: | ---: | ---: | --- |")
for name in dict.fromkeys(n for n, _ in med):
    a, b = med[(name, "float32")], med[(name, "bfloat16")]
    ma, mb = statistics.median(a), statistics.median(b)
    print("| %s | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2f | %s |" % (
        name, ma, min(a), max(a), mb, min(b), max(b), ma / mb, label[(name, "bfloat16")].split()[0]))
