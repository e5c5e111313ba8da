#!/usr/bin/env python3
"""Bar chart of bench/peers.py results: GFLOP/s per shape for dcn,
torchvision, onnxruntime and torch conv2d (oneDNN), with the FP32 peak.

    .venv-bench/bin/python bench/plot_results.py RUN.json [RUN2.json ...] [--out bench/results.png]

Several runs are merged as `peers.py --merge` does (median per shape and
implementation). Needs matplotlib (bench/setup.sh installs Debian's).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from peers import merge, summarize  # noqa: E402

SERIES = [  # (key, label, colour, hatch)
    ("dcn", "dcn", "#d62728", None),
    ("torchvision", "torchvision deform_conv2d", "#7f7f7f", None),
    ("onnxruntime", "onnxruntime DeformConv", "#1f77b4", None),
    ("conv2d", "torch conv2d, oneDNN, NCHW (no deformation)", "#2ca02c", None),
    ("conv2d_nhwc", "torch conv2d, oneDNN, channels_last (no deformation)", "#98df8a", "//"),
]


def cpu_name(m):
    name = m.get("cpu_model") or "unknown CPU"
    if m.get("cpu_family"):
        name += " (family %s model %s)" % (m["cpu_family"], m.get("cpu_model_number"))
    return name


def label(row):
    extra = []
    if row["stride"] != 1:
        extra.append("stride %d" % row["stride"])
    if row["offset_groups"] != 1:
        extra.append("%d offset groups" % row["offset_groups"])
    extra.append("DCNv2" if row["mask"] else "DCNv1")
    return "%s\n%dx%dx%dx%d -> %d\n%s" % (row["name"].split("_")[0], row["N"], row["C"], row["H"], row["W"],
                                         row["K"], ", ".join(extra))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="JSON files written by bench/peers.py --json")
    ap.add_argument("--out", default=os.path.join(HERE, "results.png"))
    a = ap.parse_args()
    res = merge([json.load(open(p)) for p in a.runs])
    rows = res["conv"]
    s = summarize(res)
    n, width = len(SERIES), 0.16
    fig, ax = plt.subplots(figsize=(12, 5.6), dpi=90)
    for i, (key, name, colour, hatch) in enumerate(SERIES):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(rows))]
        ys = [row["impls"][key]["gflops"] for row in rows]
        bars = ax.bar(xs, ys, width, label=name, color=colour, hatch=hatch, edgecolor="white", linewidth=0.5)
        for b, y in zip(bars, ys):
            ax.text(b.get_x() + b.get_width() / 2, y + 2, "%.0f" % y, ha="center", va="bottom",
                    fontsize=7.5, fontweight="bold" if key == "dcn" else "normal")
    peak = res.get("peak_gflops")
    if peak:
        ax.axhline(peak, color="black", linestyle="--", linewidth=1,
                   label="FP32 FMA peak, %d cores (fma_peak): %.0f GFLOP/s" % (res["threads"], peak))
        ax.set_ylim(0, peak * 1.3)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([label(r) for r in rows], fontsize=8.5)
    ax.set_ylabel("GFLOP/s (higher is better)")
    gm = s["geomean"]
    runs = len(res.get("merged_from") or [res])
    ax.set_title("deform_conv2d forward, 3x3, float32, %d threads: %s, %s (median of %d run%s)\n"
                 "geometric means: dcn / conv2d NCHW %.2f, dcn / torchvision %.1f, dcn / onnxruntime %.2f" % (
                     res["threads"], cpu_name(res["machine"]), res["date"][:10], runs,
                     "s" if runs > 1 else "", gm["dcn/conv2d"], gm["dcn/torchvision"], gm["dcn/onnxruntime"]),
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left", ncol=3, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.tight_layout()
    fig.savefig(a.out)
    print("wrote %s (%d bytes)" % (a.out, os.path.getsize(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
