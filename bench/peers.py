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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (name, N, C, H, W, K, stride, offset_groups, DCNv2 mask); 3x3, pad 1, no bias.
# Keep in sync with kCases in bench/deform_conv2d_bench.cpp.
CONV_SHAPES = [
    ("c3_1x128x100x168_k128_dcnv2", 1, 128, 100, 168, 128, 1, 1, True),
    ("c4_1x256x50x84_k256_dcnv2", 1, 256, 50, 84, 256, 1, 1, True),
    ("c5_1x512x25x42_k512_dcnv2", 1, 512, 25, 42, 512, 1, 1, True),
    ("c4entry_1x256x100x168_k256_s2_dcnv1", 1, 256, 100, 168, 256, 2, 1, False),
    ("cls_8x256x14x14_k256_og4_dcnv2", 8, 256, 14, 14, 256, 1, 4, True),
    ("small_1x64x56x56_k64_dcnv2", 1, 64, 56, 56, 64, 1, 1, True),
]
CONV_DESCRIPTIONS = {
    "c3_1x128x100x168_k128_dcnv2": "ResNet-50 c3, 1x128x100x168 -> 128, DCNv2",
    "c4_1x256x50x84_k256_dcnv2": "ResNet-50 c4, 1x256x50x84 -> 256, DCNv2",
    "c5_1x512x25x42_k512_dcnv2": "ResNet-50 c5, 1x512x25x42 -> 512, DCNv2",
    "c4entry_1x256x100x168_k256_s2_dcnv1": "c4 entry, 1x256x100x168 -> 256, stride 2, DCNv1",
    "cls_8x256x14x14_k256_og4_dcnv2": "classification, 8x256x14x14 -> 256, 4 offset groups, DCNv2",
    "small_1x64x56x56_k64_dcnv2": "small, 1x64x56x56 -> 64, DCNv2",
}
IMPLS = ["dcn", "torchvision", "onnxruntime", "conv2d", "conv2d_nhwc"]
IMPL_LABELS = {
    "dcn": "dcn",
    "torchvision": "torchvision deform_conv2d",
    "onnxruntime": "onnxruntime DeformConv",
    "conv2d": "torch conv2d (oneDNN, NCHW)",
    "conv2d_nhwc": "torch conv2d (oneDNN, channels_last)",
}
SPATIAL_SCALE = 1.0 / 16
# The Faster R-CNN-like deform_roi_pool case and the R-FCN-like
# deform_psroi_pool case; their inputs come from bench/make_roi_inputs.py
# (keep in sync with bench/roi_pool_bench.cpp).
FRCNN = dict(R=512, C=256, H=50, W=84, P=7, sampling_ratio=2, gamma=0.1)
RFCN = dict(R=300, output_dim=21, group_size=7, P=7, H=38, W=63, sample_per_part=4, trans_std=0.1)
RTOL = ATOL = 1e-4
NOMINAL_PEAK = "2 cores x 2 FMA pipes x 8 lanes (a 512-bit FMA is two 256-bit halves on Zen 4) x 2 FLOP x ~3.6 GHz = ~230 GFLOP/s"


# ---- machine and build -----------------------------------------------------------------

def machine_info():
    info = {"cpu_model": platform.processor() or "unknown", "logical_cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        first = text.split("\n\n")[0]
        fields = dict((k.strip(), v.strip()) for k, _, v in (l.partition(":") for l in first.splitlines()))
        info["cpu_model"] = fields.get("model name", info["cpu_model"])
        info["cpu_family"] = fields.get("cpu family")
        info["cpu_model_number"] = fields.get("model")
        flags = fields.get("flags", "").split()
        info["avx512f"] = "avx512f" in flags
        info["physical_cores"] = len(set(re.findall(r"core id\s*:\s*(\d+)", text))) or None
    except OSError:
        pass
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    info["kernel"] = platform.release()
    return info


def loadavg():
    try:
        return [float(v) for v in open("/proc/loadavg").read().split()[:3]]
    except OSError:
        return None


class ForeignLoad:
    """How many CPUs other processes kept busy (plus time the hypervisor
    stole) while we measured: system busy time from /proc/stat minus this
    process's and its children's CPU time, over the wall time. 0 on a quiet
    machine; near the thread count, and every timing is suspect."""

    HZ = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _busy():
        try:
            v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        user, nice, system, idle, iowait, irq, softirq, steal = v
        return (user + nice + system + irq + softirq + steal) / ForeignLoad.HZ

    @staticmethod
    def _ours():
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __init__(self):
        self.t0, self.busy0, self.ours0 = time.monotonic(), self._busy(), self._ours()

    def cpus(self):
        busy = self._busy()
        if busy is None or self.busy0 is None:
            return None
        wall = time.monotonic() - self.t0
        return max(0.0, (busy - self.busy0) - (self._ours() - self.ours0)) / wall if wall > 0 else None


def wait_quiet(max_seconds, log):
    """Waits (up to max_seconds) until other processes use < 0.2 CPUs over 3 s."""
    start = time.monotonic()
    last_log = start - 60
    while True:
        meter = ForeignLoad()
        time.sleep(3)
        load = meter.cpus()
        if load is None or load < 0.2:
            return load
        now = time.monotonic()
        if now - start > max_seconds:
            log("peers.py: warning: the machine is still busy (other processes use %.1f CPUs); measuring anyway" % load)
            return load
        if now - last_log >= 30:
            log("peers.py: waiting for a quiet machine (other processes use %.1f CPUs)" % load)
            last_log = now


LIBRARY_SOURCES = ["CMakeLists.txt", "cmake", "generators", "schedules", "runtime", "tools"]


QUIET_CPUS = 0.25


def quiet_round(fn, args, log):
    """Runs one round of measurements; with --wait-quiet, a round during which
    other processes used more than QUIET_CPUS CPUs is thrown away and run
    again once the machine is quiet (up to 3 times; then it is kept, and the
    row's 'other processes' CPUs' column shows it)."""
    for attempt in range(4):
        meter = ForeignLoad()
        got = fn()
        load = meter.cpus()
        if not args.wait_quiet or load is None or load <= QUIET_CPUS or attempt == 3:
            return got, load
        log("    (other processes used %.2f CPUs during that round: measuring it again)" % load)
        wait_quiet(args.wait_quiet, log)


def max_load(loads):
    loads = [v for v in loads if v is not None]
    return max(loads) if loads else None


def git_commit():
    """HEAD's short hash, whether the library's sources differ from it, and a
    fingerprint of those sources as they are now (tracked changes and
    untracked files), so that runs of an uncommitted tree can be told apart."""
    def git(*args):
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True).stdout
    commit = git("rev-parse", "--short", "HEAD").decode().strip() or "unknown"
    h = hashlib.sha256(git("diff", "HEAD", "--", *LIBRARY_SOURCES))
    untracked = git("ls-files", "--others", "--exclude-standard", "-z", "--", *LIBRARY_SOURCES).split(b"\0")
    for path in sorted(p for p in untracked if p):
        h.update(path)
        try:
            h.update(open(os.path.join(ROOT, path.decode()), "rb").read())
        except OSError:
            pass
    dirty = bool(git("status", "--porcelain", "--", *LIBRARY_SOURCES).strip())
    return commit, dirty, h.hexdigest()[:12] if dirty else None


def newer_sources(binary):
    """Library source files modified after `binary` was built (a stale build)."""
    built = os.path.getmtime(binary)
    out = []
    for top in LIBRARY_SOURCES:
        path = os.path.join(ROOT, top)
        files = [path] if os.path.isfile(path) else [
            os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
        out += [os.path.relpath(f, ROOT) for f in files if os.path.getmtime(f) > built]
    return sorted(out)


def fma_peak(bin_dir, threads):
    """The 2-thread AVX-512 FMA ceiling measured now by build/bin/fma_peak, or None."""
    exe = os.path.join(bin_dir, "fma_peak")
    if not os.access(exe, os.X_OK):
        return None
    out = subprocess.run([exe, str(threads)], capture_output=True, text=True).stdout
    m = re.findall(r"(\d+) threads?: ([\d.]+) GFLOP/s", out)
    return float(m[-1][1]) if m else None


# ---- timing helpers -------------------------------------------------------------------

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


# ---- deform_conv2d ----------------------------------------------------------------------

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


# ---- RoI pooling ------------------------------------------------------------------------

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


# ---- merging runs and reporting ---------------------------------------------------------

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


# ---- main -------------------------------------------------------------------------------

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


if __name__ == "__main__":
    sys.exit(main())
