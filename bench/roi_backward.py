#!/usr/bin/env python3
"""The RoI poolings' backward passes on the benchmark cases of
bench/make_roi_inputs.py (frcnn: mmcv's deform_roi_pool, 512 RoIs on
256 x 50x84; rfcn: MSRA's deform_psroi_pool, 300 RoIs, 1029 x 38x63):
dcn's forward and full backward through its CLI (--repeat), and, as the
peer, torchvision.ops.roi_align's forward + backward (autograd) on the frcnn
case: deform_roi_pool without an offset is RoIAlign with aligned=True, so the
two compute the same gradient of the input (checked, allclose 1e-4).

Each library in its own process, after a warm-up, median over the timed
runs of a round; rounds interleaved; the table gives the median over rounds
and the spread (min-max of the round medians).

    bash bench/setup.sh
    .venv-bench/bin/python bench/roi_backward.py [--rounds 3] [--reps 5] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from peers_lib.config import FRCNN, RFCN, ROOT, SPATIAL_SCALE  # noqa: E402
from peers_lib.conv import run_dcn, diff  # noqa: E402


def peer(args):
    """torchvision roi_align forward + backward, in its own process: prints
    the round's median ms of each and saves grad_input."""
    import numpy as np
    import time
    import torch
    import torchvision
    torch.set_num_threads(args.threads)
    d = args.dir
    x = torch.from_numpy(np.load(os.path.join(d, "input.npy"))).requires_grad_(True)
    rois = torch.from_numpy(np.load(os.path.join(d, "rois.npy")))
    gy = torch.from_numpy(np.load(os.path.join(d, "grad_output.npy")))
    P, sr = FRCNN["P"], FRCNN["sampling_ratio"]

    def fwd():
        return torchvision.ops.roi_align(x, rois, output_size=(P, P), spatial_scale=SPATIAL_SCALE,
                                         sampling_ratio=sr, aligned=True)

    def bwd():
        x.grad = None
        fwd().backward(gy)

    fwd(), bwd()  # warm-up
    times = {}
    for name, f in (("fwd", fwd), ("fwd_bwd", bwd)):
        t = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            f()
            t.append((time.perf_counter() - t0) * 1e3)
        times[name] = statistics.median(t)
    np.save(os.path.join(d, "tv_grad_input.npy"), x.grad.numpy())
    print(json.dumps(times))


def write_inputs(d, case):
    import numpy as np
    subprocess.run([sys.executable, os.path.join(HERE, "make_roi_inputs.py"), "--case", case, "--out", d],
                   check=True, capture_output=True)
    rng = np.random.default_rng(1)
    rois = np.load(os.path.join(d, "rois.npy"))
    if case == "frcnn":
        out = (rois.shape[0], FRCNN["C"], FRCNN["P"], FRCNN["P"])
        np.save(os.path.join(d, "mask.npy"), rng.uniform(0, 1, (rois.shape[0], 1, FRCNN["P"], FRCNN["P"])).astype(np.float32))
    else:
        out = (rois.shape[0], RFCN["output_dim"], RFCN["P"], RFCN["P"])
    np.save(os.path.join(d, "grad_output.npy"), rng.uniform(-1, 1, out).astype(np.float32))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dcn-bin", default=os.path.join(ROOT, "build", "bin", "dcn"))
    ap.add_argument("--json")
    ap.add_argument("--peer", action="store_true")
    ap.add_argument("--dir")
    args = ap.parse_args()
    if args.peer:
        return peer(args)

    tmp = tempfile.mkdtemp(prefix="dcn_roi_bwd_")
    fr, rf = os.path.join(tmp, "frcnn"), os.path.join(tmp, "rfcn")
    write_inputs(fr, "frcnn")
    write_inputs(rf, "rfcn")
    p = lambda d, f: os.path.join(d, f)
    roi = [args.dcn_bin, "deform-roi-pool", "--input", p(fr, "input.npy"), "--rois", p(fr, "rois.npy"),
           "--output-size", "%d,%d" % (FRCNN["P"], FRCNN["P"]), "--spatial-scale", repr(SPATIAL_SCALE),
           "--sampling-ratio", str(FRCNN["sampling_ratio"]), "--gamma", repr(FRCNN["gamma"])]
    ps = [args.dcn_bin, "deform-psroi-pool", "--input", p(rf, "input.npy"), "--rois", p(rf, "rois.npy"),
          "--trans", p(rf, "trans.npy"), "--output-dim", str(RFCN["output_dim"]), "--group-size",
          str(RFCN["group_size"]), "--pooled-size", str(RFCN["P"]), "--sample-per-part", str(RFCN["sample_per_part"]),
          "--trans-std", repr(RFCN["trans_std"]), "--spatial-scale", repr(SPATIAL_SCALE)]
    rep = ["--repeat", str(args.reps)]
    runs = {
        "roi_pool fwd (no offset)": roi + ["--output", p(fr, "y.npy")] + rep,
        "roi_pool bwd (no offset): grad_input": roi + ["--grad-output", p(fr, "grad_output.npy"),
                                                      "--grad-input", p(fr, "gx.npy")] + rep,
        "roi_pool fwd (offset, mask)": roi + ["--offset", p(fr, "offset.npy"), "--mask", p(fr, "mask.npy"),
                                              "--output", p(fr, "y2.npy")] + rep,
        "roi_pool bwd (offset, mask): all three": roi + [
            "--offset", p(fr, "offset.npy"), "--mask", p(fr, "mask.npy"), "--grad-output", p(fr, "grad_output.npy"),
            "--grad-input", p(fr, "gx2.npy"), "--grad-offset", p(fr, "goff.npy"), "--grad-mask", p(fr, "gm.npy")] + rep,
        "roi_pool bwd (offset, mask): grad_offset, grad_mask": roi + [
            "--offset", p(fr, "offset.npy"), "--mask", p(fr, "mask.npy"), "--grad-output", p(fr, "grad_output.npy"),
            "--grad-offset", p(fr, "goff3.npy"), "--grad-mask", p(fr, "gm3.npy")] + rep,
        "psroi_pool fwd (trans)": ps + ["--output", p(rf, "y.npy")] + rep,
        "psroi_pool bwd (trans): grad_input, grad_trans": ps + [
            "--grad-output", p(rf, "grad_output.npy"), "--grad-input", p(rf, "gx.npy"),
            "--grad-trans", p(rf, "gt.npy")] + rep,
        "psroi_pool bwd (trans): grad_trans": ps + [
            "--grad-output", p(rf, "grad_output.npy"), "--grad-trans", p(rf, "gt2.npy")] + rep,
    }
    t = {k: [] for k in runs}
    t["torchvision roi_align fwd"] = []
    t["torchvision roi_align fwd+bwd"] = []
    for _ in range(args.rounds):
        for k, cmd in runs.items():
            t[k].append(run_dcn(cmd, args.threads))
        out = subprocess.run([sys.executable, __file__, "--peer", "--dir", fr, "--threads", str(args.threads),
                              "--reps", str(args.reps)], check=True, capture_output=True, text=True).stdout
        tv = json.loads(out.strip().splitlines()[-1])
        t["torchvision roi_align fwd"].append(tv["fwd"])
        t["torchvision roi_align fwd+bwd"].append(tv["fwd_bwd"])
    import numpy as np
    check = diff(np.load(p(fr, "gx.npy")), np.load(p(fr, "tv_grad_input.npy")))
    rows = {k: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v)} for k, v in t.items()}
    print("| run | median ms | spread |")
    print("| --- | ---: | ---: |")
    for k, r in rows.items():
        print("| %s | %.2f | %.2f-%.2f |" % (k, r["median_ms"], r["min_ms"], r["max_ms"]))
    print("grad_input vs torchvision roi_align (aligned=True):", check)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "grad_input_vs_torchvision": check, "threads": args.threads}, f, indent=1)


if __name__ == "__main__":
    main()
