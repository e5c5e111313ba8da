"""PyTorch custom operators (torch.library, torch >= 2.4): torch.ops.dcn.*.

Each forward op has a fake (meta) implementation, so that torch.compile
(fullgraph=True) and torch.export trace through it, and an autograd formula
that calls the backward op, itself a custom op with a fake implementation.
The kernels run on the tensors' memory through DLPack (no copy for
C-contiguous inputs), on CPU tensors, or on CUDA tensors in torch's current
context and stream.

    torch.ops.dcn.deform_conv2d(input, offset, weight, bias, mask, stride, padding, dilation, groups,
                                offset_groups)
    torch.ops.dcn.deform_roi_pool(input, rois, offset, mask, output_size, spatial_scale, sampling_ratio, gamma)
    torch.ops.dcn.deform_psroi_pool(input, rois, trans, spatial_scale, output_dim, group_size, pooled_size,
                                    part_size, sample_per_part, trans_std)   # -> (output, count)
"""
import ctypes
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from . import _dcn
from ._params import conv_output_hw

_cuda_driver = None


def _cuda_current_context():
    """The calling thread's current CUcontext (torch's), through the CUDA
    driver library torch itself has loaded."""
    global _cuda_driver
    if _cuda_driver is None:
        _cuda_driver = ctypes.CDLL("libcuda.so.1")
    ctx = ctypes.c_void_p()
    if _cuda_driver.cuCtxGetCurrent(ctypes.byref(ctx)) != 0:
        raise RuntimeError("dcn: cuCtxGetCurrent failed")
    return ctx.value or 0


def _where(t: Tensor):
    """(device, context, stream) of a call on tensor t's device."""
    if t.device.type == "cpu":
        return "cpu", 0, 0
    if t.device.type == "cuda":
        torch.cuda.set_device(t.device)
        return "cuda", _cuda_current_context(), torch.cuda.current_stream(t.device).cuda_stream
    raise ValueError("dcn: input: expected a CPU or CUDA tensor, got device %s" % t.device)


def _c(t: Optional[Tensor]):
    return None if t is None else t.detach().contiguous()


def _a(t: Optional[Tensor]):
    """A C-contiguous tensor as the extension module takes it: a numpy view of
    a CPU tensor (the cheapest import: no DLPack capsule), else the tensor
    (DLPack)."""
    if t is None:
        return None
    return t.numpy() if t.device.type == "cpu" else t


def _shape(t: Optional[Tensor]):
    return None if t is None else t.shape


def _gradient_buffers(like: Tensor, wanted: List[bool], shapes):
    """A backward op's outputs: each gradient of its input's shape where it is
    wanted and the input exists (its shape is not None), else empty; and
    which those are."""
    w = [bool(k) and sh is not None for k, sh in zip(wanted, shapes)]
    return [like.new_empty(sh if k else (0,)) for sh, k in zip(shapes, w)], w


def _conv_grad_shapes(input, offset, weight, mask):
    return [input.shape, offset.shape, weight.shape, (weight.shape[0],), _shape(mask)]


def _roi_grad_shapes(input, offset, mask):
    return [input.shape, _shape(offset), _shape(mask)]


def _psroi_grad_shapes(input, trans):
    return [input.shape, _shape(trans)]


# ---- deform_conv2d ----------------------------------------------------------------

def _conv_out_shape(input, offset, weight, stride, padding, dilation):
    oH, oW = conv_output_hw(input.shape[2], input.shape[3], weight.shape[2], weight.shape[3], stride, padding,
                            dilation)
    return (input.shape[0], weight.shape[0], oH, oW)


@torch.library.custom_op("dcn::deform_conv2d", mutates_args=())
def deform_conv2d(input: Tensor, offset: Tensor, weight: Tensor, bias: Optional[Tensor], mask: Optional[Tensor],
                  stride: List[int], padding: List[int], dilation: List[int], groups: int,
                  offset_groups: int) -> Tensor:
    """padding: (top, left, bottom, right); groups / offset_groups 0 =
    inferred from the shapes (dcn.deform_conv2d passes them inferred, so
    that an exported graph states them: ONNX DeformConv's attributes)."""
    x = _c(input)
    if x.dim() != 4 or weight.dim() != 4:  # the library's one-line error, from its own checks
        out = x.new_empty((0,))
    else:
        out = x.new_empty(_conv_out_shape(x, offset, weight, stride, padding, dilation))
    _dcn.deform_conv2d(_a(x), _a(_c(offset)), _a(_c(weight)), _a(_c(mask)), _a(_c(bias)), _a(out), stride, padding,
                       dilation, groups, offset_groups, *_where(x))
    return out


@deform_conv2d.register_fake
def _(input, offset, weight, bias, mask, stride, padding, dilation, groups, offset_groups):
    return input.new_empty(_conv_out_shape(input, offset, weight, stride, padding, dilation))


@torch.library.custom_op("dcn::deform_conv2d_backward", mutates_args=())
def deform_conv2d_backward(grad_output: Tensor, input: Tensor, offset: Tensor, weight: Tensor,
                           mask: Optional[Tensor], stride: List[int], padding: List[int], dilation: List[int],
                           groups: int, offset_groups: int,
                           wanted: List[bool]) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gradients (input, offset, weight, bias, mask) asked for by
    `wanted` (in that order); the others are empty (0 elements)."""
    x = _c(input)
    g, w = _gradient_buffers(x, wanted, _conv_grad_shapes(input, offset, weight, mask))
    opt = [t if k else None for t, k in zip(g, w)]
    if any(w):
        _dcn.deform_conv2d_backward(_a(_c(grad_output)), _a(x), _a(_c(offset)), _a(_c(weight)), _a(_c(mask)),
                                    _a(opt[0]), _a(opt[1]), _a(opt[4]), _a(opt[2]), _a(opt[3]), stride, padding,
                                    dilation, groups, offset_groups, *_where(x))
    return tuple(g)


@deform_conv2d_backward.register_fake
def _(grad_output, input, offset, weight, mask, stride, padding, dilation, groups, offset_groups, wanted):
    return tuple(_gradient_buffers(input, wanted, _conv_grad_shapes(input, offset, weight, mask))[0])


def _conv_setup(ctx, inputs, output):
    input, offset, weight, bias, mask = inputs[:5]
    ctx.save_for_backward(input, offset, weight, mask)
    ctx.has_bias = bias is not None
    ctx.params = tuple(inputs[5:])  # stride, padding, dilation, groups, offset_groups


def _conv_backward(ctx, grad):
    input, offset, weight, mask = ctx.saved_tensors
    need = ctx.needs_input_grad
    wanted = [need[0], need[1], need[2], need[3] and ctx.has_bias, need[4] and mask is not None]
    gi, goff, gw, gb, gm = torch.ops.dcn.deform_conv2d_backward(grad, input, offset, weight, mask, *ctx.params,
                                                                wanted)
    pick = lambda t, w: t if w else None
    return (pick(gi, wanted[0]), pick(goff, wanted[1]), pick(gw, wanted[2]), pick(gb, wanted[3]),
            pick(gm, wanted[4])) + (None,) * 5


deform_conv2d.register_autograd(_conv_backward, setup_context=_conv_setup)


# ---- deform_roi_pool (mmcv) ------------------------------------------------------------

@torch.library.custom_op("dcn::deform_roi_pool", mutates_args=())
def deform_roi_pool(input: Tensor, rois: Tensor, offset: Optional[Tensor], mask: Optional[Tensor],
                    output_size: List[int], spatial_scale: float, sampling_ratio: int, gamma: float) -> Tensor:
    x = _c(input)
    r = rois.detach().cpu().contiguous()  # the RoI table is read on the host
    out = x.new_empty((r.shape[0] if r.dim() == 2 else 0, x.shape[1] if x.dim() == 4 else 0, *output_size))
    _dcn.deform_roi_pool(_a(x), _a(r), _a(_c(offset)), _a(_c(mask)), _a(out), output_size, spatial_scale,
                         sampling_ratio, gamma, *_where(x))
    return out


@deform_roi_pool.register_fake
def _(input, rois, offset, mask, output_size, spatial_scale, sampling_ratio, gamma):
    return input.new_empty((rois.shape[0], input.shape[1], *output_size))


@torch.library.custom_op("dcn::deform_roi_pool_backward", mutates_args=())
def deform_roi_pool_backward(grad_output: Tensor, input: Tensor, rois: Tensor, offset: Optional[Tensor],
                             mask: Optional[Tensor], output_size: List[int], spatial_scale: float,
                             sampling_ratio: int, gamma: float, wanted: List[bool]) -> Tuple[Tensor, Tensor, Tensor]:
    """The gradients (input, offset, mask) asked for; the others empty."""
    x = _c(input)
    g, w = _gradient_buffers(x, wanted, _roi_grad_shapes(input, offset, mask))
    if any(w):
        _dcn.deform_roi_pool_backward(_a(_c(grad_output)), _a(x), _a(rois.detach().cpu().contiguous()),
                                      _a(_c(offset)), _a(_c(mask)), *[_a(t) if k else None for t, k in zip(g, w)],
                                      output_size, spatial_scale, sampling_ratio, gamma, *_where(x))
    return tuple(g)


@deform_roi_pool_backward.register_fake
def _(grad_output, input, rois, offset, mask, output_size, spatial_scale, sampling_ratio, gamma, wanted):
    return tuple(_gradient_buffers(input, wanted, _roi_grad_shapes(input, offset, mask))[0])


def _roi_setup(ctx, inputs, output):
    input, rois, offset, mask, output_size, spatial_scale, sampling_ratio, gamma = inputs
    ctx.save_for_backward(input, rois, offset, mask)
    ctx.params = (output_size, spatial_scale, sampling_ratio, gamma)


def _roi_backward(ctx, grad):
    input, rois, offset, mask = ctx.saved_tensors
    need = ctx.needs_input_grad
    wanted = [need[0], need[2] and offset is not None, need[3] and mask is not None]
    gi, goff, gm = torch.ops.dcn.deform_roi_pool_backward(grad, input, rois, offset, mask, *ctx.params, wanted)
    pick = lambda t, w: t if w else None
    return pick(gi, wanted[0]), None, pick(goff, wanted[1]), pick(gm, wanted[2]), None, None, None, None


deform_roi_pool.register_autograd(_roi_backward, setup_context=_roi_setup)


# ---- deform_psroi_pool (MSRA) -------------------------------------------------------------

@torch.library.custom_op("dcn::deform_psroi_pool", mutates_args=())
def deform_psroi_pool(input: Tensor, rois: Tensor, trans: Optional[Tensor], spatial_scale: float, output_dim: int,
                      group_size: int, pooled_size: int, part_size: int, sample_per_part: int,
                      trans_std: float) -> Tuple[Tensor, Tensor]:
    """(output, count); part_size 0 = pooled_size."""
    x = _c(input)
    r = rois.detach().cpu().contiguous()
    shape = (r.shape[0] if r.dim() == 2 else 0, output_dim, pooled_size, pooled_size)
    out, count = x.new_empty(shape), x.new_empty(shape)
    _dcn.deform_psroi_pool(_a(x), _a(r), _a(_c(trans)), _a(out), _a(count), spatial_scale, output_dim, group_size,
                           pooled_size, part_size, sample_per_part, trans_std, *_where(x))
    return out, count


@deform_psroi_pool.register_fake
def _(input, rois, trans, spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part, trans_std):
    shape = (rois.shape[0], output_dim, pooled_size, pooled_size)
    return input.new_empty(shape), input.new_empty(shape)


@torch.library.custom_op("dcn::deform_psroi_pool_backward", mutates_args=())
def deform_psroi_pool_backward(grad_output: Tensor, input: Tensor, rois: Tensor, trans: Optional[Tensor],
                               spatial_scale: float, output_dim: int, group_size: int, pooled_size: int,
                               part_size: int, sample_per_part: int, trans_std: float,
                               wanted: List[bool]) -> Tuple[Tensor, Tensor]:
    """The gradients (input, trans) asked for; the others empty."""
    x = _c(input)
    g, w = _gradient_buffers(x, wanted, _psroi_grad_shapes(input, trans))
    if any(w):
        _dcn.deform_psroi_pool_backward(_a(_c(grad_output)), _a(x), _a(rois.detach().cpu().contiguous()),
                                        _a(_c(trans)), *[_a(t) if k else None for t, k in zip(g, w)], spatial_scale,
                                        output_dim, group_size, pooled_size, part_size, sample_per_part, trans_std,
                                        *_where(x))
    return tuple(g)


@deform_psroi_pool_backward.register_fake
def _(grad_output, input, rois, trans, spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
      trans_std, wanted):
    return tuple(_gradient_buffers(input, wanted, _psroi_grad_shapes(input, trans))[0])


def _psroi_setup(ctx, inputs, output):
    input, rois, trans = inputs[:3]
    ctx.save_for_backward(input, rois, trans)
    ctx.mark_non_differentiable(output[1])  # the count
    ctx.params = tuple(inputs[3:])


def _psroi_backward(ctx, grad, grad_count):
    input, rois, trans = ctx.saved_tensors
    need = ctx.needs_input_grad
    wanted = [need[0], need[2] and trans is not None]
    gi, gt = torch.ops.dcn.deform_psroi_pool_backward(grad, input, rois, trans, *ctx.params, wanted)
    return (gi if wanted[0] else None, None, gt if wanted[1] else None) + (None,) * 7


deform_psroi_pool.register_autograd(_psroi_backward, setup_context=_psroi_setup)
