"""Argument normalisation shared by the numpy functions and the torch ops:
torchvision's and mmcv's conventions turned into the library's."""


INT32_MAX = 2**31 - 1


def _where(fn, name):
    return "%s: %s" % (fn, name) if fn else name


def int_arg(name, v, fn=None):
    """An int (not a bool) that fits the library's 32-bit int parameters;
    ValueError naming the argument otherwise. The library checks the range
    that makes sense (>= 1, at most its limits)."""
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise ValueError("%s: expected an int, got %r" % (_where(fn, name), v))
    i = int(v.__index__())
    if not -INT32_MAX - 1 <= i <= INT32_MAX:
        raise ValueError("%s: expected a value in [-2^31, 2^31), got %d" % (_where(fn, name), i))
    return i


def float_arg(name, v, fn=None):
    """A real number (the library checks finiteness and range)."""
    if isinstance(v, bool):
        raise ValueError("%s: expected a float, got %r" % (_where(fn, name), v))
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError("%s: expected a float, got %r" % (_where(fn, name), v)) from None


def pair(name, v, fn=None):
    """An int or a pair of ints -> a tuple of two ints (torchvision's
    stride / padding / dilation)."""
    if hasattr(v, "__index__") and not isinstance(v, bool):
        i = int_arg(name, v, fn)
        return (i, i)
    try:
        t = tuple(v)
    except TypeError:
        raise ValueError("%s: expected an int or a pair of ints, got %r" % (_where(fn, name), v)) from None
    if len(t) != 2:
        raise ValueError("%s: expected an int or a pair of ints, got %r" % (_where(fn, name), v))
    return tuple(int_arg(name, x, fn) for x in t)


def conv_padding(padding, fn=None):
    """torchvision's (padH, padW) (or an int) -> (top, left, bottom, right)."""
    ph, pw = pair("padding", padding, fn)
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


def psroi_part_size(part_size, pooled_size, fn=None):
    return 0 if part_size is None else int_arg("part_size", part_size, fn)
