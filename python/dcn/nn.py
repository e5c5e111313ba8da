"""torch.nn modules over dcn's operators, with the parameter names (and so
the state_dict keys) and initialisation of the modules their users know:

    DeformConv2d                torchvision.ops.DeformConv2d (offset / mask given)
    DeformConv2dPack            mmcv's (mmdet's `DCN`): DCNv1, predicting its own
                                offsets with a conv
    ModulatedDeformConv2dPack   mmcv's (mmdet's `DCNv2`): the paper's DCNv2 layer,
                                predicting its own offsets and mask with a conv
    DeformRoIPool               mmcv.ops.DeformRoIPool (offset given)
    DeformRoIPoolPack           mmcv's: offsets predicted by fully connected layers
    ModulatedDeformRoIPoolPack  mmcv's: offsets and a mask predicted
    DeformPSRoIPool             MSRA's deformable PS-RoI pooling (trans given)
"""
import math
import warnings

import torch
from torch import nn

from . import deform_conv2d, deform_psroi_pool, deform_roi_pool
from ._params import int_arg, pair


class DeformConv2d(nn.Module):
    """torchvision.ops.DeformConv2d: forward(input, offset, mask=None)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True):
        super().__init__()
        fn = type(self).__name__
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if int_arg(name, v, fn) < 1:
                raise ValueError("%s: %s: expected >= 1, got %d" % (fn, name, v))
        for name, v, least in (("kernel_size", kernel_size, 1), ("stride", stride, 1), ("padding", padding, 0),
                               ("dilation", dilation, 1)):
            if min(pair(name, v, fn)) < least:
                raise ValueError("%s: %s: expected values >= %d, got %r" % (fn, name, least, v))
        if in_channels % groups != 0 or out_channels % groups != 0:
            raise ValueError("DeformConv2d: groups: %d must divide in_channels %d and out_channels %d"
                             % (groups, in_channels, out_channels))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair("kernel_size", kernel_size)
        self.stride, self.padding = pair("stride", stride), pair("padding", padding)
        self.dilation, self.groups = pair("dilation", dilation), groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, input, offset, mask=None):
        return deform_conv2d(input, offset, self.weight, self.bias, stride=self.stride, padding=self.padding,
                             dilation=self.dilation, mask=mask)

    def extra_repr(self):
        return ("{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}, padding={padding}, "
                "dilation={dilation}, groups={groups}, bias={b}").format(b=self.bias is not None, **self.__dict__)


def _deform_groups(fn, deform_groups, kwargs):
    """deform_groups, or mmcv's deprecated name deformable_groups (a
    DeprecationWarning, as mmcv's own); any other keyword is a TypeError."""
    if "deformable_groups" in kwargs:
        warnings.warn("%s: deformable_groups is deprecated, use deform_groups" % fn, DeprecationWarning,
                      stacklevel=3)
        deform_groups = kwargs.pop("deformable_groups")
    if kwargs:
        raise TypeError("%s: unexpected keyword argument %r" % (fn, next(iter(kwargs))))
    return deform_groups


class _OffsetConvPack(DeformConv2d):
    """A deformable conv whose offsets (and mask) a conv (conv_offset,
    zero-initialised: the layer starts as a plain convolution) predicts from
    its input, with mmcv's parameter names, initialisation (init_weights)
    and state_dict version (2). (mmcv's layers also rename a version-1
    checkpoint's sibling keys `<name>_offset.*`; torch and mmengine now hand
    a layer only its own keys, so that renaming never runs there either,
    and dcn does not carry it.)"""

    _version = 2
    _offset_maps = 2  # offset channels per tap and deform group (3: and the mask's)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deform_groups=1, bias=True, **kwargs):
        fn = type(self).__name__
        deform_groups = _deform_groups(fn, deform_groups, kwargs)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        if int_arg("deform_groups", deform_groups, fn) < 1 or in_channels % deform_groups != 0:
            raise ValueError("%s: deform_groups: expected >= 1 dividing in_channels %d, got %d"
                             % (fn, in_channels, deform_groups))
        self.deform_groups = deform_groups
        kh, kw = self.kernel_size
        self.conv_offset = nn.Conv2d(in_channels, deform_groups * self._offset_maps * kh * kw, self.kernel_size,
                                     stride=self.stride, padding=self.padding, dilation=self.dilation, bias=True)
        self.init_weights()

    def init_weights(self):
        """mmcv's initialisation: weight uniform in +-1/sqrt(in_channels *
        kH * kW), bias 0, conv_offset 0."""
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.zero_()
        if hasattr(self, "conv_offset"):
            nn.init.zeros_(self.conv_offset.weight)
            nn.init.zeros_(self.conv_offset.bias)

    def extra_repr(self):
        return super().extra_repr() + ", deform_groups=%d" % self.deform_groups


class DeformConv2dPack(_OffsetConvPack):
    """The DCNv1 layer (mmcv's DeformConv2dPack, mmdet's `DCN`): conv_offset
    predicts deform_groups * 2 * kH * kW offset channels; no mask; bias
    False by default as mmcv's (True allowed); im2col_step accepted and
    ignored (dcn needs no batch step); forward(input)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 deform_groups=1, bias=False, im2col_step=32, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deform_groups,
                         bias, **kwargs)

    def forward(self, input):
        return DeformConv2d.forward(self, input, self.conv_offset(input))


class ModulatedDeformConv2dPack(_OffsetConvPack):
    """The paper's modulated deformable convolution (mmcv's
    ModulatedDeformConv2dPack, mmdet's `DCNv2`): conv_offset predicts
    deform_groups * 3 * kH * kW channels, two halves of offsets and the mask
    logits (mask = sigmoid: 0.5 at the start); forward(input)."""

    _offset_maps = 3

    def forward(self, input):
        o1, o2, mask = torch.chunk(self.conv_offset(input), 3, dim=1)
        return DeformConv2d.forward(self, input, torch.cat((o1, o2), dim=1), torch.sigmoid(mask))


class DeformRoIPool(nn.Module):
    """mmcv.ops.DeformRoIPool: forward(input, rois, offset=None)."""

    def __init__(self, output_size, spatial_scale=1.0, sampling_ratio=0, gamma=0.1):
        super().__init__()
        self.output_size = pair("output_size", output_size)
        self.spatial_scale, self.sampling_ratio, self.gamma = float(spatial_scale), int(sampling_ratio), float(gamma)

    def forward(self, input, rois, offset=None, mask=None):
        return deform_roi_pool(input, rois, offset, self.output_size, self.spatial_scale, self.sampling_ratio,
                               self.gamma, mask=mask)


def _fc_stack(in_features, hidden, out_features, last=None):
    layers = [nn.Linear(in_features, hidden), nn.ReLU(inplace=True)]
    if last is None:
        layers += [nn.Linear(hidden, hidden), nn.ReLU(inplace=True)]
    layers.append(nn.Linear(hidden, out_features))
    if last is not None:
        layers.append(last)
    nn.init.zeros_(layers[-1 if last is None else -2].weight)
    nn.init.zeros_(layers[-1 if last is None else -2].bias)
    return nn.Sequential(*layers)


class DeformRoIPoolPack(DeformRoIPool):
    """mmcv's DeformRoIPoolPack: the RoI's plain pooled features go through
    offset_fc (Linear-ReLU-Linear-ReLU-Linear, the last zero-initialised) to
    the offsets of the deformable pooling; forward(input, rois)."""

    def __init__(self, output_size, output_channels, deform_fc_channels=1024, spatial_scale=1.0, sampling_ratio=0,
                 gamma=0.1):
        super().__init__(output_size, spatial_scale, sampling_ratio, gamma)
        fn = type(self).__name__
        for name, v in (("output_channels", output_channels), ("deform_fc_channels", deform_fc_channels)):
            if int_arg(name, v, fn) < 1:
                raise ValueError("%s: %s: expected >= 1, got %d" % (fn, name, v))
        if min(self.output_size) < 1:
            raise ValueError("%s: output_size: expected values >= 1, got %r" % (fn, output_size))
        self.output_channels, self.deform_fc_channels = output_channels, deform_fc_channels
        ph, pw = self.output_size
        self.offset_fc = _fc_stack(ph * pw * output_channels, deform_fc_channels, ph * pw * 2)

    def _check(self, input, rois):
        fn = type(self).__name__
        if not isinstance(input, torch.Tensor) or input.dim() != 4 or input.size(1) != self.output_channels:
            raise ValueError("%s: input: expected a 4-D tensor (N, %d, H, W) (output_channels), got shape %s"
                             % (fn, self.output_channels, list(getattr(input, "shape", []))))
        if not isinstance(rois, torch.Tensor) or rois.dim() != 2 or rois.size(1) != 5:
            raise ValueError("%s: rois: expected a 2-D tensor (R, 5), got shape %s"
                             % (fn, list(getattr(rois, "shape", []))))
        ph, pw = self.output_size
        return rois.size(0), ph * pw * self.output_channels

    def forward(self, input, rois):
        R, features = self._check(input, rois)
        x = super().forward(input, rois, None)
        offset = self.offset_fc(x.reshape(R, features)).view(R, 2, *self.output_size)
        return super().forward(input, rois, offset)


class ModulatedDeformRoIPoolPack(DeformRoIPoolPack):
    """mmcv's ModulatedDeformRoIPoolPack: DeformRoIPoolPack plus mask_fc
    (Linear-ReLU-Linear-Sigmoid, zero-initialised: mask 0.5) whose mask
    multiplies the pooled output; forward(input, rois)."""

    def __init__(self, output_size, output_channels, deform_fc_channels=1024, spatial_scale=1.0, sampling_ratio=0,
                 gamma=0.1):
        super().__init__(output_size, output_channels, deform_fc_channels, spatial_scale, sampling_ratio, gamma)
        ph, pw = self.output_size
        self.mask_fc = _fc_stack(ph * pw * output_channels, deform_fc_channels, ph * pw, last=nn.Sigmoid())

    def forward(self, input, rois):
        R, features = self._check(input, rois)
        x = DeformRoIPool.forward(self, input, rois, None)
        flat = x.reshape(R, features)
        offset = self.offset_fc(flat).view(R, 2, *self.output_size)
        mask = self.mask_fc(flat).view(R, 1, *self.output_size)
        return DeformRoIPool.forward(self, input, rois, offset, mask)


ModulatedDeformRoIPool = ModulatedDeformRoIPoolPack


class DeformPSRoIPool(nn.Module):
    """MSRA's deformable (position-sensitive) RoI pooling (Deformable
    R-FCN): forward(input, rois, trans=None); input has output_dim *
    group_size^2 channels."""

    def __init__(self, spatial_scale, output_dim, group_size=1, pooled_size=7, part_size=None, sample_per_part=4,
                 trans_std=0.0, no_trans=False):
        super().__init__()
        self.spatial_scale, self.output_dim, self.group_size = float(spatial_scale), int(output_dim), int(group_size)
        self.pooled_size, self.part_size = int(pooled_size), part_size
        self.sample_per_part, self.trans_std, self.no_trans = int(sample_per_part), float(trans_std), bool(no_trans)

    def forward(self, input, rois, trans=None):
        return deform_psroi_pool(input, rois, None if self.no_trans else trans, self.spatial_scale, self.output_dim,
                                 self.group_size, self.pooled_size, self.part_size, self.sample_per_part,
                                 self.trans_std)
