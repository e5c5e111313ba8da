"""OpenVINO: models with dcn's convolution converted to openvino.Model.

    import dcn.openvino
    ov_model = dcn.openvino.convert_model(model, example_input=x)
    compiled = openvino.compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

openvino.convert_model traces the model (its PyTorch frontend) and knows
nothing of torch.ops.dcn.deform_conv2d; this passes it a conversion
extension that makes each dcn convolution an OpenVINO
DeformableConvolution-8 with bilinear_interpolation_pad=True, which is
torchvision's (and dcn's) border rule: a sample within one pixel outside
the image interpolates with zeros beyond the border (with the attribute
false, OpenVINO's default, such samples are dropped or clamped and border
pixels differ by up to several units). The bias, when there is one, is an
Add after it. OpenVINO's CPU plugin computes in bfloat16 by default where
the CPU has it: ask for f32 (INFERENCE_PRECISION_HINT) to get dcn's
numbers (tests/python/test_openvino.py: within 1e-4 over the whole
output). The RoI poolings have no OpenVINO (or ONNX) operator with their
semantics and are not converted.
"""
import numpy as np

__all__ = ["convert_model"]


def _is_none(output):
    """An optional input that is None in the traced graph (OpenVINO's
    PyTorch frontend leaves it as an untyped framework node)."""
    return output.get_node().get_type_name() == "PtFrameworkNode" and output.get_element_type().is_dynamic()


def _deform_conv2d(ctx):
    """torch.ops.dcn.deform_conv2d(input, offset, weight, bias, mask, stride,
    padding (top, left, bottom, right), dilation, groups, offset_groups)."""
    import openvino.opset8 as o8

    x, offset, weight, bias, mask = (ctx.get_input(i) for i in range(5))
    stride, pad, dilation = (list(ctx.get_values_from_const_input(i)) for i in (5, 6, 7))
    groups, offset_groups = (int(ctx.get_values_from_const_input(i)) for i in (8, 9))
    if groups < 1 or offset_groups < 1:
        raise ValueError("dcn.openvino: deform_conv2d: groups / offset_groups not known when traced (got %d, %d)"
                         % (groups, offset_groups))
    y = o8.deformable_convolution(x, offset, weight, stride, [pad[0], pad[1]], [pad[2], pad[3]], dilation,
                                  mask=None if _is_none(mask) else mask, group=groups,
                                  deformable_group=offset_groups, bilinear_interpolation_pad=True)
    if not _is_none(bias):
        y = o8.add(y, o8.reshape(bias, o8.constant(np.array([1, -1, 1, 1], np.int64)), False))
    return [y.output(0)]


def convert_model(model, example_input, **kwargs):
    """openvino.convert_model(model, example_input=..., **kwargs) with dcn's
    convolution converted (kwargs' own `extension` list is kept)."""
    import openvino as ov
    from openvino.frontend.pytorch import ConversionExtension

    extensions = [ConversionExtension("dcn::deform_conv2d", _deform_conv2d)] + list(kwargs.pop("extension", []))
    return ov.convert_model(model, example_input=example_input, extension=extensions, **kwargs)
