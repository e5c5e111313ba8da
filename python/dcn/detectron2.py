"""detectron2's deformable convolution layers on dcn's kernels, on CPUs too
(detectron2.layers.DeformConv / ModulatedDeformConv raise "not supported
on CPUs"): the same constructors, forward signatures, parameter names and
initialisation, so that

    from dcn.detectron2 import DeformConv, ModulatedDeformConv

replaces `from detectron2.layers import DeformConv, ModulatedDeformConv`
in a model (its checkpoints load as they are).

    DeformConv(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
               deformable_groups=1, bias=False, norm=None, activation=None)
        .forward(x, offset)
    ModulatedDeformConv(..., bias=True, norm=None, activation=None)
        .forward(x, offset, mask)        # mask as given (a sigmoid is the caller's)

norm and activation (modules or callables) are applied after the
convolution, as detectron2's Conv2d wrapper does.
"""
import torch
from torch import nn

from . import deform_conv2d
from ._params import int_arg, pair

__all__ = ["DeformConv", "ModulatedDeformConv"]


class _DetectronDeformConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deformable_groups,
                 bias, norm, activation):
        super().__init__()
        fn = type(self).__name__
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups),
                        ("deformable_groups", deformable_groups)):
            if int_arg(name, v, fn) < 1:
                raise ValueError("%s: %s: expected >= 1, got %d" % (fn, name, v))
        if in_channels % groups or out_channels % groups:
            raise ValueError("%s: groups: %d must divide in_channels %d and out_channels %d"
                             % (fn, groups, in_channels, out_channels))
        if in_channels % deformable_groups:
            raise ValueError("%s: deformable_groups: %d must divide in_channels %d"
                             % (fn, deformable_groups, in_channels))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair("kernel_size", kernel_size, fn)
        self.stride, self.padding = pair("stride", stride, fn), pair("padding", padding, fn)
        self.dilation = pair("dilation", dilation, fn)
        self.groups, self.deformable_groups = groups, deformable_groups
        self.with_bias = bool(bias)
        self.norm, self.activation = norm, activation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")

    def _finish(self, x):
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def extra_repr(self):
        return ("in_channels={}, out_channels={}, kernel_size={}, stride={}, padding={}, dilation={}, groups={}, "
                "deformable_groups={}, bias={}").format(self.in_channels, self.out_channels, self.kernel_size,
                                                        self.stride, self.padding, self.dilation, self.groups,
                                                        self.deformable_groups, self.with_bias)


class DeformConv(_DetectronDeformConv):
    """detectron2.layers.DeformConv (DCNv1): forward(x, offset), offset
    (N, 2 * deformable_groups * kH * kW, oH, oW)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deformable_groups=1, bias=False, norm=None, activation=None):
        if bias:
            # detectron2's DeformConv has no bias (it asserts); say so the same way.
            raise ValueError("DeformConv: bias: detectron2's DeformConv has none (use ModulatedDeformConv, or a "
                             "norm)")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         deformable_groups, bias, norm, activation)

    def forward(self, x, offset):
        return self._finish(deform_conv2d(x, offset, self.weight, None, stride=self.stride, padding=self.padding,
                                          dilation=self.dilation))


class ModulatedDeformConv(_DetectronDeformConv):
    """detectron2.layers.ModulatedDeformConv (DCNv2): forward(x, offset,
    mask), mask (N, deformable_groups * kH * kW, oH, oW) as given."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deformable_groups=1, bias=True, norm=None, activation=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         deformable_groups, bias, norm, activation)

    def forward(self, x, offset, mask):
        return self._finish(deform_conv2d(x, offset, self.weight, self.bias, stride=self.stride,
                                          padding=self.padding, dilation=self.dilation, mask=mask))
