"""The operators on numpy arrays (and anything numpy.asarray takes): the
inputs made C-contiguous, the outputs allocated in the inputs' dtype, the
kernels run by the extension module."""
import numpy as np

from . import _dcn
from ._params import conv_output_hw, conv_padding, pair, psroi_part_size


def _c(a):
    return None if a is None else np.ascontiguousarray(a)


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None,
                  device="cpu"):
    x, off, w, b, m = _c(input), _c(offset), _c(weight), _c(bias), _c(mask)
    stride, dilation, pad = pair("stride", stride), pair("dilation", dilation), conv_padding(padding)
    shape = _dcn.deform_conv2d_output_shape(list(x.shape), list(w.shape), stride, pad, dilation)
    out = np.empty(shape, dtype=x.dtype)
    _dcn.deform_conv2d(x, off, w, m, b, out, stride, pad, dilation, 0, 0, device, 0, 0)
    return out


def deform_conv2d_backward(grad_output, input, offset, weight, mask=None, stride=(1, 1), padding=(0, 0),
                           dilation=(1, 1), bias=True, device="cpu"):
    """The gradients (input, offset, weight, bias, mask) of
    sum(grad_output * deform_conv2d(...)); bias / mask are None when the
    call has none."""
    gy, x, off, w, m = _c(grad_output), _c(input), _c(offset), _c(weight), _c(mask)
    stride, dilation, pad = pair("stride", stride), pair("dilation", dilation), conv_padding(padding)
    g = [np.empty(x.shape, x.dtype), np.empty(off.shape, x.dtype), np.empty(w.shape, x.dtype),
         np.empty((w.shape[0],), x.dtype) if bias else None, np.empty(m.shape, x.dtype) if m is not None else None]
    _dcn.deform_conv2d_backward(gy, x, off, w, m, g[0], g[1], g[4], g[2], g[3], stride, pad, dilation, 0, 0, device,
                                0, 0)
    return tuple(g)


def deform_roi_pool(input, rois, offset=None, output_size=(7, 7), spatial_scale=1.0, sampling_ratio=0, gamma=0.1,
                    mask=None, device="cpu"):
    x, r, off, m = _c(input), _c(rois), _c(offset), _c(mask)
    ph, pw = pair("output_size", output_size)
    out = np.empty((r.shape[0] if r.ndim == 2 else 0, x.shape[1] if x.ndim == 4 else 0, ph, pw), dtype=x.dtype)
    _dcn.deform_roi_pool(x, r, off, m, out, (ph, pw), float(spatial_scale), int(sampling_ratio), float(gamma),
                         device, 0, 0)
    return out


def deform_psroi_pool(input, rois, trans=None, spatial_scale=1.0, output_dim=None, group_size=1, pooled_size=7,
                      part_size=None, sample_per_part=4, trans_std=0.0, return_count=False, device="cpu"):
    x, r, t = _c(input), _c(rois), _c(trans)
    if output_dim is None:
        raise ValueError("deform_psroi_pool: output_dim: required (C = output_dim * group_size^2)")
    shape = (r.shape[0] if r.ndim == 2 else 0, int(output_dim), int(pooled_size), int(pooled_size))
    out, count = np.empty(shape, dtype=x.dtype), np.empty(shape, dtype=x.dtype)
    _dcn.deform_psroi_pool(x, r, t, out, count, float(spatial_scale), int(output_dim), int(group_size),
                           int(pooled_size), psroi_part_size(part_size, pooled_size), int(sample_per_part),
                           float(trans_std), device, 0, 0)
    return (out, count) if return_count else out
