// deform_conv2d: argument validation and dispatch to the AOT kernels.
#include <cstring>
#include <string>
#include <vector>

#include "internal.h"

#include "deform_conv2d_gpu.h"
#include "deform_conv2d_problem.h"
#include "flat_views.h"
#include "kernel_table.h"

namespace dcn {
namespace {

constexpr const char *kFn = "deform_conv2d";
using detail::shape_str;

std::string str(int64_t v) { return std::to_string(v); }

}  // namespace

std::vector<int64_t> deform_conv2d_output_shape(const std::vector<int64_t> &in,
                                                const std::vector<int64_t> &w,
                                                const DeformConv2dOptions &o) {
    return detail::resolve_deform_conv2d_extents(in, w, o).output_shape();
}

double deform_conv2d_flops(const std::vector<int64_t> &in, const std::vector<int64_t> &w,
                           const std::vector<int64_t> &out) {
    if (in.size() != 4 || w.size() != 4 || out.size() != 4) return 0.0;
    return 2.0 * double(out[0]) * double(w[0]) * double(w[1]) * double(w[2]) * double(w[3]) *
           double(out[2]) * double(out[3]);
}

namespace {

// Every check of a call, before anything is allocated or run.
detail::DeformConv2dProblem validate(const TensorView &input, const TensorView &offset, const TensorView &weight,
                                     const std::optional<TensorView> &mask, const std::optional<TensorView> &bias,
                                     const TensorView &output, const DeformConv2dOptions &opt) {
    const detail::DeformConv2dProblem pr = detail::resolve_deform_conv2d(input, offset, weight, opt);
    const int64_t K = pr.K, oH = pr.oH, oW = pr.oW, og = pr.offset_groups;
    const std::vector<int64_t> out_shape = pr.output_shape();
    if (mask)
        detail::check_shape(kFn, "mask", *mask, pr.mask_shape(),
                            "offset_groups*kH*kW = " + str(og) + "*" + str(pr.kH) + "*" + str(pr.kW) +
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

    return pr;
}

}  // namespace

void deform_conv2d_validate(const TensorView &input, const TensorView &offset, const TensorView &weight,
                            const std::optional<TensorView> &mask, const std::optional<TensorView> &bias,
                            const TensorView &output, const DeformConv2dOptions &opt) {
    validate(input, offset, weight, mask, bias, output, opt);
}

void deform_conv2d(const TensorView &input, const TensorView &offset, const TensorView &weight,
                   const std::optional<TensorView> &mask, const std::optional<TensorView> &bias,
                   const TensorView &output, const DeformConv2dOptions &opt) {
    const detail::DeformConv2dProblem pr = validate(input, offset, weight, mask, bias, output, opt);
    const int64_t N = pr.N, K = pr.K, oH = pr.oH, oW = pr.oW;
    if (N == 0) return;  // nothing to compute

    if (opt.device != Device::cpu) {
        detail::check_device(kFn, opt.device);
        const detail::FlatLastTwo flat_output(output, detail::FlatLastTwo::Use::output, kFn, "output");
        detail::deform_conv2d_gpu(pr, input, offset, weight, mask, bias, flat_output.view(), opt);
        flat_output.finish();
        return;
    }
    detail::KernelCall call(kFn, opt.device, opt.cuda);
    // Shape features choosing a tuned schedule class (schedules/tuned/).
    static_assert(tunables::shape_feature_index("deform_conv2d", "out_channels") == 0 &&
                  tunables::shape_feature_index("deform_conv2d", "reduction") == 1 &&
                  tunables::shape_feature_index("deform_conv2d", "pixels") == 2 &&
                  tunables::shape_feature_count("deform_conv2d") == 3);
    call.set_shape_features({K, pr.Cg * pr.taps(), oH * oW});
    call.input("input", input);
    call.input("offset", offset);
    call.input("weight", weight);
    if (mask) call.input("mask", *mask);
    if (bias) call.input("bias", *bias);
    detail::add_geometry_scalars(call, pr, opt);
    const detail::FlatLastTwo flat_output(output, detail::FlatLastTwo::Use::output, kFn, "output");
    call.output("output", flat_output.view());
    using namespace detail::flag;
    const unsigned variant = (mask ? deform_conv2d_with_mask : 0) | (bias ? deform_conv2d_with_bias : 0);
    const int status = call.run(
        detail::require_kernel(kFn, detail::Op::deform_conv2d, detail::Direction::forward, input.dtype, variant));
    call.finish(status);
    flat_output.finish();
}

}  // namespace dcn
