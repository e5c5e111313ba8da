#!/usr/bin/env python3
"""dcn against its peers, side by side in one run, on one machine.

    bash bench/setup.sh && .venv-bench/bin/python bench/peers.py
        [--threads 2] [--quick] [--rounds R] [--json OUT] [--markdown OUT]
        [--dcn-bin build/bin/dcn] [--peak-gflops G] [--only SUBSTRING] [--no-roi]
    .venv-bench/bin/python bench/peers.py --merge RUN1.json RUN2.json ... [--json OUT] [--markdown OUT]

deform_conv2d over the shape table (CONV_SHAPES) through
  - dcn: the `dcn deform-conv2d --repeat N` command-line tool on .npy files
    (it times N runs after a warm-up and prints their median);
  - torchvision.ops.deform_conv2d (CPU);
  - onnxruntime's DeformConv (a one-node opset-19 model, CPU provider);
  - torch conv2d on the same shape (oneDNN): the same FLOPs without the
    deformation, NCHW tensors as given (the issue's yardstick), and, for
    information, with channels_last tensors (oneDNN without layout reorders);
and deformable RoI pooling: dcn deform_roi_pool against
torchvision.ops.roi_align (Faster R-CNN-like case), and the throughput of
dcn deform_psroi_pool (R-FCN-like case).

Everyone gets the same number of threads (default 2): torch.set_num_threads,
onnxruntime intra_op_num_threads, HL_NUM_THREADS for dcn, and
OMP/OPENBLAS_NUM_THREADS. Measurements go in rounds (each implementation's
batch of timed runs, one after another, then again), so slow drifts of a
shared machine hit everyone alike; a row's time is the median over all runs
of all rounds (for dcn, the median of the tool's per-call medians). Other
processes are watched (/proc/stat minus our own CPU time): peers.py waits
for a quiet machine before it starts, and a round during which others used
more than 0.25 CPUs is measured again once they stop (--wait-quiet). GFLOP/s
= 2*N*K*(C/groups)*kH*kW*oH*oW / median time. Every shape also checks that
torchvision's and onnxruntime's outputs agree with dcn's (rtol = atol = 1e-4).

--merge combines several runs' JSON files into one table: the median, per
shape and implementation, of the runs' median times (what bench/RESULTS.md
shows). The peers (torch, torchvision, onnx, onnxruntime) are installed by
bench/setup.sh; --merge needs none of them.
"""
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers_lib.config import *  # noqa: E402,F401,F403
from peers_lib.machine import *  # noqa: E402,F401,F403
from peers_lib.conv import *  # noqa: E402,F401,F403
from peers_lib.roi import *  # noqa: E402,F401,F403
from peers_lib.report import *  # noqa: E402,F401,F403


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1 round of few runs (a smoke test, not a result)")
    ap.add_argument("--rounds", type=int, help="rounds of timed runs (default 3; --quick 1)")
    ap.add_argument("--reps", type=int, help="timed runs per round for dcn and conv2d (default 8; --quick 4); "
                                             "onnxruntime half, torchvision a quarter (at least 2)")
    ap.add_argument("--json", help="write the results (every timed run) here")
    ap.add_argument("--markdown", help="write the tables for bench/RESULTS.md here")
    ap.add_argument("--roofline-markdown", metavar="OUT", help="write the roofline table here")
    ap.add_argument("--dcn-bin", default=os.path.join(ROOT, "build", "bin", "dcn"))
    ap.add_argument("--dcn-commit", metavar="REV",
                    help="the commit a --dcn-bin built outside this tree was built from, clean "
                         "(e.g. from `git archive REV`); default: this tree's HEAD and its uncommitted changes")
    ap.add_argument("--peak-gflops", type=float, help="FP32 peak for the 'of peak' column (default: "
                                                      "build/bin/fma_peak measured at the start and end of the run)")
    ap.add_argument("--only", help="only the conv shapes whose name contains this")
    ap.add_argument("--no-roi", action="store_true", help="skip the RoI pooling cases")
    ap.add_argument("--wait-quiet", type=float, default=600, metavar="SECONDS",
                    help="wait up to SECONDS for other processes to leave the CPUs alone, before the run and "
                         "before measuring again a round they disturbed (default 600; 0: never wait, keep "
                         "every round)")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="merge earlier runs instead of measuring")
    args = ap.parse_args()

    if args.merge:
        res = merge([json.load(open(p)) for p in args.merge])
        print_table(res)
        write_outputs(res, args)
        return 0

    threads = str(args.threads)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "HL_NUM_THREADS"):
        os.environ[v] = threads
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.reps = args.reps or (4 if args.quick else 8)
    args.dcn_bin = os.path.abspath(args.dcn_bin)
    if not os.access(args.dcn_bin, os.X_OK):
        sys.exit("peers.py: error: no dcn tool at %s (build it: see README.md; or pass --dcn-bin)" % args.dcn_bin)

    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    import torchvision
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    m = machine_info()
    if args.dcn_commit:
        commit, dirty, fingerprint = args.dcn_commit, False, None
    else:
        commit, dirty, fingerprint = git_commit()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print("machine: %s (cpu family %s model %s), %s logical CPUs usable, %s physical cores, %s GiB, Linux %s" % (
        m.get("cpu_model"), m.get("cpu_family"), m.get("cpu_model_number"), m.get("usable_cpus"),
        m.get("physical_cores"), m.get("memory_gib"), m.get("kernel")))
    print("date: %s; load average %s" % (date, loadavg()))
    print("threads: %d for everyone (torch %d, onnxruntime intra_op %d, HL_NUM_THREADS %s)" % (
        args.threads, torch.get_num_threads(), args.threads, os.environ["HL_NUM_THREADS"]))
    print("dcn: %s, commit %s%s" % (args.dcn_bin, commit + (" (given by --dcn-commit)" if args.dcn_commit else ""), " + uncommitted changes to the library's sources "
                                     "(fingerprint %s)" % fingerprint if dirty else ""))
    print("peers: torch %s, torchvision %s, onnxruntime %s, onnx %s, numpy %s" % (
        torch.__version__, torchvision.__version__, ort.__version__, onnx.__version__, np.__version__))
    stale = [] if args.dcn_commit else newer_sources(args.dcn_bin)
    if stale:
        print("peers.py: warning: %s is older than %d library source file(s) (%s%s): rebuild it" % (
            args.dcn_bin, len(stale), ", ".join(stale[:4]), ", ..." if len(stale) > 4 else ""))
    res_stale = stale
    if args.wait_quiet > 0:
        wait_quiet(args.wait_quiet, log)
    run_meter = ForeignLoad()
    bin_dir = os.path.dirname(args.dcn_bin)
    peaks = [quiet_round(lambda: fma_peak(bin_dir, args.threads), args, log)[0]]
    print("FP32 FMA peak now (fma_peak, %d threads): %s GFLOP/s" % (args.threads, fmt(peaks[0])), flush=True)

    res = {"date": date, "machine": m, "threads": args.threads, "dcn_commit": commit, "dcn_dirty": dirty,
           "dcn_source_fingerprint": fingerprint, "dcn_bin_older_than": res_stale,
           "dcn_bin": args.dcn_bin, "rounds": args.rounds, "reps": args.reps, "quick": args.quick,
           "loadavg": [loadavg()],
           "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                        "onnxruntime": ort.__version__, "onnx": onnx.__version__, "numpy": np.__version__,
                        "python": platform.python_version()},
           "conv": [], "roi": None}
    shapes = [s for s in CONV_SHAPES if not args.only or args.only in s[0]]
    with tempfile.TemporaryDirectory(prefix="dcn_peers_") as tmp:
        for shape in shapes:
            log("%s:" % shape[0])
            res["conv"].append(bench_conv(shape, args, tmp, log))
        if not args.no_roi:
            log("RoI pooling:")
            res["roi"] = bench_roi(args, tmp, log)
    peaks.append(quiet_round(lambda: fma_peak(bin_dir, args.threads), args, log)[0])
    res["loadavg"].append(loadavg())
    res["foreign_cpus"] = max_load([row.get("foreign_cpus") for row in res["conv"]] +
                                   [c.get("foreign_cpus") for c in (res["roi"] or {}).values()])
    res["foreign_cpus_whole_run"] = run_meter.cpus()
    print("other processes used at most %s CPUs during a kept round of measurements (0 = a quiet machine; "
          "%s on average over the whole run, waits included)" % (
              fmt(res["foreign_cpus"], 2), fmt(res["foreign_cpus_whole_run"], 2)))
    res["fma_peak_gflops"] = peaks
    res["peak_from_flag"] = bool(args.peak_gflops)
    res["peak_gflops"] = args.peak_gflops or max([p for p in peaks if p], default=None)
    print("FP32 FMA peak at the end: %s GFLOP/s; the 'of peak' column uses %s GFLOP/s (nominal: %s)" % (
        fmt(peaks[1]), fmt(res["peak_gflops"]), NOMINAL_PEAK))
    print()
    if res["conv"]:
        print_table(res)
    write_outputs(res, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

