#!/usr/bin/env python3
"""deform_conv2d forward + backward: dcn against torchvision's CPU backward
(autograd through torchvision.ops.deform_conv2d) and torch conv2d's
backward (oneDNN) on the shape table of bench/peers_lib/config.py.

Each library runs in its own process (dcn through its CLI with --repeat,
the torch peers in a subprocess of this script), after a warm-up, median
over the timed runs of a round; the rounds are interleaved and the table
gives the median over rounds with the spread (min-max of the round medians).
dcn's gradients are also compared with torchvision's (rtol = atol = 1e-4).

    bash bench/setup.sh            # the peers (Debian's torch / torchvision)
    .venv-bench/bin/python bench/backward.py --markdown bench/runs/<date>/backward.md
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
from peers_lib.config import CONV_SHAPES, ROOT, NOMINAL_PEAK  # noqa: E402

GRADS = ["input", "offset", "mask", "weight", "bias"]


def make_arrays(shape, seed=0):
    import numpy as np
    name, N, C, H, W, K, stride, og, with_mask = shape
    rng = np.random.default_rng(seed)
    oH, oW = (H + 2 - 3) // stride + 1, (W + 2 - 3) // stride + 1
    a = {
        "input": rng.uniform(-1, 1, (N, C, H, W)).astype(np.float32),
        "offset": rng.normal(0, 2, (N, 2 * og * 9, oH, oW)).astype(np.float32),
        "weight": (rng.uniform(-1, 1, (K, C, 3, 3)) / (3 * C ** 0.5)).astype(np.float32),
        "bias": rng.uniform(-1, 1, (K,)).astype(np.float32),
        "grad_output": rng.uniform(-1, 1, (N, K, oH, oW)).astype(np.float32),
    }
    if with_mask:
        a["mask"] = rng.uniform(0, 1, (N, og * 9, oH, oW)).astype(np.float32)
    return a


def flops(shape):
    name, N, C, H, W, K, stride, og, with_mask = shape
    oH, oW = (H + 2 - 3) // stride + 1, (W + 2 - 3) // stride + 1
    return 2.0 * N * K * C * 9 * oH * oW


# ---- peers (run as subprocesses: --peer NAME --shape NAME) -----------------------

def peer(args):
    import numpy as np
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    shape = next(s for s in CONV_SHAPES if s[0] == args.shape)
    stride = shape[6]
    a = {k: torch.from_numpy(v) for k, v in make_arrays(shape).items()}
    if args.peer == "torchvision":
        import torchvision
        leaves = {k: a[k].clone().requires_grad_(True) for k in GRADS if k in a}

        def fwd():
            return torchvision.ops.deform_conv2d(leaves["input"], leaves["offset"], leaves["weight"], leaves["bias"],
                                                 stride=stride, padding=1, mask=leaves.get("mask"))
    else:
        leaves = {k: a[k].clone().requires_grad_(True) for k in ["input", "weight", "bias"]}

        def fwd():
            return F.conv2d(leaves["input"], leaves["weight"], leaves["bias"], stride=stride, padding=1)
    names = list(leaves)
    import time
    out = {"forward": [], "backward": []}
    with torch.no_grad():
        fwd()
    y = fwd()
    grads = torch.autograd.grad(y, [leaves[n] for n in names], a["grad_output"], retain_graph=True)
    for _ in range(args.reps):
        t0 = time.perf_counter()
        with torch.no_grad():
            fwd()
        out["forward"].append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        torch.autograd.grad(y, [leaves[n] for n in names], a["grad_output"], retain_graph=True)
        out["backward"].append((time.perf_counter() - t0) * 1e3)
    if args.save_grads:
        for n, g in zip(names, grads):
            np.save(os.path.join(args.save_grads, "tv_" + n + ".npy"), g.numpy())
    print(json.dumps({k: statistics.median(v) for k, v in out.items()}))


def run_peer(name, shape, threads, reps, save_grads=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--peer", name, "--shape", shape[0], "--threads", str(threads),
           "--reps", str(reps)]
    if save_grads:
        cmd += ["--save-grads", save_grads]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(name + " failed: " + p.stderr.strip()[-500:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_dcn(dcn, shape, files, dirname, threads, reps, grads):
    cmd = [dcn, "deform-conv2d", "--input", files["input"], "--offset", files["offset"], "--weight", files["weight"],
           "--padding", "1", "--stride", str(shape[6]), "--repeat", str(reps)]
    if "mask" in files:
        cmd += ["--mask", files["mask"]]
    if grads is None:
        cmd += ["--bias", files["bias"], "--output", os.path.join(dirname, "y.npy")]
    else:
        cmd += ["--grad-output", files["grad_output"]]
        for g in grads:
            if g == "mask" and "mask" not in files:
                continue
            cmd += ["--grad-" + g, os.path.join(dirname, "dcn_" + g + ".npy")]
    env = dict(os.environ, HL_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError("dcn failed: " + p.stderr.strip()[-500:])
    last = p.stderr.strip().splitlines()[-1]
    return float(last.split("median_ms=")[1].split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5, help="timed runs per round and implementation")
    ap.add_argument("--only", help="only the shapes whose name contains this")
    ap.add_argument("--dcn-bin", default=os.path.join(ROOT, "build", "bin", "dcn"))
    ap.add_argument("--markdown", help="write the table here")
    ap.add_argument("--json", help="write every round's numbers here")
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    ap.add_argument("--shape", help=argparse.SUPPRESS)
    ap.add_argument("--save-grads", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        return peer(args)
    import numpy as np

    shapes = [s for s in CONV_SHAPES if not args.only or args.only in s[0]]
    rows, raw = [], {}
    for shape in shapes:
        d = tempfile.mkdtemp(prefix="dcn_bwd_")
        arrays = make_arrays(shape)
        files = {}
        for k, v in arrays.items():
            files[k] = os.path.join(d, k + ".npy")
            np.save(files[k], v)
        # Agreement with torchvision (one run each, full gradients).
        run_peer("torchvision", shape, args.threads, 1, save_grads=d)
        run_dcn(args.dcn_bin, shape, files, d, args.threads, 1, GRADS)
        agree = {}
        for g in GRADS:
            if g == "mask" and "mask" not in arrays:
                continue
            a, b = np.load(os.path.join(d, "dcn_" + g + ".npy")), np.load(os.path.join(d, "tv_" + g + ".npy"))
            agree[g] = (float(np.max(np.abs(a.astype(np.float64) - b))), bool(np.allclose(a, b, rtol=1e-4, atol=1e-4)))
        r = {k: [] for k in ["dcn_fwd", "dcn_bwd", "dcn_bwd_data", "dcn_bwd_weight", "tv_fwd", "tv_bwd",
                             "conv_fwd", "conv_bwd"]}
        for _ in range(args.rounds):
            r["dcn_fwd"].append(run_dcn(args.dcn_bin, shape, files, d, args.threads, args.reps, None))
            r["dcn_bwd"].append(run_dcn(args.dcn_bin, shape, files, d, args.threads, args.reps, GRADS))
            r["dcn_bwd_data"].append(run_dcn(args.dcn_bin, shape, files, d, args.threads, args.reps,
                                             ["input", "offset", "mask"]))
            r["dcn_bwd_weight"].append(run_dcn(args.dcn_bin, shape, files, d, args.threads, args.reps,
                                               ["weight", "bias"]))
            tv = run_peer("torchvision", shape, args.threads, max(2, args.reps // 2))
            r["tv_fwd"].append(tv["forward"])
            r["tv_bwd"].append(tv["backward"])
            cv = run_peer("conv2d", shape, args.threads, args.reps)
            r["conv_fwd"].append(cv["forward"])
            r["conv_bwd"].append(cv["backward"])
        raw[shape[0]] = {"rounds": r, "agree_with_torchvision": agree}
        med = {k: statistics.median(v) for k, v in r.items()}
        spread = {k: (min(v), max(v)) for k, v in r.items()}
        rows.append((shape, med, spread, agree))
        print(shape[0], json.dumps(med), json.dumps(agree), flush=True)

    lines = [
        "| shape | dcn fwd ms | dcn bwd ms (spread) | bwd GFLOP/s | bwd / fwd | data / weight share "
        "| torchvision bwd ms | dcn speedup | conv2d fwd / bwd ms | dcn bwd / conv2d bwd | grads vs torchvision |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for shape, m, sp, agree in rows:
        bwd_flops = 2 * flops(shape)
        share = m["dcn_bwd_data"] / (m["dcn_bwd_data"] + m["dcn_bwd_weight"])
        ok = all(v[1] for v in agree.values())
        worst = max(v[0] for v in agree.values())
        lines.append(
            "| %s | %.2f | %.2f (%.2f-%.2f) | %.1f | %.2fx | %.0f%% / %.0f%% | %.1f | %.1fx | %.2f / %.2f | %.2fx | %s (max abs diff %.1e) |"
            % (shape[0], m["dcn_fwd"], m["dcn_bwd"], sp["dcn_bwd"][0], sp["dcn_bwd"][1],
               bwd_flops / m["dcn_bwd"] / 1e6, m["dcn_bwd"] / m["dcn_fwd"], 100 * share, 100 * (1 - share),
               m["tv_bwd"], m["tv_bwd"] / m["dcn_bwd"], m["conv_fwd"], m["conv_bwd"], m["dcn_bwd"] / m["conv_bwd"],
               "all allclose" if ok else "NOT allclose", worst))
    lines.append("")
    lines.append("Backward FLOPs counted: 2 GEMMs of the forward's size (grad_columns = W^T x grad_output, "
                 "grad_weight = grad_output x columns^T), 4*N*K*C*9*oH*oW. Peak: " + NOMINAL_PEAK + ". "
                 "%d threads, %d rounds x %d runs; data / weight share = the data-gradient call's and the "
                 "weight-gradient call's times timed separately." % (args.threads, args.rounds, args.reps))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
