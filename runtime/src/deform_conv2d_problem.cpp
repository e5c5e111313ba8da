// The deform_conv2d problem: every shape, group and offset-group rule of
// the operator (docs/operators.md), stated once.
#include "deform_conv2d_problem.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

namespace dcn::detail {
namespace {

constexpr const char *kFn = "deform_conv2d";

std::string str(int64_t v) { return std::to_string(v); }

void check_options(const DeformConv2dOptions &o) {
    if (o.stride[0] < 1 || o.stride[1] < 1)
        throw Error(kFn, "stride", "must be >= 1, got (" + str(o.stride[0]) + ", " + str(o.stride[1]) + ")");
    if (o.dilation[0] < 1 || o.dilation[1] < 1)
        throw Error(kFn, "dilation",
                    "must be >= 1, got (" + str(o.dilation[0]) + ", " + str(o.dilation[1]) + ")");
    for (int p : o.padding) {
        if (p < 0)
            throw Error(kFn, "padding",
                        "must be >= 0, got (top, left, bottom, right) = (" + str(o.padding[0]) + ", " +
                            str(o.padding[1]) + ", " + str(o.padding[2]) + ", " + str(o.padding[3]) + ")");
    }
    if (o.groups < 0) throw Error(kFn, "groups", "must be >= 1 (or 0 to infer), got " + str(o.groups));
    if (o.offset_groups < 0)
        throw Error(kFn, "offset_groups", "must be >= 1 (or 0 to infer), got " + str(o.offset_groups));
    // The kernels' own bounds, in the caller's terms.
    const std::string most = " must be at most " + str(kMaxConvParameter) + " (dcn::kMaxConvParameter), got ";
    for (int v : o.stride)
        if (v > kMaxConvParameter) throw Error(kFn, "stride", "each value" + most + str(v));
    for (int v : o.dilation)
        if (v > kMaxConvParameter) throw Error(kFn, "dilation", "each value" + most + str(v));
    for (int v : o.padding)
        if (v > kMaxConvParameter) throw Error(kFn, "padding", "each value" + most + str(v));
    if (o.groups > kMaxConvParameter) throw Error(kFn, "groups", "groups" + most + str(o.groups));
    if (o.offset_groups > kMaxConvParameter)
        throw Error(kFn, "offset_groups", "offset_groups" + most + str(o.offset_groups));
}

// Every dimension of a shape below 2^31 (the kernels' extents are 32-bit).
void check_dims(const char *argument, const std::vector<int64_t> &shape) {
    for (int64_t d : shape)
        if (d > std::numeric_limits<int32_t>::max())
            throw Error(kFn, argument, "every dimension must be below 2^31, got shape " + shape_str(shape));
}

// One output extent; throws when it would be <= 0.
int64_t output_extent(const char *what, int64_t in, int pad_begin, int pad_end, int64_t kernel,
                      int dilation, int stride, const std::vector<int64_t> &in_shape,
                      const std::vector<int64_t> &w_shape) {
    const int64_t span = static_cast<int64_t>(dilation) * (kernel - 1) + 1;
    const int64_t padded = in + pad_begin + pad_end;
    if (padded < span) {
        throw Error(kFn, "input",
                    std::string("the output would be empty: padded input ") + what + " " + str(in) + " + " +
                        str(pad_begin) + " + " + str(pad_end) + " = " + str(padded) +
                        " is smaller than the dilated kernel " + what + " " + str(span) + " (input shape " +
                        shape_str(in_shape) + ", weight shape " + shape_str(w_shape) + ")");
    }
    return (padded - span) / stride + 1;
}

}  // namespace

DeformConv2dProblem resolve_deform_conv2d_extents(const std::vector<int64_t> &in, const std::vector<int64_t> &w,
                                                  const DeformConv2dOptions &o) {
    if (in.size() != 4)
        throw Error(kFn, "input", "expected a 4-D tensor (N, C, H, W), got shape " + shape_str(in));
    if (w.size() != 4)
        throw Error(kFn, "weight", "expected a 4-D tensor (K, C/groups, kH, kW), got shape " + shape_str(w));
    check_options(o);
    for (int64_t d : w)
        if (d < 1) throw Error(kFn, "weight", "every dimension must be >= 1, got shape " + shape_str(w));
    check_dims("input", in);
    check_dims("weight", w);
    DeformConv2dProblem p;
    p.N = in[0], p.C = in[1], p.H = in[2], p.W = in[3];
    p.K = w[0], p.Cg = w[1], p.kH = w[2], p.kW = w[3];
    p.oH = output_extent("height", in[2], o.padding[0], o.padding[2], w[2], o.dilation[0], o.stride[0], in, w);
    p.oW = output_extent("width", in[3], o.padding[1], o.padding[3], w[3], o.dilation[1], o.stride[1], in, w);
    return p;
}

DeformConv2dProblem resolve_deform_conv2d(const TensorView &input, const TensorView &offset,
                                          const TensorView &weight, const DeformConv2dOptions &opt) {
    check_options(opt);
    check_tensor(kFn, "input", input, 4, "(N, C, H, W)", opt.device);
    check_tensor(kFn, "offset", offset, 4, "(N, 2*offset_groups*kH*kW, oH, oW)", opt.device);
    check_tensor(kFn, "weight", weight, 4, "(K, C/groups, kH, kW)", opt.device);

    const int64_t N = input.shape[0], C = input.shape[1], H = input.shape[2], W = input.shape[3];
    const int64_t K = weight.shape[0], Cw = weight.shape[1], kH = weight.shape[2], kW = weight.shape[3];
    if (C < 1 || H < 1 || W < 1)
        throw Error(kFn, "input", "C, H and W must be >= 1, got shape " + shape_str(input.shape));
    if (K < 1 || Cw < 1 || kH < 1 || kW < 1)
        throw Error(kFn, "weight", "every dimension must be >= 1, got shape " + shape_str(weight.shape));
    const int64_t taps = kH * kW;

    // groups: given, or implied by C / weight.shape[1] (as torchvision).
    int64_t groups = opt.groups;
    if (groups == 0) {
        if (C % Cw != 0)
            throw Error(kFn, "weight",
                        "weight.shape[1] = " + str(Cw) + " must divide the input channels C = " + str(C) +
                            " (C / groups); weight shape " + shape_str(weight.shape) + ", input shape " +
                            shape_str(input.shape));
        groups = C / Cw;
    } else {
        if (C % groups != 0)
            throw Error(kFn, "groups",
                        "groups = " + str(groups) + " does not divide the input channels C = " + str(C));
        if (Cw != C / groups)
            throw Error(kFn, "groups",
                        "groups = " + str(groups) + " contradicts the shapes: weight.shape[1] = " + str(Cw) +
                            " but C / groups = " + str(C) + " / " + str(groups) + " = " + str(C / groups) +
                            " (weight: expected shape " + shape_str({K, C / groups, kH, kW}) + ", got " +
                            shape_str(weight.shape) + ")");
    }
    if (K % groups != 0)
        throw Error(kFn, "groups",
                    "groups = " + str(groups) + " does not divide the output channels K = " + str(K) +
                        " (weight shape " + shape_str(weight.shape) + ")");

    const DeformConv2dProblem extents = resolve_deform_conv2d_extents(input.shape, weight.shape, opt);
    const int64_t oH = extents.oH, oW = extents.oW;

    // offset_groups: given, or implied by the offset's channels.
    int64_t og = opt.offset_groups;
    if (og == 0) {
        const int64_t oc = offset.shape[1];
        if (oc < 2 * taps || oc % (2 * taps) != 0)
            throw Error(kFn, "offset",
                        "expected shape [" + str(N) + ", 2*offset_groups*kH*kW = a multiple of " +
                            str(2 * taps) + ", " + str(oH) + ", " + str(oW) + "], got " +
                            shape_str(offset.shape));
        og = oc / (2 * taps);
    }
    if (C % og != 0)
        throw Error(kFn, "offset_groups",
                    "offset_groups = " + str(og) + " does not divide the input channels C = " + str(C) +
                        (opt.offset_groups == 0 ? " (inferred from offset shape " + shape_str(offset.shape) + ")"
                                                : std::string()));
    if (opt.offset_groups != 0 && offset.shape[1] != 2 * og * taps)
        throw Error(kFn, "offset_groups",
                    "offset_groups = " + str(og) + " contradicts the offset: it has " + str(offset.shape[1]) +
                        " channels, expected 2*offset_groups*kH*kW = " + str(2 * og * taps) + " (offset shape " +
                        shape_str(offset.shape) + ")");
    check_shape(kFn, "offset", offset, {N, 2 * og * taps, oH, oW},
                        "2*offset_groups*kH*kW = 2*" + str(og) + "*" + str(kH) + "*" + str(kW) +
                            " channels, output " + str(oH) + "x" + str(oW));
    // The CPU kernels copy the input channels-innermost with a one-pixel zero
    // border: that copy must also stay under the 2^31-byte limit.
    {
        const double bytes = double(N) * double(C) * double(H + 2) * double(W + 2) * double(dtype_size(input.dtype));
        if (bytes > double(std::numeric_limits<int32_t>::max()))
            throw Error(kFn, "input",
                        "shape " + shape_str(input.shape) + " is too large: the kernels' bordered copy, N*C*(H+2)*(W+2) "
                        "elements, would be over 2^31 - 1 bytes");
    }
    DeformConv2dProblem p = extents;
    p.groups = groups;
    p.offset_groups = og;
    return p;
}

void add_geometry_scalars(KernelCall &call, const DeformConv2dProblem &pr, const DeformConv2dOptions &opt) {
    call.scalar("kernel_h", static_cast<int32_t>(pr.kH));
    call.scalar("kernel_w", static_cast<int32_t>(pr.kW));
    call.scalar("stride_y", opt.stride[0]);
    call.scalar("stride_x", opt.stride[1]);
    call.scalar("pad_top", opt.padding[0]);
    call.scalar("pad_left", opt.padding[1]);
    call.scalar("dilation_y", opt.dilation[0]);
    call.scalar("dilation_x", opt.dilation[1]);
    call.scalar("groups", static_cast<int32_t>(pr.groups));
    call.scalar("offset_groups", static_cast<int32_t>(pr.offset_groups));
}

int64_t images_per_columns_chunk(const char *fn, const DeformConv2dProblem &pr, size_t value_bytes,
                                 int64_t budget_bytes, int64_t extra_per_image) {
    const int64_t per_image = pr.C * pr.taps() * pr.oH * pr.oW;
    if (per_image > std::numeric_limits<int32_t>::max())
        throw Error(fn, "input",
                    "the columns of one image (channels x taps x output pixels = " + str(per_image) +
                        " values) exceed 2^31-1");
    const int64_t per_image_bytes = per_image * int64_t(value_bytes) + extra_per_image;
    return std::clamp<int64_t>(budget_bytes / std::max<int64_t>(per_image_bytes, 1), 1, std::max<int64_t>(pr.N, 1));
}

}  // namespace dcn::detail
