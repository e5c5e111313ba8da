#!/usr/bin/env python3
"""dcn's Python ops on CUDA tensors, for the prepared GPU check
(bench/gpu/check.sh, after it builds the extension there from the carried
kernel libraries). Each check prints one 'PASS name' or 'FAIL name: why'
line; --json writes them; exit 1 when one fails, 2 without a CUDA device.

  - forward and every gradient on CUDA against dcn's CPU results on the
    same data and against torchvision's CUDA deform_conv2d (float32);
  - bfloat16 and float16 on CUDA against dcn's CPU results in that dtype;
  - on a side stream; from a fresh thread (no current CUDA context);
    the backward from autograd's worker thread;
  - a warm call captured in a CUDA graph and replayed;
  - deform_roi_pool with zero offsets against torchvision's roi_align
    (aligned=True: mmcv's rule)."""
import argparse
import json
import sys
import threading
import traceback


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    args = ap.parse_args()
    import torch
    import torchvision
    if not torch.cuda.is_available():
        print("python_cuda: torch sees no CUDA device", file=sys.stderr)
        return 2
    import dcn
    cuda = torch.device("cuda")
    results = []

    def check(name, fn):
        try:
            fn()
            results.append({"check": name, "ok": True})
            print("PASS %s" % name, flush=True)
        except Exception as e:  # noqa: BLE001 -- every failure is reported, none stops the others
            why = "%s: %s" % (type(e).__name__, e)
            results.append({"check": name, "ok": False, "why": why, "trace": traceback.format_exc()})
            print("FAIL %s: %s" % (name, why), flush=True)

    g = torch.Generator().manual_seed(0)
    N, C, H, W, K = 2, 16, 13, 17, 24
    x = torch.randn(N, C, H, W, generator=g)
    w = torch.randn(K, C, 3, 3, generator=g) * 0.1
    b = torch.randn(K, generator=g)
    off = torch.randn(N, 18, H, W, generator=g) * 2
    m = torch.rand(N, 9, H, W, generator=g)

    def close(a, b, tol, what):
        err = (a.float().cpu() - b.float().cpu()).norm() / max(b.float().norm().item(), 1e-30)
        if not err <= tol:
            raise AssertionError("%s: relative L2 error %.3g > %.3g" % (what, err, tol))

    def grads(device, dtype=torch.float32):
        ts = [t.detach().to(device, dtype).clone().requires_grad_() for t in (x, off, w, b, m)]
        y = dcn.deform_conv2d(ts[0], ts[1], ts[2], ts[3], padding=(1, 1), mask=ts[4])
        y.backward(torch.ones_like(y))
        return [y] + [t.grad for t in ts]

    def vs_cpu():
        for a, c, what in zip(grads(cuda), grads("cpu"), ("output", "input", "offset", "weight", "bias", "mask")):
            close(a, c, 1e-5, what)
    check("float32 forward and gradients on CUDA == dcn on CPU", vs_cpu)

    def vs_torchvision():
        ts = [t.detach().to(cuda).clone().requires_grad_() for t in (x, off, w, b, m)]
        y = torchvision.ops.deform_conv2d(ts[0], ts[1], ts[2], ts[3], padding=(1, 1), mask=ts[4])
        y.backward(torch.ones_like(y))
        for a, c, what in zip(grads(cuda), [y] + [t.grad for t in ts],
                              ("output", "input", "offset", "weight", "bias", "mask")):
            close(a, c, 1e-4, what)
    check("float32 on CUDA == torchvision on CUDA", vs_torchvision)

    for dtype, tol in ((torch.bfloat16, 2e-2), (torch.float16, 2e-3)):
        def sixteen(dtype=dtype, tol=tol):
            for a, c, what in zip(grads(cuda, dtype), grads("cpu", dtype), ("output", "input", "offset", "weight")):
                close(a, c, tol, what)
        check("%s on CUDA == dcn on CPU" % dtype, sixteen)

    def forward(device=cuda):
        return dcn.deform_conv2d(x.to(device), off.to(device), w.to(device), b.to(device), padding=(1, 1),
                                 mask=m.to(device))
    ref = forward("cpu")

    def tf32():
        # dcn follows torch.backends.cuda.matmul.allow_tf32 (off by default:
        # the float32 checks above ran without it).
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            close(forward(), ref, 5e-3, "output with TF32 GEMMs")
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
    check("float32 with torch.backends.cuda.matmul.allow_tf32", tf32)

    def side_stream():
        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            y = forward()
        s.synchronize()
        close(y, ref, 1e-5, "output")
    check("on a side stream", side_stream)

    def fresh_thread():
        out = {}

        def run():
            try:
                out["y"] = forward()
                torch.cuda.synchronize()
            except Exception as e:  # noqa: BLE001
                out["e"] = e
        t = threading.Thread(target=run)
        t.start()
        t.join()
        if "e" in out:
            raise out["e"]
        close(out["y"], ref, 1e-5, "output")
    check("from a fresh thread", fresh_thread)

    def graph_capture():
        xs = [t.to(cuda) for t in (x, off, w, b, m)]
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                dcn.deform_conv2d(xs[0], xs[1], xs[2], xs[3], padding=(1, 1), mask=xs[4])
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            y = dcn.deform_conv2d(xs[0], xs[1], xs[2], xs[3], padding=(1, 1), mask=xs[4])
        xs[0].copy_(x.to(cuda) * 2)
        graph.replay()
        torch.cuda.synchronize()
        close(y, dcn.deform_conv2d(x * 2, off, w, b, padding=(1, 1), mask=m), 1e-5, "replayed output")
    check("a warm call captured in a CUDA graph", graph_capture)

    def roi_align():
        img = torch.randn(2, 8, 32, 40, generator=g)
        rois = torch.tensor([[0, 1.5, 2.0, 20.0, 25.5], [1, 0.0, 0.0, 39.0, 31.0], [0, 10.0, 3.0, 12.0, 30.0]])
        y = dcn.deform_roi_pool(img.to(cuda), rois.to(cuda), None, (7, 7), 0.5, 2)
        t = torchvision.ops.roi_align(img.to(cuda), rois.to(cuda), (7, 7), 0.5, 2, aligned=True)
        close(y, t, 1e-5, "output")
    check("deform_roi_pool, zero offsets, on CUDA == torchvision roi_align", roi_align)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"python_cuda": results}, f, indent=1)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
