"""dcn.openvino.convert_model: dcn's convolution as OpenVINO's
DeformableConvolution-8 with torchvision's border rule, run by OpenVINO's CPU
plugin in f32 and compared with dcn over the whole output (borders
included) within 1e-4."""
import warnings

import pytest

torch = pytest.importorskip("torch")
ov = pytest.importorskip("openvino")

import numpy as np  # noqa: E402

import dcn  # noqa: E402
import dcn.openvino  # noqa: E402


class Pack(torch.nn.Module):
    """DCNv2 (offsets and mask from a conv: the traced graph's inputs are
    computed), with groups and offset groups."""

    def __init__(self, bias):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.dcn = dcn.nn.ModulatedDeformConv2dPack(8, 6, 3, stride=2, padding=1, groups=2, deform_groups=2,
                                                    bias=bias)
        with torch.no_grad():
            self.dcn.conv_offset.weight.normal_(0, 0.5)  # offsets of a few pixels, reaching past the borders
            if bias:
                self.dcn.bias.normal_()

    def forward(self, x):
        return self.dcn(torch.relu(self.stem(x)))


class Given(torch.nn.Module):
    """DCNv1 with the offsets an input (large: many samples outside)."""

    def __init__(self):
        super().__init__()
        self.conv = dcn.nn.DeformConv2d(4, 5, (3, 2), padding=(1, 0), dilation=(2, 1), bias=False)

    def forward(self, x, offset):
        return self.conv(x, offset)


def run(model, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings
        om = dcn.openvino.convert_model(model, example_input=inputs)
    types = [op.get_type_name() for op in om.get_ops()]
    assert "DeformableConvolution" in types
    compiled = ov.compile_model(om, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(tuple(t.numpy() for t in inputs))[0]


@pytest.mark.parametrize("bias", [True, False])
def test_dcnv2_pack_matches_dcn(bias):
    torch.manual_seed(0)
    model = Pack(bias).eval()
    x = torch.rand(2, 3, 15, 13)
    got = run(model, (x,))
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape
    err = np.abs(got - want)
    assert err.max() < 1e-4, (err.max(), err[..., 0, :].max(), err[..., -1, :].max())


def test_given_offsets_with_samples_outside_match_dcn():
    torch.manual_seed(1)
    model = Given().eval()
    x = torch.rand(1, 4, 9, 8)
    offset = torch.randn(1, 12, 7, 7) * 4  # output 7x7: (9 + 2 - 5) + 1 rows, 8 - 1 columns
    got = run(model, (x, offset))
    with torch.no_grad():
        want = model(x, offset).numpy()
    assert np.abs(got - want).max() < 1e-4
