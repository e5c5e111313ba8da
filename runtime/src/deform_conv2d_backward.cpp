// deform_conv2d_backward: argument validation and dispatch to the backward
// kernels (direction backward_data: grad_input, grad_offset, grad_mask;
// backward_weight: grad_weight, grad_bias).
#include <algorithm>
#include <atomic>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "internal.h"

#include "deform_conv2d_gpu.h"
#include "deform_conv2d_problem.h"
#include "flat_views.h"
#include "gradients.h"
#include "kernel_table.h"

namespace dcn {
namespace {

constexpr const char *kFn = "deform_conv2d_backward";
// The most bytes of grad_columns one CPU data-gradient call holds (at least
// one image): c4 (256 x 9 x 4200 float32) is 38.7 MB an image.
std::atomic<int64_t> g_cpu_grad_columns_budget{int64_t(64) << 20};
using detail::shape_str;

std::string str(int64_t v) { return std::to_string(v); }

// Every check of a call, before anything is allocated or run.
// (The memory overlap checks need the real tensors: they are the call's,
// not deform_conv2d_backward_validate's, which may get placeholder views.)
detail::DeformConv2dProblem validate(const TensorView &grad_output, const TensorView &input, const TensorView &offset,
                                     const TensorView &weight, const std::optional<TensorView> &mask,
                                     const DeformConv2dGradients &grads, const DeformConv2dOptions &opt,
                                     bool check_memory) {
    // The forward's rules (shapes, groups, options, devices, limits), then
    // grad_output in the place of the output.
    const detail::DeformConv2dProblem pr = detail::resolve_deform_conv2d(input, offset, weight, opt);
    if (mask)
        detail::check_shape(kFn, "mask", *mask, pr.mask_shape(),
                            "offset_groups*kH*kW = " + str(pr.offset_groups) + "*" + str(pr.kH) + "*" + str(pr.kW) +
                                " channels, output " + str(pr.oH) + "x" + str(pr.oW));
    detail::check_shape(kFn, "grad_output", grad_output, pr.output_shape(), "the forward's output (N, K, oH, oW)");
    if (mask) detail::check_tensor(kFn, "mask", *mask, 4, "(N, offset_groups*kH*kW, oH, oW)", opt.device);
    detail::check_tensor(kFn, "grad_output", grad_output, 4, "(N, K, oH, oW)", opt.device);
    for (const auto &[name, t] : {std::pair<const char *, const TensorView *>{"offset", &offset},
                                  {"weight", &weight}, {"mask", mask ? &*mask : nullptr},
                                  {"grad_output", &grad_output}})
        if (t) detail::check_dtype(kFn, name, *t, input.dtype);
    if (grads.mask && !mask)
        throw Error(kFn, "grad_mask", "was asked for, but the call has no mask (DCNv1)");
    const std::vector<std::pair<const char *, std::pair<const std::optional<TensorView> *, std::vector<int64_t>>>>
        wanted = {{"grad_input", {&grads.input, input.shape}},
                  {"grad_offset", {&grads.offset, offset.shape}},
                  {"grad_mask", {&grads.mask, pr.mask_shape()}},
                  {"grad_weight", {&grads.weight, weight.shape}},
                  {"grad_bias", {&grads.bias, {pr.K}}}};
    std::vector<detail::NamedView> outs;
    for (const auto &[name, what] : wanted) {
        const std::optional<TensorView> &g = *what.first;
        if (!g) continue;
        detail::check_shape(kFn, name, *g, what.second, "the shape of its input");
        detail::check_tensor(kFn, name, *g, static_cast<int>(what.second.size()), "(as its input)", opt.device);
        detail::check_dtype(kFn, name, *g, input.dtype);
        outs.push_back({name, &*g});
    }
    std::vector<detail::NamedView> ins = {{"grad_output", &grad_output}, {"input", &input}, {"offset", &offset},
                              {"weight", &weight}};
    if (mask) ins.push_back({"mask", &*mask});
    if (check_memory) detail::check_no_overlap(kFn, outs, ins);
    // The data gradients make grad_columns, the weight gradients the
    // columns, each C*kH*kW*oH*oW values per image (channels rounded up to
    // a register tile), within the 2^31-byte limit.
    if (grads.input || grads.offset || grads.mask || grads.weight || grads.bias) {
        const double bytes = double(pr.C + 64) * double(pr.taps()) * double(pr.oH * pr.oW + 64) *
                             double(dtype_size(input.dtype));
        if (bytes > double(std::numeric_limits<int32_t>::max()))
            throw Error(kFn, "input",
                        "shape " + shape_str(input.shape) + " with a " + str(pr.kH) + "x" + str(pr.kW) +
                            " kernel and a " + str(pr.oH) + "x" + str(pr.oW) +
                            " output is too large: the backward's columns, C*kH*kW*oH*oW values "
                            "per image, would be over 2^31 - 1 bytes");
    }
    return pr;
}

const detail::KernelEntry &kernel_for(detail::Direction dir, DType dtype, unsigned variant) {
    return detail::require_kernel(kFn, detail::Op::deform_conv2d, dir, dtype, variant);
}

}  // namespace

namespace detail {
int64_t set_cpu_grad_columns_budget(int64_t bytes) { return g_cpu_grad_columns_budget.exchange(bytes); }
}  // namespace detail

void deform_conv2d_backward_validate(const TensorView &grad_output, const TensorView &input,
                                     const TensorView &offset, const TensorView &weight,
                                     const std::optional<TensorView> &mask, const DeformConv2dGradients &grads,
                                     const DeformConv2dOptions &opt) {
    validate(grad_output, input, offset, weight, mask, grads, opt, false);
}

void deform_conv2d_backward(const TensorView &grad_output, const TensorView &input, const TensorView &offset,
                            const TensorView &weight, const std::optional<TensorView> &mask,
                            const DeformConv2dGradients &grads, const DeformConv2dOptions &opt) {
    const detail::DeformConv2dProblem pr = validate(grad_output, input, offset, weight, mask, grads, opt, true);
    using namespace detail::flag;
    const DType dt = input.dtype;

    // Data gradients on a GPU: grad_columns and col2im (deform_conv2d_gpu.h).
    if ((grads.input || grads.offset || grads.mask) && opt.device != Device::cpu)
        detail::deform_conv2d_gpu_data_gradients(pr, grad_output, input, offset, weight, mask, grads, opt);
    // Data gradients on the CPU, in chunks of images (each call makes its
    // images' grad_columns: at most the CPU budget, detail::
    // set_cpu_grad_columns_budget). The images are independent, so any
    // chunking gives the same bits; one call per chunk packs the weights
    // once for all its images.
    else if (grads.input || grads.offset || grads.mask) {
        const detail::KernelEntry &k =
            kernel_for(detail::Direction::backward_data, dt, mask ? deform_conv2d_with_mask : 0);
        const int64_t chunk = detail::images_per_columns_chunk(
            kFn, pr, dt == DType::float64 ? 8 : 4, g_cpu_grad_columns_budget.load());
        // A gradient not asked for: a view with no images (nothing computed).
        const detail::UnwantedGradient no_input_u(input.shape, dt, false), no_offset_u(offset.shape, dt, false),
            no_mask_u(pr.mask_shape(), dt, false);
        for (int64_t n = 0; n < pr.N; n += chunk) {
            const int64_t count = std::min(chunk, pr.N - n);
            detail::KernelCall call(kFn, opt.device, opt.cuda);
            call.input("input", detail::images(input, n, count));
            call.input("offset", detail::images(offset, n, count));
            call.input("weight", weight);
            call.input("grad_output", detail::images(grad_output, n, count));
            if (mask) call.input("mask", detail::images(*mask, n, count));
            detail::add_geometry_scalars(call, pr, opt);
            call.output("grad_input",
                        detail::split_channels(grads.input ? detail::images(*grads.input, n, count)
                                                           : no_input_u.view(),
                                               pr.offset_groups));
            call.output("grad_offset", grads.offset ? detail::images(*grads.offset, n, count) : no_offset_u.view());
            if (mask) call.output("grad_mask", grads.mask ? detail::images(*grads.mask, n, count) : no_mask_u.view());
            const int status = call.run(k);
            call.finish(status);
        }
    }

    // Weight gradients on a GPU: the columns and GEMMs (deform_conv2d_gpu.h).
    if ((grads.weight || grads.bias) && opt.device != Device::cpu) {
        detail::deform_conv2d_gpu_weight_gradients(pr, grad_output, input, offset, mask, grads.weight, grads.bias,
                                                   opt);
        return;
    }
    // Weight gradients, all images in one call.
    if (grads.weight || grads.bias) {
        const unsigned variant = (mask ? deform_conv2d_with_mask : 0) | (grads.bias ? deform_conv2d_with_bias : 0);
        const detail::KernelEntry &k = kernel_for(detail::Direction::backward_weight, dt, variant);
        // No image (N = 0): the weight gradients are zero. The kernel runs on
        // one image whose input and grad_output are zero, which writes exactly that.
        const bool no_images = pr.N == 0;
        auto one_image = [](std::vector<int64_t> s) {
            s[0] = 1;
            return s;
        };
        std::optional<detail::ScratchTensor> zero_input, zero_offset, zero_gy, zero_mask;
        if (no_images) {
            zero_input.emplace(one_image(input.shape), dt);
            zero_offset.emplace(one_image(offset.shape), dt);
            zero_gy.emplace(one_image(grad_output.shape), dt);
            if (mask) zero_mask.emplace(one_image(mask->shape), dt);
        }
        detail::KernelCall call(kFn, opt.device, opt.cuda);
        call.input("input", no_images ? zero_input->view() : input);
        call.input("offset", no_images ? zero_offset->view() : offset);
        call.input("grad_output", no_images ? zero_gy->view() : grad_output);
        if (mask) call.input("mask", no_images ? zero_mask->view() : *mask);
        detail::add_geometry_scalars(call, pr, opt);
        const detail::UnwantedGradient no_weight(weight.shape, dt, opt.device != Device::cpu);
        call.output("grad_weight", grads.weight ? *grads.weight : no_weight.view());
        if (grads.bias) call.output("grad_bias", *grads.bias);
        const int status = call.run(k);
        call.finish(status);
    }
}

}  // namespace dcn
