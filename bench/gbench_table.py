#!/usr/bin/env python3
"""Markdown table of Google Benchmark results (dcn_bench_conv, dcn_bench_roi
run with --benchmark_out=FILE.json): each case's median over repetitions.

    python3 bench/gbench_table.py CONV.json [ROI.json ...]
"""
import json
import sys


def rows(path):
    data = json.load(open(path))
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        rate = b.get("FLOPS") or b.get("samples")
        unit = "GFLOP/s" if "FLOPS" in b else "Gsamples/s"
        yield (b["run_name"].replace("/real_time", ""), b["real_time"], b["time_unit"], rate / 1e9, unit, b.get("of_peak"),
               b.get("repetitions"), b.get("label", ""), data["context"])


def main():
    print("| case | median time | rate | of peak | repetitions | path |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    context = None
    for path in sys.argv[1:]:
        for name, t, unit, rate, rate_unit, of_peak, reps, label, context in rows(path):
            print("| `%s` | %.2f %s | %.*f %s | %s | %s | %s |" % (
                name, t, unit, 1 if rate_unit == "GFLOP/s" else 3, rate, rate_unit, "%.0f%%" % (100 * of_peak) if of_peak else "", reps, label))
    if context:
        print()
        print("Google Benchmark context: %s, %s CPUs at %s MHz (as reported), dcn_threads %s, "
              "Google Benchmark library build type %s (Debian's libbenchmark; it does not affect the timed code)." % (context.get("date", "?"), context.get("num_cpus"),
                                          context.get("mhz_per_cpu"), context.get("dcn_threads"),
                                          context.get("library_build_type")))


if __name__ == "__main__":
    main()
