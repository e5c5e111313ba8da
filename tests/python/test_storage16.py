"""bfloat16 / float16 through the Python package (issue 18): the torch ops
and numpy float16 against torchvision's float32 results on the same
rounded inputs, at the bound of docs/operators.md ("Precision of 16-bit
storage"); torch.autocast (the op runs in the autocast dtype, float32
parameters get float32 gradients); a training step of a small model with
dcn.nn modules under autocast close to the float32 step; modules after
.to(torch.bfloat16) / .half()."""
import numpy as np
import pytest
import torch
import torchvision

import dcn

U = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}


def close(actual, ref, u, what, terms=None):
    """|actual - ref| <= u |ref| + 1e-5 sqrt(L)-free slack (the float32
    parts, here 1e-4 max|ref|: torchvision's float32 result is not exact),
    + u * terms where the kernel rounded its GEMM operands (terms: the sums
    of |products|, docs/operators.md, the bfloat16 dot-product path)."""
    actual, ref = actual.double(), ref.double()
    bound = u * ref.abs() + 1e-4 * ref.abs().max() + 1e-6
    if terms is not None:
        bound = bound + u * terms.double()
    over = (actual - ref).abs() > bound
    assert not over.any(), "%s: %d elements over the bound; worst |err| %.3g" % (
        what, int(over.sum()), float(((actual - ref).abs() - bound).max()))


def conv_inputs(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, lo=-1.0, hi=1.0: (torch.rand(*s, generator=g) * (hi - lo) + lo).to(dtype)
    return dict(input=r(2, 6, 9, 10), offset=r(2, 18, 9, 10, lo=-2.5, hi=2.5), weight=r(4, 6, 3, 3),
                bias=r(4), mask=r(2, 9, 9, 10, lo=0.0, hi=1.0))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_conv_forward_and_gradients_match_torchvision_float32(dtype):
    a = conv_inputs(dtype)
    leaves16 = {k: v.clone().requires_grad_(True) for k, v in a.items()}
    leaves32 = {k: v.float().clone().requires_grad_(True) for k, v in a.items()}
    y16 = dcn.deform_conv2d(leaves16["input"], leaves16["offset"], leaves16["weight"], leaves16["bias"], padding=1,
                            mask=leaves16["mask"])
    y32 = torchvision.ops.deform_conv2d(leaves32["input"], leaves32["offset"], leaves32["weight"], leaves32["bias"],
                                        padding=1, mask=leaves32["mask"])
    assert y16.dtype == dtype
    gy = torch.rand(y32.shape, generator=torch.Generator().manual_seed(5)).to(dtype)
    # On the bfloat16 dot-product path the sampled columns are rounded to
    # bfloat16 before the output's and grad_weight's GEMMs: their bound adds
    # u * (the same computation on absolute values).
    rounded = dtype == torch.bfloat16 and dcn.last_cpu_isa() == "avx512_bf16"
    terms = {}
    if rounded:
        w_abs = a["weight"].float().abs().requires_grad_(True)
        y_abs = torchvision.ops.deform_conv2d(a["input"].float().abs(), a["offset"].float(), w_abs, padding=1,
                                              mask=a["mask"].float().abs())
        y_abs.backward(gy.float().abs())
        terms = {"output": y_abs.detach(), "weight": w_abs.grad}
    close(y16, y32.detach(), U[dtype], "output", terms.get("output"))
    y16.backward(gy)
    y32.backward(gy.float())
    for k in a:
        assert leaves16[k].grad.dtype == dtype
        close(leaves16[k].grad, leaves32[k].grad, U[dtype], "grad_" + k, terms.get(k))


def test_numpy_float16():
    a = conv_inputs(torch.float16)
    n = {k: v.numpy() for k, v in a.items()}
    y = dcn.deform_conv2d(n["input"], n["offset"], n["weight"], n["bias"], padding=1, mask=n["mask"])
    assert y.dtype == np.float16
    ref = torchvision.ops.deform_conv2d(a["input"].float(), a["offset"].float(), a["weight"].float(),
                                        a["bias"].float(), padding=1, mask=a["mask"].float())
    close(torch.from_numpy(y), ref, U[torch.float16], "numpy float16")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_roi_pools_in_16_bits(dtype):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 5, 12, 14, generator=g).to(dtype)
    rois = torch.tensor([[0, 1.0, 2.0, 9.0, 8.0], [1, 0.0, 0.0, 13.0, 11.0], [0, 4.0, 3.0, 6.0, 10.0]]).to(dtype)
    # No offset: RoIAlign (aligned), torchvision's float32 roi_align on the same values.
    y = dcn.deform_roi_pool(x, rois, None, (3, 4), spatial_scale=1.0, sampling_ratio=2)
    ref = torchvision.ops.roi_align(x.float(), rois.float(), (3, 4), spatial_scale=1.0, sampling_ratio=2,
                                    aligned=True)
    assert y.dtype == dtype
    close(y, ref, U[dtype], "deform_roi_pool")
    # With offsets and gradients: against dcn's float32 kernels (tested against the double reference).
    off = (torch.rand(3, 2, 3, 4, generator=g) - 0.5).to(dtype)
    xs = [x.clone().requires_grad_(True), x.float().clone().requires_grad_(True)]
    offs = [off.clone().requires_grad_(True), off.float().clone().requires_grad_(True)]
    ys = [dcn.deform_roi_pool(xx, rr, oo, (3, 4), sampling_ratio=2)
          for xx, rr, oo in zip(xs, [rois, rois.float()], offs)]
    close(ys[0], ys[1].detach(), U[dtype], "deform_roi_pool with offset")
    for yy in ys:
        yy.sum().backward()
    close(xs[0].grad, xs[1].grad, U[dtype], "deform_roi_pool grad_input")
    close(offs[0].grad, offs[1].grad, U[dtype], "deform_roi_pool grad_offset")
    # psroi
    xp = torch.rand(2, 2 * 9, 12, 14, generator=g).to(dtype)
    trans = (torch.rand(3, 2, 3, 3, generator=g) - 0.5).to(dtype)
    p16 = dcn.deform_psroi_pool(xp, rois, trans, 1.0, output_dim=2, group_size=3, pooled_size=3, trans_std=0.1)
    p32 = dcn.deform_psroi_pool(xp.float(), rois.float(), trans.float(), 1.0, output_dim=2, group_size=3,
                                pooled_size=3, trans_std=0.1)
    assert p16.dtype == dtype
    close(p16, p32, U[dtype], "deform_psroi_pool")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.dcn = dcn.nn.ModulatedDeformConv2dPack(8, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        h = torch.relu(self.dcn(torch.relu(self.stem(x))))
        return self.head(h.mean(dim=(2, 3)))


def train_step(model, x, target, autocast_dtype=None):
    model.zero_grad()
    if autocast_dtype is None:
        out = model(x)
        inner = None
    else:
        with torch.autocast("cpu", dtype=autocast_dtype):
            out = model(x)
            inner = model.dcn(torch.relu(model.stem(x)))
    loss = torch.nn.functional.cross_entropy(out.float(), target)
    loss.backward()
    return out, inner, {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_training_step_is_close_to_float32(dtype):
    torch.manual_seed(0)
    model = Net()
    # torchvision's initialisation (uniform bias), not the module's mmcv
    # one (zero bias), as when the bound below was measured.
    model.dcn.reset_parameters()
    with torch.no_grad():  # non-zero offsets and mask logits, so every gradient flows
        model.dcn.conv_offset.weight.normal_(0, 0.05)
    x, target = torch.rand(4, 3, 12, 12), torch.tensor([0, 1, 2, 3])
    _, _, g32 = train_step(model, x, target)
    out, inner, g16 = train_step(model, x, target, dtype)
    assert inner.dtype == dtype and out.dtype == dtype
    # The whole step runs in the autocast dtype (torch's conv and linear
    # too), so the gradients differ from the float32 step by more than one
    # rounding: bound 64 u (bfloat16 0.25, float16 0.031). Measured here
    # (seeds 0-3, the largest over the parameters): bfloat16 0.04-0.14 (the
    # offset branch: its gradient is made of differences of neighbouring
    # 16-bit pixels), float16 0.003-0.043 (seed 0: 0.017; the spread is the
    # ReLUs' kinks, rounding flipping which side a value falls on);
    # the same net with a plain torch conv in place of dcn: 0.03-0.06 in
    # bfloat16.
    for name, p in model.named_parameters():
        assert g16[name].dtype == torch.float32, name  # float32 parameters, float32 gradients
        assert torch.isfinite(g16[name]).all(), name
        err = (g16[name] - g32[name]).norm() / (g32[name].norm() + 1e-12)
        assert err < 64 * U[dtype], "%s: relative error %.3g vs the float32 step" % (name, err)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_modules_converted_to_16_bits(dtype):
    torch.manual_seed(1)
    m = dcn.nn.ModulatedDeformConv2dPack(4, 6, 3, padding=1)
    x = torch.rand(1, 4, 8, 8)
    ref = m(x)
    m16 = m.to(dtype)
    y = m16(x.to(dtype))
    assert y.dtype == dtype and y.shape == ref.shape
    # Weights, input and the offset conv (torch's) all in 16 bits: a
    # model-level difference, bounded by a few roundings of each term.
    err = (y.double() - ref.double()).norm() / ref.double().norm()
    assert err < 16 * U[dtype], err
    p = dcn.nn.DeformRoIPoolPack((2, 2), 4, 16).to(dtype)
    out = p(x.to(dtype), torch.tensor([[0, 0.0, 0.0, 7.0, 7.0]], dtype=dtype))
    assert out.dtype == dtype and out.shape == (1, 4, 2, 2)


def test_onnx_export_of_16_bit_models_opset_22(tmp_path):
    """float16: exported at opset 22 and run by onnxruntime (CPU), close to
    dcn's own float16 result. bfloat16: exported (DeformConv on bfloat16
    tensors, valid by onnx.checker); onnxruntime 1.2x has no CPU bfloat16
    Conv / DeformConv kernel, so it is not run here."""
    import onnx
    import onnxruntime
    import dcn.onnx
    from test_dcn import DeformBlock
    for dtype in (torch.float16, torch.bfloat16):
        torch.manual_seed(0)
        net = DeformBlock().eval().to(dtype)
        x = torch.rand(2, 4, 9, 11).to(dtype)
        with torch.no_grad():
            expected = net(x).float()
        path = str(tmp_path / ("deform_%s.onnx" % str(dtype).split(".")[1]))
        dcn.onnx.export(net, (x,), path, opset_version=22)
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        assert [n.op_type for n in model.graph.node].count("DeformConv") == 1
        want_type = onnx.TensorProto.FLOAT16 if dtype == torch.float16 else onnx.TensorProto.BFLOAT16
        assert model.graph.input[0].type.tensor_type.elem_type == want_type
        if dtype == torch.float16:
            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
            assert got.dtype == np.float16
            # The offset branch (a Conv) is onnxruntime's, rounded its own way: a model-level comparison.
            got = torch.from_numpy(got.astype(np.float32)).double()
            err = (got - expected.double()).norm() / expected.double().norm()
            assert err < 16 * U[dtype], err
