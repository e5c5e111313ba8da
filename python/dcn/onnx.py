"""ONNX export of models that use dcn: torch.onnx.export's dynamo exporter
with a translation of torch.ops.dcn.deform_conv2d to the standard ONNX
DeformConv operator (opset 19 and later), which onnxruntime runs.

    onnx_program = dcn.onnx.export(model, (x,), "model.onnx", opset_version=19)

or pass dcn.onnx.custom_translation_table(19) to torch.onnx.export yourself.
The RoI poolings have no standard ONNX operator and are not translated.
"""
import torch


def custom_translation_table(opset_version=19):
    """{torch.ops.dcn.deform_conv2d.default: its translation to ONNX DeformConv}."""
    import onnxscript
    from . import ops  # noqa: F401 (registers torch.ops.dcn.*)
    if opset_version < 19:
        raise ValueError("dcn.onnx: opset_version: DeformConv needs opset 19 or later, got %d" % opset_version)
    op = onnxscript.values.Opset("", opset_version)

    def deform_conv2d(input, offset, weight, bias, mask, stride, padding, dilation, groups, offset_groups):
        # ONNX DeformConv: inputs X, W, offset, B, mask; pads are (top, left,
        # bottom, right) as dcn's; offsets are (dy, dx) pairs per offset group
        # and tap as dcn's (torchvision's).
        return op.DeformConv(input, weight, offset, bias, mask, dilations=list(dilation), group=int(groups),
                             offset_group=int(offset_groups), pads=list(padding), strides=list(stride))

    return {torch.ops.dcn.deform_conv2d.default: deform_conv2d}


def export(model, args, f=None, opset_version=19, **kwargs):
    """torch.onnx.export(model, args, f, dynamo=True, ...) with dcn's translations."""
    table = dict(custom_translation_table(opset_version))
    table.update(kwargs.pop("custom_translation_table", None) or {})
    return torch.onnx.export(model, args, f, dynamo=True, opset_version=opset_version,
                             custom_translation_table=table, **kwargs)
