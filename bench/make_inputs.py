#!/usr/bin/env python3
"""Writes random deform_conv2d inputs as .npy files for `dcn deform-conv2d`.

    python bench/make_inputs.py --shape N,C,H,W,K[,kH,kW] [--stride S] [--padding P]
        [--dilation D] [--offset-groups G] [--mask] [--bias] --out DIR

Offsets are a smooth field of a few pixels, the mask is in (0, 1), weights
are scaled by 1/sqrt(fan_in). Needs numpy (bench-only: `.venv/bin/pip install numpy`).
"""
import argparse
import os

import numpy as np


def deform_conv2d_inputs(n, c, h, w, k, kh=3, kw=3, stride=1, padding=1, dilation=1,
                         offset_groups=1, mask=False, bias=False, seed=0):
    """The arrays as a dict (input, weight, offset[, mask][, bias]), float32."""
    oh = (h + 2 * padding - (dilation * (kh - 1) + 1)) // stride + 1
    ow = (w + 2 * padding - (dilation * (kw - 1) + 1)) // stride + 1
    g, taps = offset_groups, kh * kw
    rng = np.random.default_rng(seed)
    f32 = np.float32
    out = {}
    out["input"] = rng.uniform(-1, 1, (n, c, h, w)).astype(f32)
    out["weight"] = (rng.uniform(-1, 1, (k, c, kh, kw)) / np.sqrt(c * taps)).astype(f32)
    yy, xx = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    off = np.empty((n, 2 * g * taps, oh, ow), f32)
    for ch in range(2 * g * taps):
        phase = rng.uniform(0, 6.28)
        off[:, ch] = 2.5 * np.sin(0.13 * xx + 0.11 * yy + phase)
    out["offset"] = off
    if mask:
        out["mask"] = (1 / (1 + np.exp(-rng.normal(0, 1, (n, g * taps, oh, ow))))).astype(f32)
    if bias:
        out["bias"] = rng.uniform(-0.1, 0.1, (k,)).astype(f32)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", required=True)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--padding", type=int, default=1)
    ap.add_argument("--dilation", type=int, default=1)
    ap.add_argument("--offset-groups", type=int, default=1)
    ap.add_argument("--mask", action="store_true")
    ap.add_argument("--bias", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    dims = [int(v) for v in a.shape.split(",")]
    n, c, h, w, k = dims[:5]
    kh, kw = (dims[5], dims[6]) if len(dims) == 7 else (3, 3)
    arrays = deform_conv2d_inputs(n, c, h, w, k, kh, kw, a.stride, a.padding, a.dilation,
                                  a.offset_groups, a.mask, a.bias, a.seed)
    os.makedirs(a.out, exist_ok=True)
    for name, arr in arrays.items():
        np.save(os.path.join(a.out, name + ".npy"), arr)


if __name__ == "__main__":
    main()
