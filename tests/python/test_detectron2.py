"""dcn.detectron2: detectron2.layers' DeformConv / ModulatedDeformConv
signatures, parameters and results (detectron2 is not on PyPI: the
signatures are checked against detectron2's documented ones, the results
against torchvision's deform_conv2d on the same parameters)."""
import inspect
import math

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from dcn.detectron2 import DeformConv, ModulatedDeformConv  # noqa: E402
from torch import nn  # noqa: E402

# detectron2.layers.deform_conv (v0.6): (name, default) of each parameter.
DETECTRON2_INIT = [("in_channels", None), ("out_channels", None), ("kernel_size", None), ("stride", 1),
                   ("padding", 0), ("dilation", 1), ("groups", 1), ("deformable_groups", 1), ("bias", None),
                   ("norm", None), ("activation", None)]


@pytest.mark.parametrize("cls, bias_default, forward", [(DeformConv, False, ["x", "offset"]),
                                                       (ModulatedDeformConv, True, ["x", "offset", "mask"])])
def test_signatures(cls, bias_default, forward):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in params] == [n for n, _ in DETECTRON2_INIT]
    for p, (name, default) in zip(params, DETECTRON2_INIT):
        if name == "bias":
            assert p.default is bias_default
        elif default is not None or name in ("norm", "activation"):
            assert p.default == default, name
        else:
            assert p.default is inspect.Parameter.empty, name
    assert list(inspect.signature(cls.forward).parameters)[1:] == forward


def test_parameters_and_init():
    torch.manual_seed(0)
    m = ModulatedDeformConv(8, 16, 3, padding=1, deformable_groups=2, norm=nn.BatchNorm2d(16))
    assert sorted(m.state_dict()) == ["bias", "norm.bias", "norm.num_batches_tracked", "norm.running_mean",
                                      "norm.running_var", "norm.weight", "weight"]
    assert m.bias.abs().max() == 0 and m.with_bias
    # kaiming_uniform_(nonlinearity="relu"): bound sqrt(6 / fan_in).
    bound = math.sqrt(6 / (8 * 9))
    assert m.weight.abs().max() <= bound and m.weight.abs().max() > 0.8 * bound
    d = DeformConv(8, 16, (3, 1), padding=(1, 0), groups=2)
    assert d.bias is None and sorted(d.state_dict()) == ["weight"] and d.weight.shape == (16, 4, 3, 1)
    with pytest.raises(ValueError, match="bias"):
        DeformConv(8, 16, 3, bias=True)
    with pytest.raises(ValueError, match="deformable_groups"):
        DeformConv(8, 16, 3, deformable_groups=3)
    assert "deformable_groups=2" in repr(m)


def test_results_match_torchvision_with_norm_and_activation():
    torch.manual_seed(0)
    x = torch.rand(2, 8, 9, 7, requires_grad=True)
    offset = torch.randn(2, 2 * 2 * 9, 5, 4) * 2
    mask = torch.rand(2, 2 * 9, 5, 4)
    m = ModulatedDeformConv(8, 6, 3, stride=2, padding=1, groups=2, deformable_groups=2,
                            norm=nn.GroupNorm(2, 6), activation=torch.relu)
    with torch.no_grad():
        m.bias.uniform_(-1, 1)
    y = m(x, offset, mask)
    ref = torch.relu(m.norm(torchvision.ops.deform_conv2d(x, offset, m.weight, m.bias, stride=2, padding=1,
                                                          mask=mask)))
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)
    gx, gw = torch.autograd.grad(y.square().sum(), (x, m.weight))
    rx, rw = torch.autograd.grad(ref.square().sum(), (x, m.weight))
    torch.testing.assert_close(gx, rx, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gw, rw, rtol=1e-4, atol=1e-4)

    d = DeformConv(8, 6, 3, padding=1, deformable_groups=2)
    off1 = torch.randn(2, 2 * 2 * 9, 9, 7)
    torch.testing.assert_close(d(x, off1), torchvision.ops.deform_conv2d(x, off1, d.weight, padding=1),
                               rtol=1e-4, atol=1e-4)


def test_empty_batch_gives_the_output_shape():
    d = DeformConv(4, 6, 3, padding=1)
    y = d(torch.rand(0, 4, 5, 5), torch.rand(0, 18, 5, 5))
    assert y.shape == (0, 6, 5, 5)
    m = ModulatedDeformConv(4, 6, 3, stride=2, padding=1)
    assert m(torch.rand(0, 4, 5, 5), torch.rand(0, 18, 3, 3), torch.rand(0, 9, 3, 3)).shape == (0, 6, 3, 3)
