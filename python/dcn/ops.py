"""PyTorch custom operators (torch.library, torch >= 2.4): torch.ops.dcn.*.

This is the op layer, what torch.compile, torch.export and ONNX export see:
raw signatures (bias before mask, four paddings, explicit groups), no
defaults. Models call the torchvision-style functions (dcn.deform_conv2d,
dcn.deform_roi_pool, dcn.deform_psroi_pool) or the dcn.nn modules.

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
from typing import List, Optional, Tuple

import torch
# Imported here, not lazily by torch at the first call (torch._compile's
# wrapper of every custom op imports torch._dynamo on first use): a fork
# while another thread is inside that import would deadlock the child.
import torch._dynamo  # noqa: F401
import torch._library.autograd
import torch.autograd.forward_ad
from torch import Tensor

from . import _dcn
from ._params import conv_output_hw, int_arg

_DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.bfloat16: "bfloat16",
           torch.float16: "float16"}

# The thread count dcn.set_num_threads asked for; None: calls through these
# ops follow torch.get_num_threads() (docs/guarantees.md, "Threads").
_user_threads = None


def _follow_torch_threads():
    if _user_threads is None:
        n = torch.get_num_threads()
        if n != _dcn.num_threads():
            _dcn.set_num_threads(n)


def _where(t: Tensor):
    """(device, context, stream) of a call on tensor t's device."""
    if t.device.type == "cpu":
        _follow_torch_threads()
        return "cpu", 0, 0
    if t.device.type == "cuda":
        # No context: the runtime runs in the one that owns the tensors'
        # memory (whatever this thread's current one is, autograd's worker
        # included), on torch's current stream of that device; tensors on
        # two GPUs are refused there. torch's current device is not touched.
        # float32 GEMMs may use TF32 when torch's matmuls may
        # (torch.backends.cuda.matmul.allow_tf32), read at each call.
        device = "cuda+tf32" if torch.backends.cuda.matmul.allow_tf32 else "cuda"
        return device, 0, torch.cuda.current_stream(t.device).cuda_stream
    raise ValueError("dcn: input: expected a CPU or CUDA tensor, got device %s" % t.device)


def _spec(fn: str, name: str, t: Optional[Tensor], required: bool = True):
    """What validation needs of a tensor: (shape, dtype, device); a
    ValueError naming the argument for a dtype or device the library cannot
    take. Nothing is copied."""
    if t is None:
        if required:
            raise TypeError("%s: %s: expected a tensor, got None" % (fn, name))
        return None
    if t.dtype not in _DTYPES:
        raise ValueError("%s: %s: expected float32, float64, bfloat16 or float16 elements, got %s"
                         % (fn, name, t.dtype))
    if t.device.type not in ("cpu", "cuda"):
        raise ValueError("%s: %s: expected a CPU or CUDA tensor, got device %s" % (fn, name, t.device))
    return (list(t.shape), _DTYPES[t.dtype], t.device.type)


def _present(wanted: List[bool], shapes):
    """Which gradients a backward op writes: wanted, and its input exists
    (its shape is not None)."""
    return [bool(k) and sh is not None for k, sh in zip(wanted, shapes)]


def _grad_specs(like: Tensor, wanted: List[bool], shapes):
    """The specs of the gradient buffers a backward op will write."""
    return [(list(sh), _DTYPES.get(like.dtype, str(like.dtype)), like.device.type) if k else None
            for k, sh in zip(_present(wanted, shapes), shapes)]


def _device(t: Tensor):
    return "cuda" if t.device.type == "cuda" else "cpu"


def _ints(fn: str, name: str, v: List[int], n: int):
    """A list parameter of n ints, each a 32-bit int (the extension's type)."""
    if len(v) != n:
        raise ValueError("%s: %s: expected %d ints, got %r" % (fn, name, n, list(v)))
    return [int_arg(name, x, fn) for x in v]


_lib = torch.library.Library("dcn", "IMPL")


def _refuse_forward_ad(op, name: str):
    """Forward-mode AD (torch.func.jvp, jacfwd, torch.autograd.forward_ad)
    is not implemented: a RuntimeError, never torch's silent zero tangent
    (a custom op without a forward formula passes its dual inputs' tangents
    nowhere). The op's Autograd kernel (torch's, from register_autograd) is
    wrapped by one that looks for tangents first: at that dispatch key the
    inputs are still dual tensors, under functorch's transforms too."""
    inner = torch._library.autograd.make_autograd_impl(op._opoverload, op)

    def autograd_kernel(keyset, *args, **kwargs):
        for a in args:
            if isinstance(a, Tensor) and torch.autograd.forward_ad.unpack_dual(a).tangent is not None:
                raise RuntimeError("dcn.%s: forward-mode AD (torch.func.jvp, jacfwd, forward_ad) is not "
                                   "implemented; use reverse mode (backward, torch.autograd.grad)" % name)
        return inner(keyset, *args, **kwargs)

    _lib.impl(name, autograd_kernel, "Autograd", with_keyset=True)


def _register_autocast(op, name: str):
    """Under torch.autocast (CPU or CUDA) the op runs in the autocast dtype:
    its floating-point tensors but float64 ones (as torch's own autocast;
    weights and the RoI table included) are cast to
    torch.get_autocast_dtype(device) (the casts are differentiable,
    so a float32 parameter gets a float32 gradient), then the op runs with
    autocast off. (torch.library.register_autocast takes one fixed dtype;
    this follows the autocast region's.)"""
    for device_type in ("cpu", "cuda"):
        key = "Autocast" + torch._C._dispatch_key_for_device(device_type)
        dispatch_key = getattr(torch._C.DispatchKey, key)

        def kernel(keyset, *args, _device_type=device_type, _key=dispatch_key):
            dtype = torch.get_autocast_dtype(_device_type)
            with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(_key)):
                cast = [a.to(dtype) if isinstance(a, Tensor) and a.is_floating_point() and a.dtype != torch.float64
                        else a for a in args]
                return op._opoverload(*cast)

        _lib.impl(name, kernel, key, with_keyset=True)


def _concrete(*tensors):
    """True when every shape is a plain int (not a symbolic size of
    torch.compile's dynamic shapes): then a fake can run the library's checks."""
    return all(isinstance(d, int) for t in tensors if t is not None for d in t.shape)


def _c(t: Optional[Tensor]):
    return None if t is None else t.detach().contiguous()


def _a(t: Optional[Tensor]):
    """A C-contiguous tensor as the extension module takes it: a numpy view of
    a CPU tensor (the cheapest import: no DLPack capsule), else the tensor
    (DLPack)."""
    if t is None:
        return None
    # numpy has no bfloat16: those go through DLPack like CUDA tensors.
    return t.numpy() if t.device.type == "cpu" and t.dtype != torch.bfloat16 else t


def _shape(t: Optional[Tensor]):
    return None if t is None else t.shape


def _gradient_buffers(like: Tensor, wanted: List[bool], shapes):
    """A backward op's outputs: each gradient of its input's shape where it is
    wanted and the input exists (its shape is not None), else empty; and
    which those are."""
    w = _present(wanted, shapes)
    return [like.new_empty(sh if k else (0,)) for sh, k in zip(shapes, w)], w


def _conv_grad_shapes(input, offset, weight, mask):
    return [input.shape, offset.shape, weight.shape, (weight.shape[0],) if weight.dim() > 0 else None, _shape(mask)]


def _roi_grad_shapes(input, offset, mask):
    return [input.shape, _shape(offset), _shape(mask)]


def _psroi_grad_shapes(input, trans):
    return [input.shape, _shape(trans)]


# ---- deform_conv2d ----------------------------------------------------------------

def _conv_out_shape(input, offset, weight, stride, padding, dilation):
    oH, oW = conv_output_hw(input.shape[2], input.shape[3], weight.shape[2], weight.shape[3], stride, padding,
                            dilation)
    return (input.shape[0], weight.shape[0], oH, oW)


def _conv_params(fn, stride, padding, dilation, groups, offset_groups):
    return (_ints(fn, "stride", stride, 2), _ints(fn, "padding", padding, 4), _ints(fn, "dilation", dilation, 2),
            int_arg("groups", groups, fn), int_arg("offset_groups", offset_groups, fn))


def _conv_validate(input, offset, weight, bias, mask, params):
    fn = "deform_conv2d"
    return _dcn.deform_conv2d_validate(_spec(fn, "input", input), _spec(fn, "offset", offset),
                                       _spec(fn, "weight", weight), _spec(fn, "mask", mask, False),
                                       _spec(fn, "bias", bias, False), *params, _device(input))


@torch.library.custom_op("dcn::deform_conv2d", mutates_args=())
def deform_conv2d(input: Tensor, offset: Tensor, weight: Tensor, bias: Optional[Tensor], mask: Optional[Tensor],
                  stride: List[int], padding: List[int], dilation: List[int], groups: int,
                  offset_groups: int) -> Tensor:
    """padding: (top, left, bottom, right); groups / offset_groups 0 =
    inferred from the shapes (dcn.deform_conv2d passes them inferred, so
    that an exported graph states them: ONNX DeformConv's attributes).
    Checked from the shapes first; then the copies (non-contiguous inputs
    only); then the output."""
    params = _conv_params("deform_conv2d", stride, padding, dilation, groups, offset_groups)
    shape = _conv_validate(input, offset, weight, bias, mask, params)
    x = _c(input)
    out = x.new_empty(shape)
    _dcn.deform_conv2d(_a(x), _a(_c(offset)), _a(_c(weight)), _a(_c(mask)), _a(_c(bias)), _a(out), *params,
                       *_where(x))
    return out


@deform_conv2d.register_fake
def _(input, offset, weight, bias, mask, stride, padding, dilation, groups, offset_groups):
    if _concrete(input, offset, weight, bias, mask):
        params = _conv_params("deform_conv2d", stride, padding, dilation, groups, offset_groups)
        return input.new_empty(_conv_validate(input, offset, weight, bias, mask, params))
    return input.new_empty(_conv_out_shape(input, offset, weight, stride, padding, dilation))


@torch.library.custom_op("dcn::deform_conv2d_backward", mutates_args=())
def deform_conv2d_backward(grad_output: Tensor, input: Tensor, offset: Tensor, weight: Tensor,
                           mask: Optional[Tensor], stride: List[int], padding: List[int], dilation: List[int],
                           groups: int, offset_groups: int,
                           wanted: List[bool]) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gradients (input, offset, weight, bias, mask) asked for by
    `wanted` (in that order); the others are empty (0 elements)."""
    fn = "deform_conv2d_backward"
    params = _conv_params(fn, stride, padding, dilation, groups, offset_groups)
    shapes = _conv_grad_shapes(input, offset, weight, mask)
    gs = _grad_specs(input, wanted, shapes)
    _dcn.deform_conv2d_backward_validate(_spec(fn, "grad_output", grad_output), _spec(fn, "input", input),
                                         _spec(fn, "offset", offset), _spec(fn, "weight", weight),
                                         _spec(fn, "mask", mask, False), gs[0], gs[1], gs[4], gs[2], gs[3], *params,
                                         _device(input))
    x = _c(input)
    g, w = _gradient_buffers(x, wanted, shapes)
    opt = [t if k else None for t, k in zip(g, w)]
    if any(w):
        _dcn.deform_conv2d_backward(_a(_c(grad_output)), _a(x), _a(_c(offset)), _a(_c(weight)), _a(_c(mask)),
                                    _a(opt[0]), _a(opt[1]), _a(opt[4]), _a(opt[2]), _a(opt[3]), *params,
                                    *_where(x))
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
_refuse_forward_ad(deform_conv2d, "deform_conv2d")
_register_autocast(deform_conv2d, "deform_conv2d")


# ---- deform_roi_pool (mmcv) ------------------------------------------------------------

def _roi_params(fn, output_size, spatial_scale, sampling_ratio, gamma):
    return (_ints(fn, "output_size", output_size, 2), float(spatial_scale), int_arg("sampling_ratio", sampling_ratio, fn),
            float(gamma))


def _rois(fn, rois):
    """The RoI table, read on the host (by validation too)."""
    _spec(fn, "rois", rois)
    return rois.detach().cpu().contiguous()


@torch.library.custom_op("dcn::deform_roi_pool", mutates_args=())
def deform_roi_pool(input: Tensor, rois: Tensor, offset: Optional[Tensor], mask: Optional[Tensor],
                    output_size: List[int], spatial_scale: float, sampling_ratio: int, gamma: float) -> Tensor:
    fn = "deform_roi_pool"
    params = _roi_params(fn, output_size, spatial_scale, sampling_ratio, gamma)
    r = _rois(fn, rois)
    shape = _dcn.deform_roi_pool_validate(_spec(fn, "input", input), _a(r), _spec(fn, "offset", offset, False),
                                          _spec(fn, "mask", mask, False), *params, _device(input))
    x = _c(input)
    out = x.new_empty(shape)
    _dcn.deform_roi_pool(_a(x), _a(r), _a(_c(offset)), _a(_c(mask)), _a(out), *params, *_where(x))
    return out


@deform_roi_pool.register_fake
def _(input, rois, offset, mask, output_size, spatial_scale, sampling_ratio, gamma):
    if _concrete(input, rois):
        params = _roi_params("deform_roi_pool", output_size, spatial_scale, sampling_ratio, gamma)
        return input.new_empty(_dcn.deform_roi_pool_output_shape(list(input.shape), list(rois.shape), *params))
    return input.new_empty((rois.shape[0], input.shape[1], *output_size))


@torch.library.custom_op("dcn::deform_roi_pool_backward", mutates_args=())
def deform_roi_pool_backward(grad_output: Tensor, input: Tensor, rois: Tensor, offset: Optional[Tensor],
                             mask: Optional[Tensor], output_size: List[int], spatial_scale: float,
                             sampling_ratio: int, gamma: float, wanted: List[bool]) -> Tuple[Tensor, Tensor, Tensor]:
    """The gradients (input, offset, mask) asked for; the others empty."""
    fn = "deform_roi_pool_backward"
    params = _roi_params(fn, output_size, spatial_scale, sampling_ratio, gamma)
    r = _rois(fn, rois)
    shapes = _roi_grad_shapes(input, offset, mask)
    gs = _grad_specs(input, wanted, shapes)
    _dcn.deform_roi_pool_backward_validate(_spec(fn, "grad_output", grad_output), _spec(fn, "input", input), _a(r),
                                           _spec(fn, "offset", offset, False), _spec(fn, "mask", mask, False), *gs,
                                           *params, _device(input))
    x = _c(input)
    g, w = _gradient_buffers(x, wanted, shapes)
    if any(w):
        _dcn.deform_roi_pool_backward(_a(_c(grad_output)), _a(x), _a(r), _a(_c(offset)), _a(_c(mask)),
                                      *[_a(t) if k else None for t, k in zip(g, w)], *params, *_where(x))
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
_refuse_forward_ad(deform_roi_pool, "deform_roi_pool")
_register_autocast(deform_roi_pool, "deform_roi_pool")


# ---- deform_psroi_pool (MSRA) -------------------------------------------------------------

def _psroi_params(fn, spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part, trans_std):
    return (float(spatial_scale), int_arg("output_dim", output_dim, fn), int_arg("group_size", group_size, fn),
            int_arg("pooled_size", pooled_size, fn), int_arg("part_size", part_size, fn),
            int_arg("sample_per_part", sample_per_part, fn), float(trans_std))


@torch.library.custom_op("dcn::deform_psroi_pool", mutates_args=())
def deform_psroi_pool(input: Tensor, rois: Tensor, trans: Optional[Tensor], spatial_scale: float, output_dim: int,
                      group_size: int, pooled_size: int, part_size: int, sample_per_part: int,
                      trans_std: float) -> Tuple[Tensor, Tensor]:
    """(output, count); part_size 0 = pooled_size."""
    fn = "deform_psroi_pool"
    params = _psroi_params(fn, spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
                           trans_std)
    r = _rois(fn, rois)
    shape = _dcn.deform_psroi_pool_validate(_spec(fn, "input", input), _a(r), _spec(fn, "trans", trans, False),
                                            *params, _device(input))
    x = _c(input)
    out, count = x.new_empty(shape), x.new_empty(shape)
    _dcn.deform_psroi_pool(_a(x), _a(r), _a(_c(trans)), _a(out), _a(count), *params, *_where(x))
    return out, count


@deform_psroi_pool.register_fake
def _(input, rois, trans, spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part, trans_std):
    if _concrete(input, rois):
        params = _psroi_params("deform_psroi_pool", spatial_scale, output_dim, group_size, pooled_size, part_size,
                               sample_per_part, trans_std)
        shape = _dcn.deform_psroi_pool_output_shape(list(input.shape), list(rois.shape), *params)
    else:
        shape = (rois.shape[0], output_dim, pooled_size, pooled_size)
    return input.new_empty(shape), input.new_empty(shape)


@torch.library.custom_op("dcn::deform_psroi_pool_backward", mutates_args=())
def deform_psroi_pool_backward(grad_output: Tensor, input: Tensor, rois: Tensor, trans: Optional[Tensor],
                               spatial_scale: float, output_dim: int, group_size: int, pooled_size: int,
                               part_size: int, sample_per_part: int, trans_std: float,
                               wanted: List[bool]) -> Tuple[Tensor, Tensor]:
    """The gradients (input, trans) asked for; the others empty."""
    fn = "deform_psroi_pool_backward"
    params = _psroi_params(fn, spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
                           trans_std)
    r = _rois(fn, rois)
    shapes = _psroi_grad_shapes(input, trans)
    gs = _grad_specs(input, wanted, shapes)
    _dcn.deform_psroi_pool_backward_validate(_spec(fn, "grad_output", grad_output), _spec(fn, "input", input), _a(r),
                                             _spec(fn, "trans", trans, False), *gs, *params, _device(input))
    x = _c(input)
    g, w = _gradient_buffers(x, wanted, shapes)
    if any(w):
        _dcn.deform_psroi_pool_backward(_a(_c(grad_output)), _a(x), _a(r), _a(_c(trans)),
                                        *[_a(t) if k else None for t, k in zip(g, w)], *params, *_where(x))
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
_refuse_forward_ad(deform_psroi_pool, "deform_psroi_pool")
_register_autocast(deform_psroi_pool, "deform_psroi_pool")
