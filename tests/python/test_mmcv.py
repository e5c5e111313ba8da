"""dcn.mmcv: dcn's layers in mmengine's MODELS registry under mmdet's names,
with mmcv's parameter names, initialisation and checkpoint keys (mmengine and
mmcv-lite from PyPI: mmcv without its compiled ops). The arithmetic is
checked against torchvision's deform_conv2d on the same parameters (mmcv's
DCN / DCNv2 compute torchvision's function)."""
import textwrap

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytest.importorskip("mmengine")
mmcv_cnn = pytest.importorskip("mmcv.cnn")

import dcn  # noqa: E402
import dcn.mmcv  # noqa: E402
from mmengine.registry import MODELS  # noqa: E402
from torch import nn  # noqa: E402


def test_registry_names_build_dcns_layers():
    for name, cls in (("DCN", dcn.nn.DeformConv2dPack), ("DCNv2", dcn.nn.ModulatedDeformConv2dPack)):
        layer = mmcv_cnn.build_conv_layer(dict(type=name, deform_groups=2), 4, 8, kernel_size=3, padding=1,
                                          bias=False)
        assert type(layer) is cls and layer.deform_groups == 2 and layer.bias is None
        assert MODELS.get(name) is cls
    with pytest.warns(DeprecationWarning, match="deformable_groups"):
        old = mmcv_cnn.build_conv_layer(dict(type="DCNv2", deformable_groups=2), 4, 8, kernel_size=3)
    assert old.deform_groups == 2
    with pytest.raises(TypeError, match="unexpected keyword"):
        mmcv_cnn.build_conv_layer(dict(type="DCNv2", deform_group=2), 4, 8, kernel_size=3)
    for name in ("DeformRoIPoolPack", "ModulatedDeformRoIPoolPack", "DeformRoIPool"):
        assert MODELS.get(name) is dcn.mmcv.REGISTERED[name]


def test_mmcv_parameter_names_and_init():
    v2 = mmcv_cnn.build_conv_layer(dict(type="DCNv2"), 4, 6, kernel_size=3, padding=1)
    assert sorted(v2.state_dict()) == ["bias", "conv_offset.bias", "conv_offset.weight", "weight"]
    assert v2.conv_offset.out_channels == 27 and v2.bias.abs().max() == 0
    bound = 1 / (4 * 9) ** 0.5
    assert v2.weight.abs().max() <= bound and v2.conv_offset.weight.abs().max() == 0
    v1 = mmcv_cnn.build_conv_layer(dict(type="DCN"), 4, 6, kernel_size=(3, 1), padding=(1, 0))
    assert sorted(v1.state_dict()) == ["conv_offset.bias", "conv_offset.weight", "weight"]
    assert v1.conv_offset.out_channels == 6


def reference(layer, x):
    """mmcv's forward written with torchvision's op on the layer's parameters."""
    out = layer.conv_offset(x)
    mask = None
    if isinstance(layer, dcn.nn.ModulatedDeformConv2dPack):
        o1, o2, m = torch.chunk(out, 3, dim=1)
        out, mask = torch.cat((o1, o2), dim=1), torch.sigmoid(m)
    return torchvision.ops.deform_conv2d(x, out, layer.weight, layer.bias, stride=layer.stride,
                                         padding=layer.padding, dilation=layer.dilation, mask=mask)


@pytest.mark.parametrize("name", ["DCN", "DCNv2"])
def test_loads_an_mmcv_state_dict_and_computes_mmcvs_function(name):
    torch.manual_seed(0)
    layer = mmcv_cnn.build_conv_layer(dict(type=name, deform_groups=2), 4, 6, kernel_size=3, stride=1, padding=1,
                                      bias=name == "DCNv2")
    # A checkpoint as mmcv saves it: the same keys, conv_offset not zero.
    sd = {k: torch.randn_like(v) * 0.3 for k, v in layer.state_dict().items()}
    layer.load_state_dict(sd)
    x = torch.rand(2, 4, 7, 9)
    torch.testing.assert_close(layer(x), reference(layer, x), rtol=1e-4, atol=1e-4)


class Bottleneck(nn.Module):
    """A ResNet bottleneck built the way mmdet's ResNet builds one with
    `dcn=dict(type=..., deform_groups=1, fallback_on_stride=False)`
    (mmdet.models.backbones.resnet.Bottleneck: mmdet itself does not import
    with mmcv-lite, see docs/python.md): conv2 from build_conv_layer(dcn, ...),
    norms from build_norm_layer."""

    def __init__(self, inplanes, planes, stride, dcn_cfg):
        super().__init__()
        dcn_cfg = dict(dcn_cfg)
        dcn_cfg.pop("fallback_on_stride", False)
        norm = dict(type="BN", requires_grad=True)
        self.conv1 = mmcv_cnn.build_conv_layer(None, inplanes, planes, 1, bias=False)
        self.bn1 = mmcv_cnn.build_norm_layer(norm, planes)[1]
        self.conv2 = mmcv_cnn.build_conv_layer(dcn_cfg, planes, planes, kernel_size=3, stride=stride, padding=1,
                                               dilation=1, bias=False)
        self.bn2 = mmcv_cnn.build_norm_layer(norm, planes)[1]
        self.conv3 = mmcv_cnn.build_conv_layer(None, planes, planes * 4, 1, bias=False)
        self.bn3 = mmcv_cnn.build_norm_layer(norm, planes * 4)[1]
        self.downsample = nn.Sequential(
            mmcv_cnn.build_conv_layer(None, inplanes, planes * 4, 1, stride=stride, bias=False),
            mmcv_cnn.build_norm_layer(norm, planes * 4)[1])

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + self.downsample(x))


@pytest.mark.parametrize("kind", ["DCN", "DCNv2"])
def test_resnet_stage_with_dcn_trains_a_step(kind):
    torch.manual_seed(0)
    stage = nn.Sequential(Bottleneck(16, 4, 2, dict(type=kind, deform_groups=1, fallback_on_stride=False)),
                          Bottleneck(16, 4, 1, dict(type=kind, deform_groups=1, fallback_on_stride=False)))
    assert all(type(b.conv2) is dcn.mmcv.REGISTERED[kind] for b in stage)
    x, target = torch.rand(2, 16, 12, 12), torch.rand(2, 16, 6, 6)
    opt = torch.optim.SGD(stage.parameters(), lr=0.1)
    before = [p.detach().clone() for p in stage.parameters()]
    loss0 = nn.functional.mse_loss(stage(x), target)
    opt.zero_grad()
    loss0.backward()
    offset_grad = stage[0].conv2.conv_offset.weight.grad
    assert offset_grad is not None and offset_grad.abs().max() > 0  # the offsets learn
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, stage.parameters()))
    loss1 = nn.functional.mse_loss(stage(x), target)
    assert torch.isfinite(loss1) and loss1 < loss0


def test_config_custom_imports(tmp_path):
    """An mmdet-style config naming dcn.mmcv in custom_imports: mmengine
    imports it while loading, and the config's dcn dict builds dcn's layer."""
    cfg_file = tmp_path / "cfg.py"
    cfg_file.write_text(textwrap.dedent("""
        custom_imports = dict(imports=["dcn.mmcv"], allow_failed_imports=False)
        backbone = dict(type="ResNet", depth=50, dcn=dict(type="DCNv2", deform_groups=1, fallback_on_stride=False),
                        stage_with_dcn=(False, True, True, True))
    """))
    from mmengine.config import Config
    cfg = Config.fromfile(str(cfg_file))
    conv = dict(cfg.backbone.dcn)
    conv.pop("fallback_on_stride")
    layer = mmcv_cnn.build_conv_layer(conv, 8, 8, kernel_size=3, padding=1, bias=False)
    assert type(layer) is dcn.nn.ModulatedDeformConv2dPack


def test_roi_layer_as_mmdet_builds_it():
    """mmdet's roi extractor: layer_cls(spatial_scale=1 / stride, **roi_layer
    without type), then forward(feats, rois)."""
    roi_layer = dict(type=dcn.mmcv.ModulatedDeformRoIPoolPack, output_size=7, output_channels=8,
                     sampling_ratio=2, gamma=0.1)
    cfg = dict(roi_layer)
    layer = cfg.pop("type")(spatial_scale=1 / 4, **cfg)
    feats = torch.rand(1, 8, 16, 16)
    rois = torch.tensor([[0, 4.0, 4.0, 40.0, 36.0], [0, 10.0, 0.0, 60.0, 60.0]])
    out = layer(feats, rois)
    assert out.shape == (2, 8, 7, 7) and torch.isfinite(out).all()
    assert sorted(k.split(".")[0] for k in layer.state_dict()) == ["mask_fc"] * 4 + ["offset_fc"] * 6
