"""dcn.override_torchvision(): torchvision's deform_conv2d op on dcn's kernels.

Each case runs torchvision.ops.deform_conv2d (and DeformConv2d) twice, with
torchvision's own CPU kernel and with dcn's, and compares the outputs and
every gradient; dcn's call counter shows which kernel ran.
"""
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import dcn  # noqa: E402
from dcn import _torchvision as T  # noqa: E402
from torch.autograd import gradcheck  # noqa: E402


@pytest.fixture(autouse=True)
def restored():
    yield
    dcn.restore_torchvision()


# (N, C, H, W, K, kH, kW, groups, offset_groups, stride, padding, dilation)
CASES = [
    (2, 4, 7, 8, 5, 3, 3, 1, 1, (1, 1), (1, 1), (1, 1)),
    (1, 6, 5, 4, 2, 3, 2, 2, 3, (2, 1), (1, 0), (2, 1)),  # torchvision's own test shape
    (2, 8, 9, 6, 4, 1, 3, 4, 2, (1, 2), (0, 1), (1, 1)),
    (0, 4, 6, 6, 4, 3, 3, 1, 2, (1, 1), (1, 1), (1, 1)),  # no image
]


def make(case, dtype, contiguous=True, seed=0):
    N, C, H, W, K, kH, kW, groups, og, stride, padding, dilation = case
    g = torch.Generator().manual_seed(seed)
    oH = (H + 2 * padding[0] - (dilation[0] * (kH - 1) + 1)) // stride[0] + 1
    oW = (W + 2 * padding[1] - (dilation[1] * (kW - 1) + 1)) // stride[1] + 1
    x = torch.rand(N, C, H, W, generator=g, dtype=dtype)
    offset = 2 * torch.randn(N, 2 * og * kH * kW, oH, oW, generator=g, dtype=dtype)
    mask = torch.rand(N, og * kH * kW, oH, oW, generator=g, dtype=dtype)
    weight = torch.randn(K, C // groups, kH, kW, generator=g, dtype=dtype)
    bias = torch.randn(K, generator=g, dtype=dtype)
    if not contiguous:
        x = x.transpose(2, 3).contiguous().transpose(2, 3)
        offset = offset.permute(1, 3, 0, 2).contiguous().permute(2, 0, 3, 1)
        weight = weight.permute(3, 2, 0, 1).contiguous().permute(2, 3, 1, 0)
    ts = [t.requires_grad_() for t in (x, offset, mask, weight, bias)]
    return ts, dict(stride=stride, padding=padding, dilation=dilation)


def run(ts, kw, with_mask, with_bias):
    x, offset, mask, weight, bias = ts
    y = torchvision.ops.deform_conv2d(x, offset, weight, bias if with_bias else None,
                                      mask=mask if with_mask else None, **kw)
    wrt = [x, offset, weight] + ([mask] if with_mask else []) + ([bias] if with_bias else [])
    if y.numel() == 0:
        return y, [torch.zeros_like(t) for t in wrt]
    # A grad_output that is not all ones: sum(y * y).
    return y, list(torch.autograd.grad((y * y).sum(), wrt))


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:4])) + "_g%d_og%d" % (c[7], c[8]))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("with_mask", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("contiguous", [True, False])
def test_override_gives_torchvisions_results(case, dtype, with_mask, with_bias, contiguous):
    ts, kw = make(case, dtype, contiguous)
    y_tv, g_tv = run(ts, kw, with_mask, with_bias)
    before = dict(T.calls)
    with dcn.torchvision_override():
        y_dcn, g_dcn = run(ts, kw, with_mask, with_bias)
    assert T.calls["forward"] == before["forward"] + 1
    if y_tv.numel():
        assert T.calls["backward"] == before["backward"] + 1
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(y_dcn, y_tv, **tol)
    assert len(g_dcn) == len(g_tv)
    for a, b in zip(g_dcn, g_tv):
        torch.testing.assert_close(a, b, **tol)


def test_gradcheck_float64_through_torchvision():
    ts, kw = make(CASES[1], torch.float64)
    x, offset, mask, weight, bias = ts
    with dcn.torchvision_override():
        before = T.calls["backward"]
        assert gradcheck(lambda *a: torchvision.ops.deform_conv2d(a[0], a[1], a[3], a[4], mask=a[2], **kw),
                         (x, offset, mask, weight, bias), fast_mode=True)
        assert gradcheck(lambda *a: torchvision.ops.deform_conv2d(a[0], a[1], a[2], a[3], **kw),
                         (x, offset, weight, bias), fast_mode=True)
        assert T.calls["backward"] > before


def test_deform_conv2d_module_and_script():
    torch.manual_seed(0)
    layer = torchvision.ops.DeformConv2d(4, 6, 3, padding=1, groups=2)
    x = torch.rand(2, 4, 6, 7)
    offset = torch.randn(2, 18, 6, 7)
    y_tv = layer(x, offset)
    scripted = torch.jit.script(layer)
    with dcn.torchvision_override():
        before = T.calls["forward"]
        y_dcn = layer(x, offset)
        y_script = scripted(x, offset)
        assert T.calls["forward"] == before + 2
    torch.testing.assert_close(y_dcn, y_tv, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(y_script, y_tv, rtol=1e-4, atol=1e-4)


def test_restore_and_devices():
    assert T.overridden_devices() == ()
    dcn.override_torchvision()
    dcn.override_torchvision()  # again: no second registration
    assert T.overridden_devices() == ("cpu",)
    ts, kw = make(CASES[0], torch.float32)
    before = T.calls["forward"]
    run(ts, kw, True, True)
    assert T.calls["forward"] == before + 1
    dcn.restore_torchvision()
    assert T.overridden_devices() == ()
    run(ts, kw, True, True)
    assert T.calls["forward"] == before + 1  # torchvision's kernel again
    # The context manager leaves an override made before it in place.
    dcn.override_torchvision()
    with dcn.torchvision_override():
        pass
    assert T.overridden_devices() == ("cpu",)
    with pytest.raises(ValueError, match="devices"):
        dcn.override_torchvision(devices=("tpu",))


def test_bad_mask_is_torchvisions_runtime_error():
    ts, kw = make(CASES[1], torch.float64)
    x, offset, mask, weight, bias = ts
    with dcn.torchvision_override():
        with pytest.raises(RuntimeError, match=r"mask.shape\[1\] is not valid"):
            torchvision.ops.deform_conv2d(x, offset, weight, bias, mask=mask[:, :2].contiguous(), **kw)
        # dcn's own validation (a NaN-free but wrongly sized offset that
        # torchvision's wrapper lets through) as a RuntimeError too.
        with pytest.raises(RuntimeError):
            torch.ops.torchvision.deform_conv2d(x, weight, offset[:, :, :1], mask, bias, *kw["stride"],
                                                *kw["padding"], *kw["dilation"], 2, 3, True)
