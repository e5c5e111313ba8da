// deform_conv2d: argument validation and dispatch to the AOT kernels.
#include <cstring>
#include <string>
#include <vector>

#include "internal.h"

#include "kernel_table.h"

namespace dcn {
namespace {

constexpr const char *kFn = "deform_conv2d";
using detail::shape_str;

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

// The kernels write the output as (N, K, oH*oW), its pixels flattened in
// raster order, so that their tiles of pixels may cross rows. That needs
// the rows of each (n, k) plane back to back; an output view with another
// layout (a padded row pitch) is computed into a contiguous temporary and
// copied into place afterwards (host memory only).
class FlatOutput {
public:
    explicit FlatOutput(const TensorView &out) : out_(out) {
        const std::vector<int64_t> st = out.effective_strides();
        const int64_t oh = out.shape[2], ow = out.shape[3];
        // The stride of the flattened pixel dimension, if one stride serves.
        const bool flat = oh <= 1 || ow <= 1 || st[2] == ow * st[3];
        const int64_t pixel_stride = ow > 1 ? st[3] : (oh > 1 ? st[2] : 1);
        if (flat && pixel_stride == 1) {
            view_ = out;
            view_.shape = {out.shape[0], out.shape[1], oh * ow};
            view_.strides = {st[0], st[1], 1};
            return;
        }
        if (out.device != Device::cpu) {
            throw Error(kFn, "output",
                        "a device tensor must have its rows back to back (strides [*, *, oW, 1]), got strides " +
                            detail::shape_str(st) + " for shape " + detail::shape_str(out.shape));
        }
        temp_.assign(static_cast<size_t>(out.numel()) * dtype_size(out.dtype), 0);
        view_.data = temp_.data();
        view_.shape = {out.shape[0], out.shape[1], oh * ow};
        view_.dtype = out.dtype;
    }
    const TensorView &view() const { return view_; }
    // Copies a temporary's result into the caller's tensor.
    void finish() const {
        if (temp_.empty()) return;
        const std::vector<int64_t> st = out_.effective_strides();
        const size_t size = dtype_size(out_.dtype);
        const unsigned char *src = temp_.data();
        unsigned char *dst = static_cast<unsigned char *>(out_.data);
        for (int64_t n = 0; n < out_.shape[0]; n++)
            for (int64_t k = 0; k < out_.shape[1]; k++)
                for (int64_t y = 0; y < out_.shape[2]; y++)
                    for (int64_t x = 0; x < out_.shape[3]; x++, src += size)
                        std::memcpy(dst + (n * st[0] + k * st[1] + y * st[2] + x * st[3]) * size, src, size);
    }

private:
    const TensorView &out_;
    TensorView view_;
    std::vector<unsigned char> temp_;  // dtype_size(out.dtype) bytes per element
};

}  // namespace

std::vector<int64_t> deform_conv2d_output_shape(const std::vector<int64_t> &in,
                                                const std::vector<int64_t> &w,
                                                const DeformConv2dOptions &o) {
    if (in.size() != 4)
        throw Error(kFn, "input", "expected a 4-D tensor (N, C, H, W), got shape " + shape_str(in));
    if (w.size() != 4)
        throw Error(kFn, "weight", "expected a 4-D tensor (K, C/groups, kH, kW), got shape " + shape_str(w));
    check_options(o);
    for (int64_t d : w)
        if (d < 1) throw Error(kFn, "weight", "every dimension must be >= 1, got shape " + shape_str(w));
    const int64_t oh =
        output_extent("height", in[2], o.padding[0], o.padding[2], w[2], o.dilation[0], o.stride[0], in, w);
    const int64_t ow =
        output_extent("width", in[3], o.padding[1], o.padding[3], w[3], o.dilation[1], o.stride[1], in, w);
    return {in[0], w[0], oh, ow};
}

double deform_conv2d_flops(const std::vector<int64_t> &in, const std::vector<int64_t> &w,
                           const std::vector<int64_t> &out) {
    if (in.size() != 4 || w.size() != 4 || out.size() != 4) return 0.0;
    return 2.0 * double(out[0]) * double(w[0]) * double(w[1]) * double(w[2]) * double(w[3]) *
           double(out[2]) * double(out[3]);
}

void deform_conv2d(const TensorView &input, const TensorView &offset, const TensorView &weight,
                   const std::optional<TensorView> &mask, const std::optional<TensorView> &bias,
                   const TensorView &output, const DeformConv2dOptions &opt) {
    check_options(opt);
    detail::check_tensor(kFn, "input", input, 4, "(N, C, H, W)", opt.device);
    detail::check_tensor(kFn, "offset", offset, 4, "(N, 2*offset_groups*kH*kW, oH, oW)", opt.device);
    detail::check_tensor(kFn, "weight", weight, 4, "(K, C/groups, kH, kW)", opt.device);

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

    const std::vector<int64_t> out_shape = deform_conv2d_output_shape(input.shape, weight.shape, opt);
    const int64_t oH = out_shape[2], oW = out_shape[3];

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
    detail::check_shape(kFn, "offset", offset, {N, 2 * og * taps, oH, oW},
                        "2*offset_groups*kH*kW = 2*" + str(og) + "*" + str(kH) + "*" + str(kW) +
                            " channels, output " + str(oH) + "x" + str(oW));
    if (mask)
        detail::check_shape(kFn, "mask", *mask, {N, og * taps, oH, oW},
                            "offset_groups*kH*kW = " + str(og) + "*" + str(kH) + "*" + str(kW) +
                                " channels, output " + str(oH) + "x" + str(oW));
    if (bias) detail::check_shape(kFn, "bias", *bias, {K}, "one value per output channel");
    detail::check_shape(kFn, "output", output, out_shape, "(N, K, oH, oW)");
    // Shapes (and so ranks) are right; now device, strides, size limits.
    if (mask) detail::check_tensor(kFn, "mask", *mask, 4, "(N, offset_groups*kH*kW, oH, oW)", opt.device);
    if (bias) detail::check_tensor(kFn, "bias", *bias, 1, "(K)", opt.device);
    detail::check_tensor(kFn, "output", output, 4, "(N, K, oH, oW)", opt.device);
    for (const auto &[name, t] : {std::pair<const char *, const TensorView *>{"offset", &offset},
                                  {"weight", &weight}, {"mask", mask ? &*mask : nullptr},
                                  {"bias", bias ? &*bias : nullptr}, {"output", &output}})
        if (t) detail::check_dtype(kFn, name, *t, input.dtype);

    if (N == 0) return;  // nothing to compute

    detail::KernelCall call(kFn, opt.device, opt.cuda);
    // Shape features choosing a tuned schedule class (schedules/tuned/).
    static_assert(tunables::shape_feature_index("deform_conv2d", "out_channels") == 0 &&
                  tunables::shape_feature_index("deform_conv2d", "reduction") == 1 &&
                  tunables::shape_feature_index("deform_conv2d", "pixels") == 2 &&
                  tunables::shape_feature_count("deform_conv2d") == 3);
    call.set_shape_features({K, Cw * taps, oH * oW});
    call.input("input", input);
    call.input("offset", offset);
    call.input("weight", weight);
    if (mask) call.input("mask", *mask);
    if (bias) call.input("bias", *bias);
    call.scalar("stride_y", opt.stride[0]);
    call.scalar("stride_x", opt.stride[1]);
    call.scalar("pad_top", opt.padding[0]);
    call.scalar("pad_left", opt.padding[1]);
    call.scalar("dilation_y", opt.dilation[0]);
    call.scalar("dilation_x", opt.dilation[1]);
    call.scalar("groups", static_cast<int32_t>(groups));
    call.scalar("offset_groups", static_cast<int32_t>(og));
    const FlatOutput flat_output(output);
    call.output("output", flat_output.view());
    using namespace detail::flag;
    const unsigned variant = (mask ? deform_conv2d_with_mask : 0) | (bias ? deform_conv2d_with_bias : 0);
    const detail::KernelEntry *kernel =
        detail::find_kernel(detail::Op::deform_conv2d, detail::Direction::forward, input.dtype, variant);
    if (!kernel)
        throw Error(kFn, "input", std::string("this build has no ") + dtype_name(input.dtype) + " kernel");
    const int status = call.run(*kernel);
    call.finish(status);
    flat_output.finish();
}

}  // namespace dcn
