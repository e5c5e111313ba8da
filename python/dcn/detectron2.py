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
from torch import nn

from . import nn as dcn_nn
from ._params import int_arg

__all__ = ["DeformConv", "ModulatedDeformConv"]


class _DetectronDeformConv(dcn_nn.DeformConv2d):
    """dcn.nn.DeformConv2d (its argument checks, parameters and forward)
    with detectron2's extra arguments and initialisation."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deformable_groups,
                 bias, norm, activation):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        fn = type(self).__name__
        if int_arg("deformable_groups", deformable_groups, fn) < 1 or in_channels % deformable_groups:
            raise ValueError("%s: deformable_groups: expected >= 1 dividing in_channels %d, got %d"
                             % (fn, in_channels, deformable_groups))
        self.deformable_groups = deformable_groups
        self.with_bias = bool(bias)
        self.norm, self.activation = norm, activation

    def reset_parameters(self):
        """detectron2's: kaiming_uniform_(nonlinearity="relu"), bias 0."""
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
        if self.bias is not None:
            nn.init.zeros_(self.bias)

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
        return self._finish(super().forward(x, offset))


class ModulatedDeformConv(_DetectronDeformConv):
    """detectron2.layers.ModulatedDeformConv (DCNv2): forward(x, offset,
    mask), mask (N, deformable_groups * kH * kW, oH, oW) as given."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deformable_groups=1, bias=True, norm=None, activation=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         deformable_groups, bias, norm, activation)

    def forward(self, x, offset, mask):
        return self._finish(super().forward(x, offset, mask))
