"""dcn: deformable convolution (DCNv1 / DCNv2) and deformable RoI pooling,
Halide ahead-of-time kernels for CPUs (and NVIDIA GPUs), with gradients.

numpy in, numpy out; torch in, torch out (through the custom operators of
dcn.ops, torch.ops.dcn.*, with autograd, torch.compile and torch.export
support). Errors raise ValueError (a bad argument) or RuntimeError (a device
or kernel failure) with the library's one-line message.

    dcn.deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0),
                      dilation=(1, 1), mask=None)                   # torchvision.ops.deform_conv2d
    dcn.deform_roi_pool(input, rois, offset, output_size, spatial_scale=1.0,
                        sampling_ratio=0, gamma=0.1, mask=None)     # mmcv.ops.deform_roi_pool
    dcn.deform_psroi_pool(input, rois, trans, spatial_scale, output_dim, group_size,
                          pooled_size, part_size=None, sample_per_part=4, trans_std=0.0)  # MSRA
"""
import importlib.util as _importlib_util

from . import _dcn, _numpy
from ._params import conv_groups, conv_padding, float_arg, int_arg, pair, psroi_part_size

from ._version import __version__  # noqa: F401  (written by the build from VERSION)

cached_memory_bytes = _dcn.cached_memory_bytes
release_cached_memory = _dcn.release_cached_memory
num_threads = _dcn.num_threads


def last_cpu_isa():
    """The CPU path ('avx512_bf16', 'avx512_skylake', 'avx2_fma', 'sse41', 'baseline') the
    last CPU kernel call of this thread ran."""
    return _dcn.last_cpu_isa()


def set_num_threads(n):
    """Worker threads of the CPU kernels, process-wide. n >= 1 fixes the
    count for every call; n = 0 restores the default: calls through torch
    tensors follow torch.get_num_threads(), numpy calls use HL_NUM_THREADS or
    the number of cores. n < 0 is a ValueError."""
    n = int_arg("n", n, "set_num_threads")
    if n < 0:
        raise ValueError("set_num_threads: n: expected >= 0 (0 = the default), got %d" % n)
    _dcn.set_num_threads(n)
    if _ops_module is not None:
        _ops_module._user_threads = n if n > 0 else None


def _is_torch(x):
    return type(x).__module__.startswith("torch")


_ops_module = None  # dcn.ops, once imported (the end of this file)
_ops = None         # torch.ops.dcn


def _torch_ops():
    if _ops is None:
        raise RuntimeError("dcn: torch tensors need torch, which is not installed")
    return _ops


def _torch_args(fn, **tensors):
    """In a call on torch tensors every tensor argument is a torch.Tensor
    (or None where optional): a ValueError naming the first one that is an
    array of another kind (numpy), a TypeError for one that is no array."""
    for name, t in tensors.items():
        if t is not None and not _is_torch(t):
            exc = ValueError if hasattr(t, "__array__") or hasattr(t, "__dlpack__") else TypeError
            raise exc("%s: %s: expected a torch.Tensor like the input, got %s (pass all tensors of a call "
                             "as torch tensors or all as numpy arrays)" % (fn, name, type(t).__name__))


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None):
    """Deformable convolution, exactly torchvision.ops.deform_conv2d
    (DCNv2 with a mask): input (N, C, H, W), offset (N, 2*G*kH*kW, oH, oW),
    weight (K, C/groups, kH, kW), mask (N, G*kH*kW, oH, oW); groups and
    offset groups follow from the shapes."""
    if _is_torch(input):
        fn = "deform_conv2d"
        _torch_args(fn, offset=offset, weight=weight, bias=bias, mask=mask)
        for name, t in (("offset", offset), ("weight", weight)):
            if t is None:
                raise TypeError("%s: %s: expected a tensor, got None" % (fn, name))
        groups, offset_groups = conv_groups(input, offset, weight)
        return _torch_ops().deform_conv2d(input, offset, weight, bias, mask, list(pair("stride", stride, fn)),
                                          list(conv_padding(padding, fn)), list(pair("dilation", dilation, fn)),
                                          groups, offset_groups)
    return _numpy.deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)


def deform_roi_pool(input, rois, offset, output_size, spatial_scale=1.0, sampling_ratio=0, gamma=0.1, mask=None):
    """Deformable RoI pooling, exactly mmcv.ops.deform_roi_pool (RoIAlign
    sampling, aligned); with a mask, the modulated variant (the output times
    the mask, mmcv's ModulatedDeformRoIPoolPack). rois (R, 5) = (batch, x1,
    y1, x2, y2); offset (R, 2, PH, PW) or None; mask (R, 1, PH, PW)."""
    if _is_torch(input):
        fn = "deform_roi_pool"
        _torch_args(fn, rois=rois, offset=offset, mask=mask)
        if rois is None:
            raise TypeError("%s: rois: expected a tensor, got None" % fn)
        return _torch_ops().deform_roi_pool(input, rois, offset, mask, list(pair("output_size", output_size, fn)),
                                            float_arg("spatial_scale", spatial_scale, fn),
                                            int_arg("sampling_ratio", sampling_ratio, fn), float_arg("gamma", gamma, fn))
    return _numpy.deform_roi_pool(input, rois, offset, output_size, spatial_scale, sampling_ratio, gamma, mask)


def deform_psroi_pool(input, rois, trans=None, spatial_scale=1.0, output_dim=None, group_size=1, pooled_size=7,
                      part_size=None, sample_per_part=4, trans_std=0.0):
    """Deformable position-sensitive RoI pooling, MSRA's
    DeformablePSROIPooling (Deformable R-FCN): input (N, output_dim *
    group_size^2, H, W), rois (R, 5), trans (R, 2 * num_classes, part,
    part) or None; returns (R, output_dim, pooled_size, pooled_size)."""
    if output_dim is None:
        raise ValueError("deform_psroi_pool: output_dim: required (C = output_dim * group_size^2)")
    if _is_torch(input):
        fn = "deform_psroi_pool"
        _torch_args(fn, rois=rois, trans=trans)
        if rois is None:
            raise TypeError("%s: rois: expected a tensor, got None" % fn)
        return _torch_ops().deform_psroi_pool(input, rois, trans, float_arg("spatial_scale", spatial_scale, fn),
                                              int_arg("output_dim", output_dim, fn),
                                              int_arg("group_size", group_size, fn),
                                              int_arg("pooled_size", pooled_size, fn),
                                              psroi_part_size(part_size, pooled_size, fn),
                                              int_arg("sample_per_part", sample_per_part, fn),
                                              float_arg("trans_std", trans_std, fn))[0]
    return _numpy.deform_psroi_pool(input, rois, trans, spatial_scale, output_dim, group_size, pooled_size,
                                    part_size, sample_per_part, trans_std)


def override_torchvision(devices=("cpu",)):
    """torchvision.ops.deform_conv2d / DeformConv2d run dcn's kernels, forward
    and backward, on tensors of these devices, until restore_torchvision()
    (dcn/_torchvision.py). Needs torch and torchvision."""
    from . import _torchvision
    _torchvision.override_torchvision(devices)


def restore_torchvision(devices=("cpu", "cuda")):
    """torchvision's own deform_conv2d kernels again."""
    from . import _torchvision
    _torchvision.restore_torchvision(devices)


def torchvision_override(devices=("cpu",)):
    """A context manager: override_torchvision() inside the block."""
    from . import _torchvision
    return _torchvision.torchvision_override(devices)


def __getattr__(name):
    """dcn.onnx (and, without torch, a clear ImportError for dcn.nn / dcn.ops)."""
    if name in ("nn", "ops", "onnx"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module 'dcn' has no attribute %r" % name)


# With torch installed, the torch ops (and what torch.library pulls in) are
# registered now, at `import dcn`, never lazily at a first call: a fork
# (a DataLoader worker) while another thread is half-way through an import
# would leave the child deadlocked on Python's import lock.
if _importlib_util.find_spec("torch") is not None:
    from . import ops as _ops_module
    from . import nn  # noqa: F401,E402  (dcn.nn, imported now for the same reason)
    import torch as _torch

    _ops = _torch.ops.dcn
