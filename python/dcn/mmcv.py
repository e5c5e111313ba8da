"""mmcv / mmdet on dcn's kernels: `import dcn.mmcv` (or, in an mmdet config,
`custom_imports = dict(imports=["dcn.mmcv"], allow_failed_imports=False)`)
registers dcn's layers in mmengine's MODELS registry under the names mmdet
configs use:

    DCN     dcn.nn.DeformConv2dPack           (mmcv's DeformConv2dPack, DCNv1)
    DCNv2   dcn.nn.ModulatedDeformConv2dPack  (mmcv's ModulatedDeformConv2dPack)

so that `dcn=dict(type="DCNv2", deform_groups=1)` in a ResNet config, or
`mmcv.cnn.build_conv_layer(dict(type="DCN"), ...)`, builds them (the
`deformable_groups` keyword of old configs too). They replace mmcv's own
entries (mmcv-lite, mmcv without compiled ops, has none; a full mmcv's are
overridden). Parameter names, initialisation and state_dict version are
mmcv's: a state_dict saved from mmcv's layers loads as is.

The RoI layers are classes, which mmdet's roi extractors take as
`roi_layer=dict(type=dcn.mmcv.DeformRoIPoolPack, output_size=7,
output_channels=256)` (mmdet looks a string type up in mmcv.ops, not in the
registry); they are registered too, for code that builds from MODELS.
"""
from mmengine.registry import MODELS

from .nn import (DeformConv2dPack, DeformRoIPool, DeformRoIPoolPack, ModulatedDeformConv2dPack,
                 ModulatedDeformRoIPoolPack)

__all__ = ["DeformConv2dPack", "ModulatedDeformConv2dPack", "DeformRoIPool", "DeformRoIPoolPack",
           "ModulatedDeformRoIPoolPack", "REGISTERED"]

# name in MODELS -> dcn's class
REGISTERED = {
    "DCN": DeformConv2dPack,
    "DCNv2": ModulatedDeformConv2dPack,
    "DeformRoIPool": DeformRoIPool,
    "DeformRoIPoolPack": DeformRoIPoolPack,
    "ModulatedDeformRoIPoolPack": ModulatedDeformRoIPoolPack,
}

for _name, _cls in REGISTERED.items():
    MODELS.register_module(name=_name, module=_cls, force=True)
