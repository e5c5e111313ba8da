"""Merging runs and writing the tables (markdown, JSON, the roofline)."""
import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from .config import *  # noqa: F401,F403 (the shared constants)


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def merge(runs):
    """Several runs' results -> one: per shape and implementation, the median
    of the runs' median times (GFLOP/s recomputed from it); checks: the
    largest difference and every run's verdict."""
    if len(runs) == 1:
        return runs[0]
    out = json.loads(json.dumps(runs[0]))
    out["merged_from"] = [{"date": r["date"], "dcn_commit": r["dcn_commit"], "dcn_dirty": r.get("dcn_dirty"),
                           "dcn_source_fingerprint": r.get("dcn_source_fingerprint"),
                           "fma_peak_gflops": r.get("fma_peak_gflops"), "loadavg": r.get("loadavg"),
                           "foreign_cpus": r.get("foreign_cpus")} for r in runs]
    loads = [r.get("foreign_cpus") for r in runs]
    out["foreign_cpus"] = None if None in loads else max(loads)
    out["date"] = max(r["date"] for r in runs)
    out["fma_peak_gflops"] = [v for r in runs for v in (r.get("fma_peak_gflops") or []) if v]
    if not any(r.get("peak_from_flag") for r in runs):
        out["peak_gflops"] = max(out["fma_peak_gflops"], default=out.get("peak_gflops"))
    for i, row in enumerate(out["conv"]):
        rows = [r["conv"][i] for r in runs]
        assert all(r["name"] == row["name"] for r in rows), "runs have different shape tables"
        for k in row["impls"]:
            ms = statistics.median(r["impls"][k]["median_ms"] for r in rows)
            row["impls"][k] = {"median_ms": ms, "gflops": row["flops"] / ms / 1e6,
                               "runs_median_ms": [r["impls"][k]["median_ms"] for r in rows]}
        loads = [r.get("foreign_cpus") for r in rows]
        row["foreign_cpus"] = None if None in loads else max(loads)
        for k in row["checks"]:
            vals = [r["checks"][k]["max_abs_diff"] for r in rows]
            row["checks"][k] = {"max_abs_diff": None if None in vals else max(vals),
                                "allclose": all(r["checks"][k]["allclose"] for r in rows)}
    if out.get("roi"):
        for case in ("frcnn", "rfcn"):
            c = out["roi"][case]
            for k in list(c["impls"]):
                vals = [r["roi"][case]["impls"][k]["median_ms"] for r in runs if k in r["roi"][case]["impls"]]
                ms = statistics.median(vals)
                c["impls"][k] = {"median_ms": ms, "gsamples": c["samples"] / ms / 1e6, "runs_median_ms": vals}
            loads = [r["roi"][case].get("foreign_cpus") for r in runs]
            c["foreign_cpus"] = None if None in loads else max(loads)
            if "check_roi_align" in c:
                vals = [r["roi"][case]["check_roi_align"] for r in runs if "check_roi_align" in r["roi"][case]]
                c["check_roi_align"] = {"max_abs_diff": max(v["max_abs_diff"] for v in vals),
                                        "allclose": all(v["allclose"] for v in vals)}
    return out


def summarize(res):
    """Ratios, geometric means and the issue's targets."""
    rows = res["conv"]
    peak = res.get("peak_gflops")
    s = {"ratios": {}, "geomean": {}, "targets": []}
    for row in rows:
        g = {k: v["gflops"] for k, v in row["impls"].items()}
        s["ratios"][row["name"]] = {
            "dcn/torchvision": g["dcn"] / g["torchvision"],
            "dcn/onnxruntime": g["dcn"] / g["onnxruntime"],
            "dcn/conv2d": g["dcn"] / g["conv2d"],
            "dcn/conv2d_nhwc": g["dcn"] / g["conv2d_nhwc"],
            "dcn_of_peak": g["dcn"] / peak if peak else None,
        }
    for k in ["dcn/torchvision", "dcn/onnxruntime", "dcn/conv2d", "dcn/conv2d_nhwc"]:
        s["geomean"][k] = geomean([r[k] for r in s["ratios"].values()])
    for impl in IMPLS:
        s["geomean"][impl + "_gflops"] = geomean([row["impls"][impl]["gflops"] for row in rows])

    def target(what, value, goal, met, at_peak=None):
        s["targets"].append({"target": what, "value": value, "goal": goal, "met": bool(met), "at_peak": at_peak})

    def at_peak(peer):
        """The ratio dcn would have if it ran at the FP32 peak on every shape."""
        return geomean([peak / row["impls"][peer]["gflops"] for row in rows]) if peak else None

    gm = s["geomean"]
    target("dcn / conv2d (oneDNN), geometric mean", gm["dcn/conv2d"], ">= 0.9", gm["dcn/conv2d"] >= 0.9,
           at_peak("conv2d"))
    worst = min(s["ratios"].items(), key=lambda kv: kv[1]["dcn/conv2d"])
    target("dcn / conv2d (oneDNN), lowest shape (%s)" % worst[0], worst[1]["dcn/conv2d"], ">= 0.75",
           worst[1]["dcn/conv2d"] >= 0.75)
    target("dcn / torchvision, geometric mean", gm["dcn/torchvision"], ">= 10", gm["dcn/torchvision"] >= 10,
           at_peak("torchvision"))
    target("dcn / onnxruntime, geometric mean", gm["dcn/onnxruntime"], ">= 1.5", gm["dcn/onnxruntime"] >= 1.5,
           at_peak("onnxruntime"))
    if peak:
        for row in rows:
            if row["K"] >= 256:
                f = s["ratios"][row["name"]]["dcn_of_peak"]
                target("fraction of FP32 peak, %s" % row["name"], f, ">= 0.75", f >= 0.75)
    fr = (res.get("roi") or {}).get("frcnn")
    if fr and "roi_align" in fr["impls"]:
        ra = fr["impls"]["roi_align"]["gsamples"]
        for k, label in (("dcn", "without offset"), ("dcn_offset", "with offset")):
            if k in fr["impls"]:
                v = fr["impls"][k]["gsamples"] / ra
                s.setdefault("roi_ratios", {})[k + "/roi_align"] = v
                target("deform_roi_pool (%s) / roi_align, Faster R-CNN-like" % label, v, ">= 3", v >= 3)
    return s


def roofline_rows(res):
    """Per shape: FLOPs against bytes. 'unique' = every tensor read or written
    once (input, offsets, mask, weights, output); 'gathered' = the 4 bilinear
    neighbours of every column element C x 9 x oH x oW, read from cache."""
    rows = []
    peak = res.get("peak_gflops")
    for row in res["conv"]:
        N, C, H, W, K, oH, oW, G = (row[k] for k in ("N", "C", "H", "W", "K", "oH", "oW", "offset_groups"))
        taps = 9
        unique = 4 * (N * C * H * W + N * 2 * G * taps * oH * oW + (N * G * taps * oH * oW if row["mask"] else 0)
                      + K * C * taps + N * K * oH * oW)
        gathered = 4 * 4 * N * C * taps * oH * oW
        rows.append({"name": row["name"], "gflop": row["flops"] / 1e9, "unique_mb": unique / 1e6,
                     "flop_per_unique_byte": row["flops"] / unique, "gathered_mb": gathered / 1e6,
                     "flop_per_gathered_byte": row["flops"] / gathered,
                     "interp_flop_share": 8.0 * N * C * taps * oH * oW / row["flops"],
                     "dcn_gflops": row["impls"]["dcn"]["gflops"],
                     "of_peak": row["impls"]["dcn"]["gflops"] / peak if peak else None,
                     "conv2d_nhwc_of_peak": row["impls"]["conv2d_nhwc"]["gflops"] / peak if peak else None})
    return rows


def fmt(v, digits=1):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return "%.*f" % (digits, v)


def markdown(res):
    s = summarize(res)
    m = res["machine"]
    L = []
    L.append("Measured %s on %s (cpu family %s model %s, %s logical CPUs), %d threads for everyone; "
             "dcn %s%s; torch %s, torchvision %s, onnxruntime %s, numpy %s." % (
                 res["date"], m.get("cpu_model"), m.get("cpu_family"), m.get("cpu_model_number"),
                 m.get("usable_cpus", m.get("logical_cpus")), res["threads"], res["dcn_commit"],
                 " + uncommitted changes (source fingerprint %s)" % ", ".join(sorted(set(
                     r.get("dcn_source_fingerprint") or "?" for r in res.get("merged_from") or [res])))
                 if res.get("dcn_dirty") else "",
                 res["versions"].get("torch"), res["versions"].get("torchvision"),
                 res["versions"].get("onnxruntime"), res["versions"].get("numpy")))
    L.append("")
    L.append("FP32 FMA peak measured by `fma_peak` at the start and end of each run: %s GFLOP/s; other processes "
             "used at most %s CPUs during a round of measurements that was kept%s." % (
                 ", ".join(fmt(p) for p in res.get("fma_peak_gflops") or []), fmt(res.get("foreign_cpus"), 2),
                 " (in any of the merged runs)" if res.get("merged_from") else ""))
    if (res.get("foreign_cpus") or 0) > QUIET_CPUS:
        L.append("")
        L.append("**Warning: other processes used up to %.2f CPUs while this was measured; the timings (and the "
                 "ratios: peers that synchronise threads lose more to it) are not trustworthy.**" %
                 res["foreign_cpus"])
    if res.get("merged_from"):
        L.append("")
        L.append("Median of %d runs of `bench/peers.py` (each: %d rounds; per round dcn and conv2d %d timed calls, "
                 "onnxruntime %d, torchvision %d)." % (len(res["merged_from"]), res["rounds"], res["reps"],
                                                        max(2, res["reps"] // 2), max(2, res["reps"] // 4)))
    L.append("")
    L.append("GFLOP/s (2*N*K*C*9*oH*oW / median time; higher is better):")
    L.append("")
    L.append("| shape | dcn | torchvision | onnxruntime | conv2d NCHW | conv2d NHWC | dcn/tv | dcn/ort | dcn/conv2d "
             "| dcn/conv2d NHWC | dcn of peak |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in res["conv"]:
        g = {k: v["gflops"] for k, v in row["impls"].items()}
        r = s["ratios"][row["name"]]
        L.append("| `%s` | **%s** | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row["name"], fmt(g["dcn"]), fmt(g["torchvision"]), fmt(g["onnxruntime"]), fmt(g["conv2d"]),
            fmt(g["conv2d_nhwc"]), fmt(r["dcn/torchvision"]), fmt(r["dcn/onnxruntime"], 2),
            fmt(r["dcn/conv2d"], 2), fmt(r["dcn/conv2d_nhwc"], 2),
            "%.0f%%" % (100 * r["dcn_of_peak"]) if r["dcn_of_peak"] else "-"))
    gm = s["geomean"]
    L.append("| geometric mean | **%s** | %s | %s | %s | %s | %s | %s | %s | %s | |" % (
        fmt(gm["dcn_gflops"]), fmt(gm["torchvision_gflops"]), fmt(gm["onnxruntime_gflops"]),
        fmt(gm["conv2d_gflops"]), fmt(gm["conv2d_nhwc_gflops"]), fmt(gm["dcn/torchvision"]),
        fmt(gm["dcn/onnxruntime"], 2), fmt(gm["dcn/conv2d"], 2), fmt(gm["dcn/conv2d_nhwc"], 2)))
    L.append("")
    L.append("Median milliseconds per call:")
    L.append("")
    L.append("| shape | GFLOP | dcn | torchvision | onnxruntime | conv2d NCHW | conv2d NHWC "
             "| max abs diff tv vs dcn | ort vs dcn | other processes' CPUs | dcn, each run |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for row in res["conv"]:
        t = {k: v["median_ms"] for k, v in row["impls"].items()}
        c = row["checks"]

        def chk(k):
            return "%.1e%s" % (c[k]["max_abs_diff"], "" if c[k]["allclose"] else " (FAIL)")
        each = row["impls"]["dcn"].get("runs_median_ms") or row["impls"]["dcn"].get("runs_ms") or []
        L.append("| `%s` | %.2f | %.2f | %.1f | %.1f | %.2f | %.2f | %s | %s | %s | %s |" % (
            row["name"], row["flops"] / 1e9, t["dcn"], t["torchvision"], t["onnxruntime"], t["conv2d"],
            t["conv2d_nhwc"], chk("torchvision"), chk("onnxruntime"), fmt(row.get("foreign_cpus"), 2),
            " ".join("%.2f" % v for v in each)))
    L.append("")
    L.append("'other processes' CPUs': how many CPUs other processes (and the hypervisor) kept busy while the row "
             "was measured (the largest over merged runs): 0 on a quiet machine. 'dcn, each run': the median "
             "milliseconds of each merged run (of each round, for a single run).")
    L.append("conv2d ran through: %s. Outputs agree when max abs diff <= 1e-4 + 1e-4 * |dcn| everywhere "
             "(numpy.allclose)." % ", ".join(sorted({row["conv2d_backend"] for row in res["conv"]})))
    roi = res.get("roi")
    if roi:
        fr, rf = roi["frcnn"], roi["rfcn"]
        L.append("")
        L.append("RoI pooling (Gsamples/s = bilinear samples per second / 1e9):")
        L.append("")
        L.append("| case | implementation | median ms | Gsamples/s | vs roi_align |")
        L.append("| --- | --- | ---: | ---: | ---: |")
        desc = "Faster R-CNN-like: %d RoIs, 1x%dx%dx%d, %dx%d bins, sampling_ratio %d, scale 1/16" % (
            fr["R"], fr["C"], fr["H"], fr["W"], fr["P"], fr["P"], fr["sampling_ratio"])
        ra = fr["impls"].get("roi_align", {}).get("gsamples")
        for k, label in (("dcn", "dcn deform_roi_pool, no offset"),
                         ("dcn_offset", "dcn deform_roi_pool, with offset (gamma %g)" % fr["gamma"]),
                         ("roi_align", "torchvision.ops.roi_align (aligned=True)")):
            if k in fr["impls"]:
                v = fr["impls"][k]
                L.append("| %s | %s | %.2f | %.3f | %s |" % (desc, label, v["median_ms"], v["gsamples"],
                                                             "%.2fx" % (v["gsamples"] / ra) if ra else "-"))
        if "dcn" in rf["impls"]:
            v = rf["impls"]["dcn"]
            L.append("| R-FCN-like: %d RoIs, 1x%dx%dx%d, output_dim %d, group_size %d, %dx%d bins, "
                     "sample_per_part %d, trans_std %g, with trans | dcn deform_psroi_pool | %.2f | %.3f | |" % (
                         rf["R"], rf["C"], rf["H"], rf["W"], rf["output_dim"], rf["group_size"], rf["P"], rf["P"],
                         rf["sample_per_part"], rf["trans_std"], v["median_ms"], v["gsamples"]))
        for case in (fr, rf):
            if case.get("dcn_error"):
                L.append("")
                L.append("dcn failed on a RoI case: `%s`" % case["dcn_error"])
        if "check_roi_align" in fr:
            c = fr["check_roi_align"]
            L.append("")
            L.append("dcn deform_roi_pool without offset vs roi_align(aligned=True): max abs diff %.1e (%s)." % (
                c["max_abs_diff"], "agree" if c["allclose"] else "DISAGREE"))
    L.append("")
    L.append("Targets of the issue (2 threads):")
    L.append("")
    L.append("| target | measured | goal | | if dcn ran at the FP32 peak on every shape |")
    L.append("| --- | ---: | --- | --- | ---: |")
    for t in s["targets"]:
        L.append("| %s | %.3f | %s | %s | %s |" % (t["target"], t["value"], t["goal"],
                                                   "met" if t["met"] else "**missed**", fmt(t.get("at_peak"), 2)))
    L.append("")
    return "\n".join(L)


def roofline_markdown(res):
    L = ["| shape | GFLOP | unique MB | FLOP / unique byte | gathered MB | FLOP / gathered byte "
         "| interpolation FLOPs / GEMM FLOPs | dcn GFLOP/s | dcn of peak | conv2d NHWC of peak |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in roofline_rows(res):
        pct = lambda v: "%.0f%%" % (100 * v) if v else "-"
        L.append("| `%s` | %.2f | %.1f | %.0f | %.0f | %.0f | %.1f%% | %.1f | %s | %s |" % (
            r["name"], r["gflop"], r["unique_mb"], r["flop_per_unique_byte"], r["gathered_mb"],
            r["flop_per_gathered_byte"], 100 * r["interp_flop_share"], r["dcn_gflops"],
            pct(r["of_peak"]), pct(r["conv2d_nhwc_of_peak"])))
    return "\n".join(L) + "\n"


def print_table(res, out=sys.stdout):
    print(markdown(res), file=out)
    print("Roofline (peak %s GFLOP/s):" % fmt(res.get("peak_gflops")), file=out)
    print(roofline_markdown(res), file=out)


def write_outputs(res, args):
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(res))
    if args.roofline_markdown:
        with open(args.roofline_markdown, "w") as f:
            f.write("FP32 peak: %s GFLOP/s (build/bin/fma_peak, the highest of the runs' measurements).\n\n" %
                    fmt(res.get("peak_gflops")))
            f.write(roofline_markdown(res))

