"""A fuzz of the Python argument space (hypothesis): random shapes, dtypes,
parameters and array kinds, good and bad, through dcn.deform_conv2d,
dcn.deform_roi_pool and dcn.deform_psroi_pool on numpy and torch. Every
call either returns an output of the right shape and dtype or raises
ValueError / TypeError with one line naming the function and an argument;
nothing crashes, hangs or allocates without bound (shapes are small; the
parameters are not)."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import dcn

DIMS = st.integers(-1, 6)
PARAM = st.one_of(st.integers(-2, 4), st.sampled_from([0, 2**20, 2**21, 2**31, -2**31 - 1]))
DTYPES = st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.bool_, np.complex64])


def array(shape, dtype, kind):
    if any(d < 0 for d in shape):
        return np.ones((1,), np.float32)  # stands for a shape that cannot exist: a wrong rank / size
    a = np.ones(shape, dtype)
    if kind == "torch":
        try:
            return torch.from_numpy(a)
        except TypeError:
            return a
    if kind == "readonly":
        a.setflags(write=False)
    if kind == "bigendian" and a.dtype.kind == "f":
        a = a.astype(a.dtype.newbyteorder(">"))
    return a


def check(call, fn):
    try:
        y = call()
    except (ValueError, TypeError) as e:
        msg = str(e)
        assert "\n" not in msg, msg
        assert msg.startswith(fn + ": ") or msg.startswith("deform_"), msg
        return None
    assert np.all(np.isfinite(np.asarray(y.detach() if isinstance(y, torch.Tensor) else y)))
    return y


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(n=DIMS, c=DIMS, h=DIMS, w=DIMS, k=DIMS, kh=DIMS, kw=DIMS, oc=st.integers(-1, 40), stride=PARAM, pad=PARAM,
       dil=PARAM, dtype=DTYPES, kind=st.sampled_from(["numpy", "torch", "readonly", "bigendian"]),
       with_mask=st.booleans())
def test_fuzz_deform_conv2d(n, c, h, w, k, kh, kw, oc, stride, pad, dil, dtype, kind, with_mask):
    x = array((n, c, h, w), dtype, kind)
    off = array((n, oc, h, w), dtype, kind)
    wt = array((k, c, kh, kw), dtype, kind)
    m = array((n, max(oc // 2, 0), h, w), dtype, kind) if with_mask else None
    y = check(lambda: dcn.deform_conv2d(x, off, wt, stride=stride, padding=pad, dilation=dil, mask=m),
              "deform_conv2d")
    if y is not None:
        assert y.shape[:2] == (n, k)


@FUZZ
@given(n=DIMS, c=DIMS, h=DIMS, w=DIMS, r=st.integers(-1, 3), ph=PARAM, pw=PARAM, ratio=PARAM,
       scale=st.sampled_from([1.0, 0.0, -1.0, float("nan"), float("inf"), 1e30]), dtype=DTYPES,
       kind=st.sampled_from(["numpy", "torch", "readonly"]), coord=st.sampled_from([0.0, 3.0, -50.0, 1e9]))
def test_fuzz_deform_roi_pool(n, c, h, w, r, ph, pw, ratio, scale, dtype, kind, coord):
    x = array((n, c, h, w), dtype, kind)
    rois = array((r, 5), dtype, kind)
    if isinstance(rois, np.ndarray) and rois.ndim == 2 and rois.dtype.kind == "f" and rois.flags.writeable:
        rois[:, 0] = 0
        rois[:, 3:] = coord
    y = check(lambda: dcn.deform_roi_pool(x, rois, None, (ph, pw), spatial_scale=scale, sampling_ratio=ratio),
              "deform_roi_pool")
    if y is not None:
        assert tuple(y.shape) == (r, c, ph, pw)


@FUZZ
@given(n=DIMS, d=DIMS, g=PARAM, p=PARAM, spp=PARAM, part=st.one_of(st.none(), PARAM), h=DIMS, w=DIMS,
       r=st.integers(-1, 3), dtype=DTYPES, kind=st.sampled_from(["numpy", "torch"]))
def test_fuzz_deform_psroi_pool(n, d, g, p, spp, part, h, w, r, dtype, kind):
    c = d * g * g if 0 <= d * g * g <= 64 else 1
    x = array((n, c, h, w), dtype, kind)
    rois = array((r, 5), dtype, kind)
    y = check(lambda: dcn.deform_psroi_pool(x, rois, None, 1.0, d, g, p, part, spp), "deform_psroi_pool")
    if y is not None:
        assert tuple(y.shape) == (r, d, p, p)
