"""The Python package: numpy and torch entry points, torch.ops.dcn.* (opcheck,
gradcheck, autograd against torchvision), torch.compile and torch.export.

Run by tools/test.sh (the README's test command) in .venv-py, after the
package is built from this checkout (tools/python_test.sh)."""
import numpy as np
import pytest
import torch
import torchvision

import dcn
import dcn.ops  # noqa: F401 (registers torch.ops.dcn.*)

torch.manual_seed(0)


def conv_case(N=2, C=4, H=7, W=8, K=6, kh=3, kw=3, stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1,
              offset_groups=1, mask=True, bias=True, dtype=torch.float32, offset_scale=2.0):
    oH = (H + 2 * padding[0] - (dilation[0] * (kh - 1) + 1)) // stride[0] + 1
    oW = (W + 2 * padding[1] - (dilation[1] * (kw - 1) + 1)) // stride[1] + 1
    g = torch.Generator().manual_seed(N * 1000 + C * 100 + K)
    t = lambda *s, lo=-1.0, hi=1.0: (torch.rand(*s, generator=g, dtype=dtype) * (hi - lo) + lo)
    return dict(
        input=t(N, C, H, W), offset=t(N, 2 * offset_groups * kh * kw, oH, oW, lo=-offset_scale, hi=offset_scale),
        weight=t(K, C // groups, kh, kw), bias=t(K) if bias else None,
        mask=t(N, offset_groups * kh * kw, oH, oW, lo=0.0, hi=1.0) if mask else None,
        stride=stride, padding=padding, dilation=dilation)


def tv_conv(a):
    return torchvision.ops.deform_conv2d(a["input"], a["offset"], a["weight"], a["bias"], stride=a["stride"],
                                         padding=a["padding"], dilation=a["dilation"], mask=a["mask"])


def dcn_conv(a):
    return dcn.deform_conv2d(a["input"], a["offset"], a["weight"], a["bias"], stride=a["stride"],
                             padding=a["padding"], dilation=a["dilation"], mask=a["mask"])


GRAD_NAMES = ["input", "offset", "weight", "bias", "mask"]


def grads_of(fn, a, gy):
    leaves = {k: a[k].detach().clone().requires_grad_(True) for k in GRAD_NAMES if a[k] is not None}
    b = dict(a, **leaves)
    y = fn(b)
    y.backward(gy)
    return y.detach(), {k: v.grad for k, v in leaves.items()}


CONV_CASES = {
    "basic": dict(),
    "no_mask_no_bias": dict(mask=False, bias=False),
    # torchvision's own TestDeformConv shape
    "torchvision_test_shape": dict(N=3, C=6, H=5, W=4, K=2, kh=3, kw=2, stride=(2, 1), padding=(1, 0),
                                   dilation=(2, 1), groups=2, offset_groups=3),
    "batch0": dict(N=0),
    "batch33": dict(N=33, C=2, H=5, W=5, K=3),
    "groups_og": dict(C=6, K=4, groups=2, offset_groups=3),
    "large_offsets": dict(offset_scale=6.0),
}


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv_forward_and_gradients_match_torchvision(name):
    a = conv_case(**CONV_CASES[name])
    gy = torch.rand(tv_conv(a).shape, generator=torch.Generator().manual_seed(7)) * 2 - 1
    y_tv, g_tv = grads_of(tv_conv, a, gy)
    y, g = grads_of(dcn_conv, a, gy)
    torch.testing.assert_close(y, y_tv, rtol=1e-4, atol=1e-4)
    for k in g_tv:
        torch.testing.assert_close(g[k], g_tv[k], rtol=1e-4, atol=1e-4, msg=lambda m: "grad_%s: %s" % (k, m))


def test_conv_non_contiguous_inputs():
    a = conv_case()
    nc = {k: (v.transpose(-1, -2).contiguous().transpose(-1, -2) if isinstance(v, torch.Tensor) and v.dim() == 4
              else v) for k, v in a.items()}
    assert not nc["input"].is_contiguous()
    sliced = dict(nc, input=torch.cat([nc["input"], nc["input"]], 1)[:, ::2])
    torch.testing.assert_close(dcn_conv(sliced), tv_conv(sliced), rtol=1e-4, atol=1e-4)


def test_numpy_in_numpy_out():
    a = conv_case(dtype=torch.float64)
    an = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in a.items()}
    y = dcn_conv(an)
    assert isinstance(y, np.ndarray) and y.dtype == np.float64
    np.testing.assert_allclose(y, tv_conv(a).numpy(), rtol=1e-10, atol=1e-10)
    y32 = dcn_conv({k: (v.astype(np.float32) if isinstance(v, np.ndarray) else v) for k, v in an.items()})
    assert y32.dtype == np.float32


def test_bad_shapes_raise_the_library_message():
    a = conv_case()
    bad = dict(a, offset=a["offset"][:, :, :, :-1])
    with pytest.raises(ValueError, match=r"^deform_conv2d: offset: .*\[2, 18, 7, 8\]"):
        dcn_conv(bad)
    an = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in bad.items()}
    with pytest.raises(ValueError, match=r"^deform_conv2d: offset: "):
        dcn_conv(an)
    with pytest.raises(ValueError, match=r"float16, float32 or float64"):
        dcn.deform_conv2d(a["input"].numpy().astype(np.int32), a["offset"].numpy(), a["weight"].numpy())
    with pytest.raises(ValueError, match=r"^deform_conv2d: offset: expected dtype float16 \(the input's\)"):
        dcn.deform_conv2d(a["input"].numpy().astype(np.float16), a["offset"].numpy(), a["weight"].numpy(),
                          padding=1)


def test_cuda_without_a_driver_is_a_clear_error():
    a = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in conv_case().items()}
    ok, why = dcn._dcn.device_usable("cuda")
    if ok:
        pytest.skip("a CUDA driver answers here")
    x, off, w = (np.ascontiguousarray(a[k], dtype=np.float32) for k in ("input", "offset", "weight"))
    out = np.empty((x.shape[0], w.shape[0], off.shape[2], off.shape[3]), np.float32)
    # The extension's call as the torch ops make it for CUDA tensors (numpy
    # arrays never go to a GPU through the public functions).
    with pytest.raises(RuntimeError, match=r"^deform_conv2d: device: "):
        dcn._dcn.deform_conv2d(x, off, w, None, None, out, (1, 1), (1, 1, 1, 1), (1, 1), 0, 0, "cuda", 0, 0)


# ---- torch.library: opcheck, gradcheck -------------------------------------------------

def conv_op_args(a, requires_grad=False):
    t = lambda v: None if v is None else v.detach().clone().requires_grad_(requires_grad)
    pad = [a["padding"][0], a["padding"][1], a["padding"][0], a["padding"][1]]
    groups = a["input"].shape[1] // a["weight"].shape[1]
    og = a["offset"].shape[1] // (2 * a["weight"].shape[2] * a["weight"].shape[3])
    return (t(a["input"]), t(a["offset"]), t(a["weight"]), t(a["bias"]), t(a["mask"]), list(a["stride"]), pad,
            list(a["dilation"]), groups, og)


@pytest.mark.parametrize("mask,bias", [(True, True), (False, False), (True, False)])
def test_opcheck_deform_conv2d(mask, bias):
    a = conv_case(mask=mask, bias=bias)
    torch.library.opcheck(torch.ops.dcn.deform_conv2d.default, conv_op_args(a, requires_grad=True))
    torch.library.opcheck(torch.ops.dcn.deform_conv2d.default, conv_op_args(a))
    args = conv_op_args(a)
    gy = torch.rand(dcn_conv(a).shape)
    for wanted in ([True] * 5, [False, True, False, True, mask]):
        torch.library.opcheck(torch.ops.dcn.deform_conv2d_backward.default,
                              (gy,) + args[:3] + (args[4],) + args[5:] + (wanted,))


@pytest.mark.parametrize("name", ["basic", "no_mask_no_bias", "torchvision_test_shape"])
def test_gradcheck_deform_conv2d_float64(name):
    kw = dict(CONV_CASES[name])
    kw.update(N=min(kw.get("N", 2), 2), dtype=torch.float64)
    a = conv_case(**kw)
    args = conv_op_args(a, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: torch.ops.dcn.deform_conv2d(*t, *args[5:]), args[:5],
                                    eps=1e-6, atol=1e-5, rtol=1e-4)


def roi_case(dtype=torch.float32, R=5, C=3, H=12, W=14, P=(3, 4), offset=True, mask=True, inside=False):
    g = torch.Generator().manual_seed(11)
    x = torch.rand(2, C, H, W, generator=g, dtype=dtype) * 2 - 1
    lo, hi = (2.0, 8.0) if inside else (-2.0, 12.0)
    xy1 = torch.rand(R, 2, generator=g, dtype=dtype) * (hi - lo) + lo
    size = torch.rand(R, 2, generator=g, dtype=dtype) * (3.0 if inside else 8.0) + 1.0
    rois = torch.cat([torch.randint(0, 2, (R, 1), generator=g).to(dtype), xy1, xy1 + size], 1)
    off = (torch.rand(R, 2, *P, generator=g, dtype=dtype) * 2 - 1) * 0.3 if offset else None
    m = torch.rand(R, 1, *P, generator=g, dtype=dtype) if mask else None
    return x, rois, off, m, list(P)


def test_deform_roi_pool_with_zero_offsets_is_roi_align():
    x, rois, _, _, P = roi_case(offset=False, mask=False)
    for sr in (0, 2):
        ref = torchvision.ops.roi_align(x, rois, output_size=P, spatial_scale=0.5, sampling_ratio=sr, aligned=True)
        got = dcn.deform_roi_pool(x, rois, torch.zeros(rois.shape[0], 2, *P), P, spatial_scale=0.5,
                                  sampling_ratio=sr)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
        xr = x.clone().requires_grad_(True)
        xd = x.clone().requires_grad_(True)
        gy = torch.rand(ref.shape)
        torchvision.ops.roi_align(xr, rois, output_size=P, spatial_scale=0.5, sampling_ratio=sr,
                                  aligned=True).backward(gy)
        dcn.deform_roi_pool(xd, rois, None, P, spatial_scale=0.5, sampling_ratio=sr).backward(gy)
        torch.testing.assert_close(xd.grad, xr.grad, rtol=1e-5, atol=1e-5)


def test_opcheck_and_gradcheck_roi_pools():
    x, rois, off, m, P = roi_case()
    torch.library.opcheck(torch.ops.dcn.deform_roi_pool.default,
                          (x.requires_grad_(True), rois, off.requires_grad_(True), m.requires_grad_(True), P, 1.0, 2,
                           0.1))
    gy = torch.rand(rois.shape[0], x.shape[1], *P)
    torch.library.opcheck(torch.ops.dcn.deform_roi_pool_backward.default,
                          (gy, x.detach(), rois, off.detach(), m.detach(), P, 1.0, 2, 0.1, [True, True, True]))
    for with_offset, with_mask in ((False, False), (True, False), (False, True)):
        torch.library.opcheck(torch.ops.dcn.deform_roi_pool.default,
                              (x.detach().requires_grad_(True), rois,
                               off.detach().requires_grad_(True) if with_offset else None,
                               m.detach().requires_grad_(True) if with_mask else None, P, 0.5, 0, 0.1))
    # gradcheck where mmcv's offset gradient is the true derivative: RoIs
    # inside the image (not in the border band), a fixed grid.
    x, rois, off, m, P = roi_case(dtype=torch.float64, inside=True)
    f = lambda x, off, m: torch.ops.dcn.deform_roi_pool(x, rois, off, m, P, 1.0, 2, 0.1)
    assert torch.autograd.gradcheck(f, (x.requires_grad_(True), off.requires_grad_(True), m.requires_grad_(True)),
                                    eps=1e-6, atol=1e-5, rtol=1e-4)

    D, G, Pp = 2, 2, 4
    g = torch.Generator().manual_seed(5)
    xp = torch.rand(1, D * G * G, 10, 11, generator=g, dtype=torch.float64) * 2 - 1
    prois = torch.tensor([[0, 1.0, 2.0, 8.0, 7.0], [0, 2.0, 1.0, 6.0, 8.0]], dtype=torch.float64)
    trans = (torch.rand(2, 2, 2, 2, generator=g, dtype=torch.float64) * 2 - 1) * 0.5
    args = (xp.requires_grad_(True), prois, trans.requires_grad_(True), 1.0, D, G, Pp, 2, 2, 0.1)
    torch.library.opcheck(torch.ops.dcn.deform_psroi_pool.default, args)
    torch.library.opcheck(torch.ops.dcn.deform_psroi_pool.default, (args[0], prois, None) + args[3:])
    gyp = torch.rand(2, D, Pp, Pp, dtype=torch.float64)
    torch.library.opcheck(torch.ops.dcn.deform_psroi_pool_backward.default,
                          (gyp, xp.detach(), prois, trans.detach()) + args[3:] + ([True, True],))
    fp = lambda xp, trans: torch.ops.dcn.deform_psroi_pool(xp, prois, trans, *args[3:])[0]
    assert torch.autograd.gradcheck(fp, (args[0], args[2]), eps=1e-6, atol=1e-5, rtol=1e-4)


# ---- torch.compile and torch.export ------------------------------------------------------

class TinyDeformNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.offset = torch.nn.Conv2d(3, 18, 3, padding=1)
        self.weight = torch.nn.Parameter(torch.randn(4, 3, 3, 3) * 0.2)

    def forward(self, x):
        return dcn.deform_conv2d(x, self.offset(x), self.weight, padding=(1, 1)).relu().sum(dim=(2, 3))


def test_torch_compile_fullgraph_and_export():
    net = TinyDeformNet()
    x = torch.rand(2, 3, 9, 10)
    eager = net(x)
    compiled = torch.compile(net, fullgraph=True)  # inductor: dcn's op stays an extern call
    torch.testing.assert_close(compiled(x), eager)
    ep = torch.export.export(net, (x,))
    assert any("dcn.deform_conv2d" in str(n.target) for n in ep.graph.nodes)
    torch.testing.assert_close(ep.module()(x), eager)
    # Training through the compiled graph: gradients reach the offset conv.
    loss = compiled(x).sum()
    loss.backward()
    assert net.offset.weight.grad is not None and torch.isfinite(net.offset.weight.grad).all()


def test_halide_runtime_symbols_stay_inside_the_module():
    import ctypes
    lib = ctypes.CDLL(dcn._dcn.__file__)
    for name in ("halide_malloc", "halide_free", "halide_do_par_for", "halide_error", "halide_cuda_device_interface"):
        assert not hasattr(lib, name), name
    assert hasattr(lib, "PyInit__dcn")


# ---- ONNX export -------------------------------------------------------------------------

class DeformBlock(torch.nn.Module):
    """The paper's layer: offsets and mask predicted by a conv, then a
    modulated deformable conv with bias, groups and offset groups."""
    def __init__(self):
        super().__init__()
        self.offset_mask = torch.nn.Conv2d(4, 3 * 2 * 9, 3, padding=1)
        self.weight = torch.nn.Parameter(torch.randn(6, 2, 3, 3) * 0.2)
        self.bias = torch.nn.Parameter(torch.randn(6) * 0.1)

    def forward(self, x):
        om = self.offset_mask(x)
        offset, mask = om[:, :36], om[:, 36:].sigmoid()
        return dcn.deform_conv2d(x, offset, self.weight, self.bias, padding=(1, 1), mask=mask)


@pytest.mark.parametrize("opset", [19, 22])
def test_onnx_export_runs_in_onnxruntime(opset, tmp_path):
    import onnx
    import onnxruntime
    import dcn.onnx
    torch.manual_seed(opset)
    net = DeformBlock().eval()
    x = torch.rand(2, 4, 9, 11)
    with torch.no_grad():
        expected = net(x).numpy()
    path = str(tmp_path / "deform.onnx")
    dcn.onnx.export(net, (x,), path, opset_version=opset)
    model = onnx.load(path)
    assert [n.op_type for n in model.graph.node].count("DeformConv") == 1
    assert any(o.domain in ("", "ai.onnx") and o.version == opset for o in model.opset_import)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# ---- nn modules ----------------------------------------------------------------------------

def test_deform_conv2d_module_is_state_dict_compatible_with_torchvision():
    tv = torchvision.ops.DeformConv2d(6, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1), groups=2)
    ours = dcn.nn.DeformConv2d(6, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1), groups=2)
    assert set(ours.state_dict()) == set(tv.state_dict())
    ours.load_state_dict(tv.state_dict())
    a = conv_case(N=2, C=6, H=7, W=6, K=4, kh=3, kw=2, stride=(2, 1), padding=(1, 0), dilation=(2, 1), groups=2,
                  offset_groups=3)
    torch.testing.assert_close(ours(a["input"], a["offset"], a["mask"]), tv(a["input"], a["offset"], a["mask"]),
                               rtol=1e-4, atol=1e-4)


def test_modulated_pack_starts_as_a_plain_conv_and_learns_offsets():
    layer = dcn.nn.ModulatedDeformConv2dPack(4, 5, 3, padding=1, deform_groups=2)
    assert set(layer.state_dict()) == {"weight", "bias", "conv_offset.weight", "conv_offset.bias"}
    x = torch.rand(2, 4, 8, 9)
    plain = torch.nn.functional.conv2d(x, layer.weight * 0.5, None, padding=1) + layer.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(layer(x), plain, rtol=1e-4, atol=1e-4)  # zero offsets, mask sigmoid(0) = 0.5
    layer(x).square().sum().backward()
    assert layer.conv_offset.weight.grad.abs().sum() > 0


def test_roi_pool_modules():
    x, rois, off, m, P = roi_case(offset=True, mask=True)
    pool = dcn.nn.DeformRoIPool(P, spatial_scale=1.0, sampling_ratio=2, gamma=0.1)
    torch.testing.assert_close(pool(x, rois, off), dcn.deform_roi_pool(x, rois, off, P, 1.0, 2, 0.1))
    for cls in (dcn.nn.DeformRoIPoolPack, dcn.nn.ModulatedDeformRoIPoolPack):
        pack = cls(P, x.shape[1], deform_fc_channels=16, spatial_scale=1.0, sampling_ratio=2)
        y = pack(x, rois)
        scale = 0.5 if cls is dcn.nn.ModulatedDeformRoIPoolPack else 1.0  # zero-initialised: no offset, mask 0.5
        torch.testing.assert_close(y, scale * dcn.deform_roi_pool(x, rois, None, P, 1.0, 2, 0.1))
        y.sum().backward()
        assert pack.offset_fc[-1].weight.grad is not None
    D, G = 2, 2
    xp = torch.rand(1, D * G * G, 10, 11)
    prois = torch.tensor([[0, 1.0, 2.0, 8.0, 7.0]])
    ps = dcn.nn.DeformPSRoIPool(1.0, D, G, 3, sample_per_part=2, trans_std=0.1)
    trans = torch.rand(1, 2, 3, 3) - 0.5
    torch.testing.assert_close(ps(xp, prois, trans), dcn.deform_psroi_pool(xp, prois, trans, 1.0, D, G, 3, None, 2, 0.1))


def test_demo_runs(tmp_path):
    """examples/python/learn_offsets.py end to end on a few images (its real
    run, in docs/python.md, takes minutes)."""
    import os
    import subprocess
    import sys
    script = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "learn_offsets.py")
    png = str(tmp_path / "figures" / "offsets.png")  # a folder that does not exist yet
    r = subprocess.run([sys.executable, script, "--seeds", "2", "--epochs", "1", "--train", "128", "--test", "32",
                        "--png", png], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "| plain 3x3 |" in r.stdout and "| deformable |" in r.stdout
    assert "over 2 seeds" in r.stdout and "deformable - plain, seed by seed:" in r.stdout
    assert os.path.getsize(png) > 1000
