"""Deformable RoI pooling: dcn against torchvision.ops.roi_align, and dcn psroi throughput."""
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
from .machine import quiet_round, max_load
from .conv import run_dcn, timed_runs, diff


def roi_inputs(case, d):
    """The inputs of a RoI case as bench/make_roi_inputs.py writes them (the
    same files its printed `dcn` command uses), loaded back."""
    import numpy as np
    subprocess.run([sys.executable, os.path.join(HERE, "make_roi_inputs.py"), "--case", case, "--out", d],
                   check=True, capture_output=True)
    return {f[:-4]: np.load(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".npy")}


def bench_roi(args, tmp, log):
    import numpy as np
    import torch
    import torchvision

    c = FRCNN
    R, C, H, W, P, sr = c["R"], c["C"], c["H"], c["W"], c["P"], c["sampling_ratio"]
    d = os.path.join(tmp, "frcnn")
    arrays = roi_inputs("frcnn", d)
    x, rois = arrays["input"], arrays["rois"]
    assert x.shape == (1, C, H, W) and rois.shape == (R, 5), "bench/make_roi_inputs.py changed its frcnn case"
    base = [args.dcn_bin, "deform-roi-pool", "--input", os.path.join(d, "input.npy"),
            "--rois", os.path.join(d, "rois.npy"), "--output-size", "%d,%d" % (P, P),
            "--spatial-scale", repr(SPATIAL_SCALE), "--sampling-ratio", str(sr), "--gamma", repr(c["gamma"])]
    cmd_plain = base + ["--output", os.path.join(d, "out_plain.npy")]
    cmd_offset = base + ["--offset", os.path.join(d, "offset.npy"), "--output", os.path.join(d, "out_offset.npy")]
    samples_count = R * C * P * P * sr * sr

    xt, rt = torch.from_numpy(x), torch.from_numpy(rois)
    res = {}

    def roi_align():
        res["roi_align"] = torchvision.ops.roi_align(xt, rt, output_size=(P, P), spatial_scale=SPATIAL_SCALE,
                                                     sampling_ratio=sr, aligned=True)

    t = {"dcn": [], "dcn_offset": [], "roi_align": []}
    error = None
    loads = []
    with torch.inference_mode():
        roi_align()
        for r in range(args.rounds):
            def one_round():
                nonlocal error
                got = {}
                if error is None:
                    try:
                        got["dcn"] = [run_dcn(cmd_plain + ["--repeat", str(args.reps)], args.threads)]
                        got["dcn_offset"] = [run_dcn(cmd_offset + ["--repeat", str(args.reps)], args.threads)]
                    except RuntimeError as e:
                        error = str(e)
                roi_align()
                got["roi_align"] = timed_runs(roi_align, args.reps)
                return got
            got, load = quiet_round(one_round, args, log)
            loads.append(load)
            for k, v in got.items():
                t[k] += v
    frcnn = {"R": R, "C": C, "H": H, "W": W, "P": P, "sampling_ratio": sr, "gamma": c["gamma"],
             "spatial_scale": SPATIAL_SCALE, "samples": samples_count, "impls": {}}
    for k, v in t.items():
        if v:
            ms = statistics.median(v)
            frcnn["impls"][k] = {"median_ms": ms, "gsamples": samples_count / ms / 1e6, "runs_ms": v}
    if error:
        frcnn["dcn_error"] = error
    else:
        frcnn["check_roi_align"] = diff(res["roi_align"].numpy(), np.load(os.path.join(d, "out_plain.npy")))
    frcnn["foreign_cpus"] = max_load(loads)
    log("  frcnn: " + "  ".join("%s %.2f ms" % (k, v["median_ms"]) for k, v in frcnn["impls"].items()))

    # R-FCN-like deform_psroi_pool: dcn alone.
    p = RFCN
    R2, D, G2, P2, H2, W2, spp = p["R"], p["output_dim"], p["group_size"], p["P"], p["H"], p["W"], p["sample_per_part"]
    d2 = os.path.join(tmp, "rfcn")
    arrays = roi_inputs("rfcn", d2)
    assert arrays["input"].shape == (1, D * G2 * G2, H2, W2) and arrays["rois"].shape == (R2, 5), \
        "bench/make_roi_inputs.py changed its rfcn case"
    cmd = [args.dcn_bin, "deform-psroi-pool", "--input", os.path.join(d2, "input.npy"),
           "--rois", os.path.join(d2, "rois.npy"), "--trans", os.path.join(d2, "trans.npy"),
           "--output-dim", str(D), "--group-size", str(G2), "--pooled-size", str(P2), "--part-size", str(P2),
           "--sample-per-part", str(spp), "--trans-std", repr(p["trans_std"]),
           "--spatial-scale", repr(SPATIAL_SCALE), "--output", os.path.join(d2, "out.npy")]
    psamples = R2 * D * P2 * P2 * spp * spp
    rfcn = {"R": R2, "output_dim": D, "group_size": G2, "P": P2, "H": H2, "W": W2, "C": D * G2 * G2,
            "sample_per_part": spp, "trans_std": p["trans_std"], "spatial_scale": SPATIAL_SCALE,
            "samples": psamples, "impls": {}}
    try:
        rounds = [quiet_round(lambda: run_dcn(cmd + ["--repeat", str(args.reps)], args.threads), args, log)
                  for _ in range(args.rounds)]
        v = [ms for ms, _ in rounds]
        ms = statistics.median(v)
        rfcn["impls"]["dcn"] = {"median_ms": ms, "gsamples": psamples / ms / 1e6, "runs_ms": v}
        rfcn["foreign_cpus"] = max_load([load for _, load in rounds])
        log("  rfcn: dcn %.2f ms" % ms)
    except RuntimeError as e:
        rfcn["dcn_error"] = str(e)
    return {"frcnn": frcnn, "rfcn": rfcn}
