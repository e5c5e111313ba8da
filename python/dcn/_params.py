"""Argument normalisation shared by the numpy functions and the torch ops:
torchvision's and mmcv's conventions turned into the library's."""


def pair(name, v):
    """An int or a pair of ints -> a tuple of two ints (torchvision's
    stride / padding / dilation)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    try:
        t = tuple(int(x) for x in v)
    except TypeError:
        raise ValueError("%s: expected an int or a pair of ints, got %r" % (name, v)) from None
    if len(t) != 2:
        raise ValueError("%s: expected an int or a pair of ints, got %r" % (name, v))
    return t


def conv_padding(padding):
    """torchvision's (padH, padW) (or an int) -> (top, left, bottom, right)."""
    ph, pw = pair("padding", padding)
    return (ph, pw, ph, pw)


def conv_groups(input, offset, weight):
    """(groups, offset_groups) as torchvision infers them from the shapes;
    0 (the library infers and checks them) where a shape is not 4-D or a
    division is not exact, so that the library's error names it."""
    if len(input.shape) != 4 or len(offset.shape) != 4 or len(weight.shape) != 4:
        return 0, 0
    C, Cg, taps = int(input.shape[1]), int(weight.shape[1]), int(weight.shape[2]) * int(weight.shape[3])
    groups = C // Cg if Cg > 0 and C % Cg == 0 else 0
    og = int(offset.shape[1]) // (2 * taps) if taps > 0 and int(offset.shape[1]) % (2 * taps) == 0 else 0
    return groups, og


def conv_output_hw(H, W, kH, kW, stride, padding, dilation):
    """The output size (works on ints and on torch's symbolic sizes)."""
    sh, sw = stride
    top, left, bottom, right = padding
    dh, dw = dilation
    oH = (H + top + bottom - (dh * (kH - 1) + 1)) // sh + 1
    oW = (W + left + right - (dw * (kW - 1) + 1)) // sw + 1
    return oH, oW


def psroi_part_size(part_size, pooled_size):
    return 0 if part_size is None else int(part_size)
