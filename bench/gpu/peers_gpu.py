#!/usr/bin/env python3
"""The peers of dcn on an NVIDIA GPU, for the prepared GPU check
(bench/gpu/check.sh): torch and torchvision only (dcn's own timings come
from build/bin/dcn_bench_gpu, which needs no Python extension).

For each shape of the table (bench/peers_lib/config.py CONV_SHAPES):
torchvision.ops.deform_conv2d in FP32 (TF32 off), TF32 and float16, and
cuDNN's conv2d of the same shape (the floor: the same FLOPs without the
deformation), forward and forward + backward (every input's gradient),
tensors on the device, timed with CUDA events: the first call apart, 10
warm-up calls, then the median of N >= 100 calls. Writes JSON (--json).
Without a usable GPU: one line saying what is missing, exit 2."""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from peers_lib.config import CONV_SHAPES  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--json")
    args = ap.parse_args()
    try:
        import torch
        import torchvision
    except ImportError as e:
        print("peers_gpu: %s" % e, file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("peers_gpu: torch sees no CUDA device", file=sys.stderr)
        return 2
    rounds = max(100, args.rounds)
    dev = torch.device("cuda")

    def timed(fn):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        first = (time.perf_counter() - t0) * 1e3
        for _ in range(10):
            fn()
        ms = []
        for _ in range(rounds):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            ms.append(a.elapsed_time(b))
        return {"first_ms": first, "median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
                "rounds": rounds}

    rows = []
    for name, N, C, H, W, K, s, G, mask in CONV_SHAPES:
        for impl, dtype, tf32 in (("torchvision", torch.float32, False), ("torchvision", torch.float32, True),
                                  ("torchvision", torch.float16, False), ("cudnn_conv2d", torch.float32, False),
                                  ("cudnn_conv2d", torch.float32, True), ("cudnn_conv2d", torch.float16, False)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            g = torch.Generator(device="cpu").manual_seed(42)
            x = torch.rand(N, C, H, W, generator=g).mul_(2).sub_(1).to(dev, dtype).requires_grad_()
            w = (torch.rand(K, C, 3, 3, generator=g) * 2 - 1).div_((C * 9) ** 0.5).to(dev, dtype).requires_grad_()
            oH, oW = (H + 2 - 3) // s + 1, (W + 2 - 3) // s + 1
            off = (torch.rand(N, 2 * G * 9, oH, oW, generator=g) * 5 - 2.5).to(dev, dtype).requires_grad_()
            m = torch.rand(N, G * 9, oH, oW, generator=g).to(dev, dtype).requires_grad_() if mask else None
            if impl == "torchvision":
                def fwd():
                    return torchvision.ops.deform_conv2d(x, off, w, None, (s, s), (1, 1), (1, 1), m)
            else:
                def fwd():
                    return torch.nn.functional.conv2d(x, w, None, s, 1)
            gy = torch.ones_like(fwd().detach())

            def step():
                fwd().backward(gy)
            for pass_name, fn in (("forward", lambda: fwd()), ("forward+backward", step)):
                with torch.no_grad() if pass_name == "forward" else torch.enable_grad():
                    r = timed(fn)
                r.update(shape=name, impl=impl, dtype=str(dtype).replace("torch.", ""), tf32=tf32, pass_=pass_name)
                rows.append(r)
                print("| %s | %s | %s%s | %s | %.3f | %.4f |" % (name, impl, r["dtype"], " (TF32)" if tf32 else "",
                                                              pass_name, r["first_ms"], r["median_ms"]))
    out = {"torch": torch.__version__, "torchvision": torchvision.__version__,
           "gpu": torch.cuda.get_device_name(0), "peers": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
