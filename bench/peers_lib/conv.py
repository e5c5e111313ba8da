"""deform_conv2d: dcn, torchvision, onnxruntime and torch conv2d on one shape."""
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
from .report import fmt

DCN_LINE = re.compile(r"median_ms=([0-9.eE+-]+)")


def timed_runs(fn, n):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return ts


DCN_LINE = re.compile(r"median_ms=([0-9.eE+-]+)")


def run_dcn(cmd, threads):
    env = dict(os.environ, HL_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError("dcn failed (%d): %s" % (p.returncode, p.stderr.strip().splitlines()[-1:] or ""))
    m = DCN_LINE.search(p.stderr.strip().splitlines()[-1])
    if not m:
        raise RuntimeError("no median_ms= in dcn's output: " + p.stderr.strip())
    return float(m.group(1))


def diff(a, b):
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return {"max_abs_diff": None, "allclose": False, "note": "shape %s vs %s" % (a.shape, b.shape)}
    return {"max_abs_diff": float(np.max(np.abs(a - b))) if a.size else 0.0,
            "allclose": bool(np.allclose(a, b, rtol=RTOL, atol=ATOL)) and bool(np.isfinite(a).all())}


def conv_flops(N, C, K, oH, oW, groups=1):
    return 2.0 * N * K * (C // groups) * 9 * oH * oW


def out_hw(H, W, stride):
    return (H + 2 - 3) // stride + 1, (W + 2 - 3) // stride + 1


def onnx_deform_conv(arrays, stride, offset_groups, out_shape):
    """A one-node opset-19 DeformConv model; the weight is an initializer
    (as in an exported model, so onnxruntime may prepack it)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    with_mask = "mask" in arrays
    names = ["X", "W", "offset", "", "mask"] if with_mask else ["X", "W", "offset"]
    node = helper.make_node("DeformConv", names, ["Y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                            strides=[stride, stride], dilations=[1, 1], group=1, offset_group=offset_groups)
    shapes = {"X": arrays["input"].shape, "offset": arrays["offset"].shape}
    if with_mask:
        shapes["mask"] = arrays["mask"].shape
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(shp)) for n, shp in shapes.items()]
    graph = helper.make_graph([node], "deform_conv", inputs,
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(out_shape))],
                              initializer=[numpy_helper.from_array(arrays["weight"], "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def bench_conv(shape, args, tmp, log):
    import numpy as np
    import onnxruntime as ort
    import torch
    import torch.nn.functional as F
    import torchvision
    sys.path.insert(0, HERE)
    from make_inputs import deform_conv2d_inputs

    name, N, C, H, W, K, stride, G, with_mask = shape
    oH, oW = out_hw(H, W, stride)
    flops = conv_flops(N, C, K, oH, oW)
    arrays = deform_conv2d_inputs(N, C, H, W, K, stride=stride, padding=1, offset_groups=G, mask=with_mask)
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    paths = {}
    for k, v in arrays.items():
        paths[k] = os.path.join(d, k + ".npy")
        np.save(paths[k], v)
    out_path = os.path.join(d, "dcn_out.npy")
    cmd = [args.dcn_bin, "deform-conv2d", "--input", paths["input"], "--offset", paths["offset"],
           "--weight", paths["weight"], "--stride", str(stride), "--padding", "1", "--output", out_path]
    if with_mask:
        cmd += ["--mask", paths["mask"]]

    x = torch.from_numpy(arrays["input"])
    w = torch.from_numpy(arrays["weight"])
    off = torch.from_numpy(arrays["offset"])
    m = torch.from_numpy(arrays["mask"]) if with_mask else None
    x_cl = x.contiguous(memory_format=torch.channels_last)
    w_cl = w.contiguous(memory_format=torch.channels_last)

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_deform_conv(arrays, stride, G, (N, K, oH, oW)), so, providers=["CPUExecutionProvider"])
    feeds = {"X": arrays["input"], "offset": arrays["offset"]}
    if with_mask:
        feeds["mask"] = arrays["mask"]

    results = {}

    def tv():
        results["torchvision"] = torchvision.ops.deform_conv2d(x, off, w, None, stride=stride, padding=1, mask=m)

    def onnx_run():
        results["onnxruntime"] = sess.run(None, feeds)[0]

    def conv():
        results["conv2d"] = F.conv2d(x, w, None, stride=stride, padding=1)

    def conv_cl():
        results["conv2d_nhwc"] = F.conv2d(x_cl, w_cl, None, stride=stride, padding=1)

    fns = {"torchvision": tv, "onnxruntime": onnx_run, "conv2d": conv, "conv2d_nhwc": conv_cl}
    # Runs per round: fewer for the slow peers (seconds per call).
    reps = {"dcn": args.reps, "conv2d": args.reps, "conv2d_nhwc": args.reps,
            "onnxruntime": max(2, args.reps // 2), "torchvision": max(2, args.reps // 4)}
    samples = {k: [] for k in IMPLS}
    loads = []
    with torch.inference_mode():
        backend = "?"
        try:
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                conv()
            names = {e.name for e in prof.events()}
            backend = "mkldnn (oneDNN)" if "aten::mkldnn_convolution" in names else ",".join(
                sorted(n for n in names if "conv" in n))
        except Exception as e:  # the profiler is only a check
            backend = "unknown (%s)" % e
        for fn in fns.values():  # warm-up: allocations, oneDNN primitive creation, ORT prepacking
            fn()
        for r in range(args.rounds):
            def one_round():
                got = {"dcn": [run_dcn(cmd + ["--repeat", str(reps["dcn"])], args.threads)]}
                for k, fn in fns.items():
                    fn()  # one warm-up per round (the dcn tool does the same)
                    got[k] = timed_runs(fn, reps[k])
                return got
            got, load = quiet_round(one_round, args, log)
            loads.append(load)
            for k, v in got.items():
                samples[k] += v
            log("    round %d/%d: %s ms; other processes: %s CPUs" % (r + 1, args.rounds, "  ".join(
                "%s %.2f" % (k, statistics.median(v)) for k, v in got.items()), fmt(load, 2)))
    foreign = max_load(loads)
    y_dcn = np.load(out_path)
    checks = {
        "torchvision": diff(results["torchvision"].numpy(), y_dcn),
        "onnxruntime": diff(results["onnxruntime"], y_dcn),
    }
    impls = {}
    for k, v in samples.items():
        ms = statistics.median(v)
        impls[k] = {"median_ms": ms, "gflops": flops / ms / 1e6, "runs_ms": v}
    return {"name": name, "description": CONV_DESCRIPTIONS.get(name, name),
            "N": N, "C": C, "H": H, "W": W, "K": K, "stride": stride, "offset_groups": G, "mask": with_mask,
            "oH": oH, "oW": oW, "flops": flops, "impls": impls, "checks": checks, "conv2d_backend": backend,
            "foreign_cpus": foreign}
