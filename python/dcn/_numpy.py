"""The operators on numpy arrays (and anything numpy.asarray takes).

Order of every call: arguments checked from their shapes, dtypes and values
alone (the library's *_validate, which reads no tensor data but the RoI
table's); only then the copies that must be made (an input that is not
C-contiguous, or not in native byte order); then the outputs, allocated in
the inputs' dtype; then the kernel. Read-only and memory-mapped inputs are
used in place."""
import numpy as np

from . import _dcn
from ._params import conv_padding, float_arg, int_arg, pair, psroi_part_size


def _array(fn, name, a, required=True):
    """`a` as a numpy array of float32 / float64 elements (any byte order,
    any strides: no copy yet), or None; TypeError for what is not an array,
    ValueError for an array the library cannot take."""
    if a is None:
        if required:
            raise TypeError("%s: %s: expected an array, got None" % (fn, name))
        return None
    if type(a).__module__.startswith("torch"):
        raise ValueError("%s: %s: expected a numpy array like the input, got a torch.Tensor (pass all tensors of "
                         "a call as numpy arrays or all as torch tensors)" % (fn, name))
    if not isinstance(a, np.ndarray):
        try:
            b = np.asarray(a)
        except Exception:
            b = None
        if b is None or b.dtype == object:
            raise TypeError("%s: %s: expected an array, got %s" % (fn, name, type(a).__name__))
        a = b
    if a.dtype.kind != "f" or a.dtype.itemsize not in (2, 4, 8):
        raise ValueError("%s: %s: expected float16, float32 or float64 elements, got %s (bfloat16: pass torch "
                         "tensors)" % (fn, name, a.dtype))
    return a


def _spec(a):
    """What validation needs of an array: (shape, dtype, device)."""
    return None if a is None else (list(a.shape), "float%d" % (8 * a.dtype.itemsize), "cpu")


def _c(a):
    """C-contiguous and in native byte order: a copy only where needed."""
    if a is None:
        return None
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))


# numpy arrays live in host memory: every call runs on the CPU.
_CPU = "cpu"


def _dtype(a):
    return np.dtype("float%d" % (8 * a.dtype.itemsize))


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None):
    fn = "deform_conv2d"
    x, off, w = _array(fn, "input", input), _array(fn, "offset", offset), _array(fn, "weight", weight)
    b, m = _array(fn, "bias", bias, False), _array(fn, "mask", mask, False)
    stride, pad, dilation = pair("stride", stride, fn), conv_padding(padding, fn), pair("dilation", dilation, fn)
    shape = _dcn.deform_conv2d_validate(_spec(x), _spec(off), _spec(w), _spec(m), _spec(b), stride, pad, dilation,
                                        0, 0, _CPU)
    x, off, w, b, m = _c(x), _c(off), _c(w), _c(b), _c(m)
    out = np.empty(shape, dtype=_dtype(x))
    _dcn.deform_conv2d(x, off, w, m, b, out, stride, pad, dilation, 0, 0, _CPU, 0, 0)
    return out


def _rois(fn, rois):
    """The RoI table, which validation reads: C-contiguous now."""
    return _c(_array(fn, "rois", rois))


def deform_roi_pool(input, rois, offset=None, output_size=(7, 7), spatial_scale=1.0, sampling_ratio=0, gamma=0.1,
                    mask=None):
    fn = "deform_roi_pool"
    x, r = _array(fn, "input", input), _rois(fn, rois)
    off, m = _array(fn, "offset", offset, False), _array(fn, "mask", mask, False)
    size = pair("output_size", output_size, fn)
    params = (float_arg("spatial_scale", spatial_scale, fn), int_arg("sampling_ratio", sampling_ratio, fn),
              float_arg("gamma", gamma, fn))
    shape = _dcn.deform_roi_pool_validate(_spec(x), r, _spec(off), _spec(m), size, *params, _CPU)
    x, off, m = _c(x), _c(off), _c(m)
    out = np.empty(shape, dtype=_dtype(x))
    _dcn.deform_roi_pool(x, r, off, m, out, size, *params, _CPU, 0, 0)
    return out


def deform_psroi_pool(input, rois, trans=None, spatial_scale=1.0, output_dim=None, group_size=1, pooled_size=7,
                      part_size=None, sample_per_part=4, trans_std=0.0):
    fn = "deform_psroi_pool"
    if output_dim is None:
        raise ValueError("deform_psroi_pool: output_dim: required (C = output_dim * group_size^2)")
    x, r, t = _array(fn, "input", input), _rois(fn, rois), _array(fn, "trans", trans, False)
    params = (float_arg("spatial_scale", spatial_scale, fn), int_arg("output_dim", output_dim, fn),
              int_arg("group_size", group_size, fn), int_arg("pooled_size", pooled_size, fn),
              psroi_part_size(part_size, pooled_size, fn), int_arg("sample_per_part", sample_per_part, fn),
              float_arg("trans_std", trans_std, fn))
    shape = _dcn.deform_psroi_pool_validate(_spec(x), r, _spec(t), *params, _CPU)
    x, t = _c(x), _c(t)
    out, count = np.empty(shape, dtype=_dtype(x)), np.empty(shape, dtype=_dtype(x))
    _dcn.deform_psroi_pool(x, r, t, out, count, *params, _CPU, 0, 0)
    return out
