#!/usr/bin/env python3
"""dcn's Python ops against torchvision's, through torch, 2 threads:

  1. call overhead: deform_conv2d forward on a tiny shape (1x1x3x3 input,
     one 1x1 kernel), microseconds per call, dcn (torch tensors and numpy
     arrays) vs torchvision.ops.deform_conv2d;
  2. the c4 layer (1x256x50x84 -> 256, 3x3, pad 1, DCNv2) forward and
     forward + backward (all gradients) through torch autograd.

Each library in its own process (this script runs itself with --peer),
after a warm-up, median over runs; rounds interleaved; the spread is the
min-max of the round medians.

    .venv-py/bin/python bench/python_ops.py [--rounds 3] [--json FILE]
"""
import argparse
import json
import statistics
import subprocess
import sys
import time


def peer(lib, what, threads, reps):
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    if lib.startswith("dcn"):
        import dcn
        dcn.set_num_threads(threads)
        f = dcn.deform_conv2d
    else:
        import torchvision
        f = torchvision.ops.deform_conv2d
    if what == "tiny":
        x, off, w = torch.rand(1, 1, 3, 3), torch.zeros(1, 2, 3, 3), torch.rand(1, 1, 1, 1)
        if lib == "dcn_numpy":
            x, off, w = x.numpy(), off.numpy(), w.numpy()
        call = lambda: f(x, off, w)
        n = 2000
        for _ in range(200):
            call()
        t = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(n):
                call()
            t.append((time.perf_counter() - t0) / n * 1e6)
        return {"us_per_call": statistics.median(t)}
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1, 256, 50, 84, generator=g) * 2 - 1).requires_grad_(True)
    off = (torch.randn(1, 18, 50, 84, generator=g) * 2).requires_grad_(True)
    m = torch.rand(1, 9, 50, 84, generator=g).requires_grad_(True)
    w = ((torch.rand(256, 256, 3, 3, generator=g) * 2 - 1) / 48).requires_grad_(True)
    b = torch.zeros(256).requires_grad_(True)
    gy = torch.rand(1, 256, 50, 84, generator=g)
    fwd = lambda: f(x, off, w, b, padding=(1, 1), mask=m)

    def fwd_bwd():
        for p in (x, off, m, w, b):
            p.grad = None
        fwd().backward(gy)

    out = {}
    for name, fn in (("fwd_ms", lambda: torch.no_grad()(fwd)()), ("fwd_bwd_ms", fwd_bwd)):
        fn()
        t = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            t.append((time.perf_counter() - t0) * 1e3)
        out[name] = statistics.median(t)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--peer", nargs=2)
    a = ap.parse_args()
    if a.peer:
        print(json.dumps(peer(a.peer[0], a.peer[1], a.threads, a.reps)))
        return
    runs = [("dcn", "tiny"), ("dcn_numpy", "tiny"), ("torchvision", "tiny"), ("dcn", "c4"), ("torchvision", "c4")]
    res = {r: [] for r in runs}
    for _ in range(a.rounds):
        for lib, what in runs:
            p = subprocess.run([sys.executable, __file__, "--peer", lib, what, "--threads", str(a.threads),
                                "--reps", str(a.reps)], check=True, capture_output=True, text=True)
            res[(lib, what)].append(json.loads(p.stdout.strip().splitlines()[-1]))
    table = {}
    for (lib, what), rounds in res.items():
        for k in rounds[0]:
            v = [r[k] for r in rounds]
            table["%s %s %s" % (lib, what, k)] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
    print("| measurement | median | spread |")
    print("| --- | ---: | ---: |")
    for k, v in table.items():
        print("| %s | %.2f | %.2f-%.2f |" % (k, v["median"], v["min"], v["max"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    main()
