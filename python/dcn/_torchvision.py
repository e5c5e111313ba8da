"""torchvision, unmodified, on dcn's kernels.

dcn.override_torchvision() registers dcn as the implementation of the ops
behind torchvision.ops.deform_conv2d and torchvision.ops.DeformConv2d,
`torchvision::deform_conv2d` and its backward `torchvision::_deform_conv2d_backward`,
through torch.library (the dispatcher's kernel for a device key; the
latest registration wins, and removing it brings torchvision's back):
an existing model's calls then run dcn, forward and backward, with
torchvision's semantics (its autograd, autocast and shape checks stay in
front). dcn.restore_torchvision() removes the registrations; the context
manager dcn.torchvision_override() does both.

    import dcn, torchvision
    with dcn.torchvision_override():
        y = torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)

CPU by default; devices=("cpu", "cuda") also registers dcn for CUDA
tensors (dcn's CUDA path has not run on an NVIDIA GPU yet: docs/gpu.md).
"""
import contextlib
import warnings

import torch

_libraries = {}  # device -> the torch.library.Library holding the registrations
# Calls that ran dcn through the override, per op ("forward", "backward"):
# what tests read to show that dcn's kernels ran.
calls = {"forward": 0, "backward": 0}


def _checks(input, weight, offset, mask, offset_groups, use_mask):
    """torchvision's kernel checks that its Python wrapper leaves to the
    kernel, with its RuntimeError and wording (its own tests match it);
    dcn's validation covers the rest."""
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    if use_mask and int(mask.shape[1]) != offset_groups * kh * kw:
        raise RuntimeError("mask.shape[1] is not valid: got: %d expected: %d (dcn: the mask has offset_groups x "
                           "kH x kW channels)" % (int(mask.shape[1]), offset_groups * kh * kw))


def _run(op, *args):
    """dcn's op; its ValueError (a bad argument) as the RuntimeError that
    torchvision's kernels raise."""
    try:
        return op(*args)
    except ValueError as e:
        raise RuntimeError(str(e)) from None


def _params(stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, offset_groups):
    """torchvision's scalar arguments as dcn's op takes them."""
    return [stride_h, stride_w], [pad_h, pad_w, pad_h, pad_w], [dil_h, dil_w], groups, offset_groups


def _forward(input, weight, offset, mask, bias, *args):
    # args: stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, offset_groups, use_mask
    *params, use_mask = args
    _checks(input, weight, offset, mask, params[-1], use_mask)
    calls["forward"] += 1
    # (torchvision passes a zero bias for none, and a (N, 1) zero mask with
    # use_mask false.)
    return _run(torch.ops.dcn.deform_conv2d, input, offset, weight, bias, mask if use_mask else None,
                *_params(*params))


def _backward(grad, input, weight, offset, mask, bias, *args):
    *params, use_mask = args  # as _forward's
    _checks(input, weight, offset, mask, params[-1], use_mask)
    calls["backward"] += 1
    gi, goff, gw, gb, gm = _run(torch.ops.dcn.deform_conv2d_backward, grad, input, offset, weight,
                                mask if use_mask else None, *_params(*params), [True, True, True, True, use_mask])
    if not use_mask:
        gm = torch.zeros_like(mask)
    # torchvision's order: input, weight, offset, mask, bias.
    return gi, gw, goff, gm, gb


def override_torchvision(devices=("cpu",)):
    """Makes torchvision's deform_conv2d (torchvision.ops.deform_conv2d,
    DeformConv2d) run dcn's kernels, forward and backward, on tensors of
    these devices ("cpu", "cuda"), until restore_torchvision(). Calling it
    again adds devices; a device already overridden stays as it is."""
    import torchvision  # noqa: F401  (registers the torchvision ops first)

    for device in devices:
        if device not in ("cpu", "cuda"):
            raise ValueError("override_torchvision: devices: expected 'cpu' or 'cuda', got %r" % (device,))
        if device in _libraries:
            continue
        key = "CPU" if device == "cpu" else "CUDA"
        lib = torch.library.Library("torchvision", "IMPL")
        with warnings.catch_warnings():
            # torch warns that a kernel replaces torchvision's: the point.
            warnings.filterwarnings("ignore", message=".*[Oo]verrid.*")
            lib.impl("deform_conv2d", _forward, key)
            lib.impl("_deform_conv2d_backward", _backward, key)
        _libraries[device] = lib


def restore_torchvision(devices=("cpu", "cuda")):
    """Removes dcn's registrations for these devices: torchvision's own
    kernels run again."""
    for device in devices:
        lib = _libraries.pop(device, None)
        if lib is not None:
            lib._destroy()


def overridden_devices():
    """The devices whose torchvision deform_conv2d runs dcn now."""
    return tuple(sorted(_libraries))


@contextlib.contextmanager
def torchvision_override(devices=("cpu",)):
    """override_torchvision() for the block, then restore_torchvision() of
    the devices it added."""
    before = set(_libraries)
    override_torchvision(devices)
    try:
        yield
    finally:
        restore_torchvision(tuple(set(_libraries) - before))
