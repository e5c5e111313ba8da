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
from . import _dcn, _numpy
from ._params import conv_groups, conv_padding, pair, psroi_part_size

__version__ = "0.1.0"

set_num_threads = _dcn.set_num_threads
num_threads = _dcn.num_threads


def _is_torch(x):
    return type(x).__module__.startswith("torch")


_ops = None


def _torch_ops():
    """torch.ops.dcn, registered (dcn.ops) on first use."""
    global _ops
    if _ops is None:
        from . import ops  # noqa: F401
        import torch
        _ops = torch.ops.dcn
    return _ops


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None):
    """Deformable convolution, exactly torchvision.ops.deform_conv2d
    (DCNv2 with a mask): input (N, C, H, W), offset (N, 2*G*kH*kW, oH, oW),
    weight (K, C/groups, kH, kW), mask (N, G*kH*kW, oH, oW); groups and
    offset groups follow from the shapes."""
    if _is_torch(input):
        groups, offset_groups = conv_groups(input, offset, weight)
        return _torch_ops().deform_conv2d(input, offset, weight, bias, mask, list(pair("stride", stride)),
                                          list(conv_padding(padding)), list(pair("dilation", dilation)), groups,
                                          offset_groups)
    return _numpy.deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)


def deform_roi_pool(input, rois, offset, output_size, spatial_scale=1.0, sampling_ratio=0, gamma=0.1, mask=None):
    """Deformable RoI pooling, exactly mmcv.ops.deform_roi_pool (RoIAlign
    sampling, aligned); with a mask, the modulated variant (the output times
    the mask, mmcv's ModulatedDeformRoIPoolPack). rois (R, 5) = (batch, x1,
    y1, x2, y2); offset (R, 2, PH, PW) or None; mask (R, 1, PH, PW)."""
    if _is_torch(input):
        return _torch_ops().deform_roi_pool(input, rois, offset, mask, list(pair("output_size", output_size)),
                                            float(spatial_scale), int(sampling_ratio), float(gamma))
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
        return _torch_ops().deform_psroi_pool(input, rois, trans, float(spatial_scale), int(output_dim),
                                              int(group_size), int(pooled_size),
                                              psroi_part_size(part_size, pooled_size), int(sample_per_part),
                                              float(trans_std))[0]
    return _numpy.deform_psroi_pool(input, rois, trans, spatial_scale, output_dim, group_size, pooled_size,
                                    part_size, sample_per_part, trans_std)


def __getattr__(name):
    """dcn.nn, dcn.ops and dcn.onnx need torch: imported on first use."""
    if name in ("nn", "ops", "onnx"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module 'dcn' has no attribute %r" % name)
