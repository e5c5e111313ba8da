// deform_roi_pool_backward: argument validation and dispatch to the
// backward kernel (direction backward_data: grad_input, grad_offset,
// grad_mask).
#include <optional>
#include <string>
#include <vector>

#include "gradients.h"
#include "internal.h"
#include "kernel_table.h"
#include "roi_pool_problem.h"

namespace dcn {
namespace {

constexpr const char *kFn = "deform_roi_pool_backward";

// Every check of a call, before anything is allocated or run (the memory
// overlap checks need the real tensors: the call's, not _validate's).
detail::RoiPoolProblem validate(const TensorView &grad_output, const TensorView &input, const TensorView &rois,
                                const std::optional<TensorView> &offset, const std::optional<TensorView> &mask,
                                const DeformRoiPoolGradients &grads, const DeformRoiPoolOptions &o,
                                bool check_memory) {
    // The forward's rules, then grad_output in the place of the output.
    const detail::RoiPoolProblem pr = detail::resolve_deform_roi_pool(input, rois, o);
    detail::check_roi_pool_bin_inputs(kFn, pr, offset, mask, input.dtype, o.device);
    detail::check_dtype(kFn, "rois", rois, input.dtype);
    detail::check_shape(kFn, "grad_output", grad_output, pr.output_shape(), "the forward's output (R, C, PH, PW)");
    detail::check_tensor(kFn, "grad_output", grad_output, 4, "(R, C, PH, PW)", o.device);
    detail::check_dtype(kFn, "grad_output", grad_output, input.dtype);
    if (grads.offset && !offset) throw Error(kFn, "grad_offset", "was asked for, but the call has no offset");
    if (grads.mask && !mask) throw Error(kFn, "grad_mask", "was asked for, but the call has no mask");
    std::vector<detail::NamedView> outs;
    const std::vector<std::pair<const char *, std::pair<const std::optional<TensorView> *, std::vector<int64_t>>>>
        wanted = {{"grad_input", {&grads.input, input.shape}},
                  {"grad_offset", {&grads.offset, {pr.R, 2, pr.PH, pr.PW}}},
                  {"grad_mask", {&grads.mask, {pr.R, 1, pr.PH, pr.PW}}}};
    for (const auto &[name, what] : wanted) {
        const std::optional<TensorView> &g = *what.first;
        if (!g) continue;
        detail::check_shape(kFn, name, *g, what.second, "the shape of its input");
        detail::check_tensor(kFn, name, *g, 4, "(as its input)", o.device);
        detail::check_dtype(kFn, name, *g, input.dtype);
        outs.push_back({name, &*g});
    }
    std::vector<detail::NamedView> ins = {{"grad_output", &grad_output}, {"input", &input}, {"rois", &rois}};
    if (offset) ins.push_back({"offset", &*offset});
    if (mask) ins.push_back({"mask", &*mask});
    if (check_memory) detail::check_no_overlap(kFn, outs, ins);
    return pr;
}

}  // namespace

void deform_roi_pool_backward_validate(const TensorView &grad_output, const TensorView &input, const TensorView &rois,
                                       const std::optional<TensorView> &offset, const std::optional<TensorView> &mask,
                                       const DeformRoiPoolGradients &grads, const DeformRoiPoolOptions &o) {
    validate(grad_output, input, rois, offset, mask, grads, o, false);
}

void deform_roi_pool_backward(const TensorView &grad_output, const TensorView &input, const TensorView &rois,
                              const std::optional<TensorView> &offset, const std::optional<TensorView> &mask,
                              const DeformRoiPoolGradients &grads, const DeformRoiPoolOptions &o) {
    const detail::RoiPoolProblem pr = validate(grad_output, input, rois, offset, mask, grads, o, true);
    if (!grads.input && !grads.offset && !grads.mask) return;
    const DType dt = input.dtype;
    const bool gpu = o.device != Device::cpu;
    const int64_t C = pr.C, PH = pr.PH, PW = pr.PW;

    // No RoI: grad_input is zero (and the other gradients empty). The kernel
    // runs on one RoI whose grad_output is zero, which writes exactly that.
    const bool no_rois = pr.R == 0;
    std::optional<detail::ScratchTensor> zero_rois, zero_gy, zero_offset, zero_mask;
    if (no_rois) {
        zero_rois.emplace(std::vector<int64_t>{1, 5}, dt);
        zero_gy.emplace(std::vector<int64_t>{1, C, PH, PW}, dt);
        if (offset) zero_offset.emplace(std::vector<int64_t>{1, 2, PH, PW}, dt);
        if (mask) zero_mask.emplace(std::vector<int64_t>{1, 1, PH, PW}, dt);
    }
    const int64_t R = no_rois ? 1 : pr.R;
    const detail::UnwantedGradient no_input(input.shape, dt, gpu), no_offset({R, 2, PH, PW}, dt, gpu),
        no_mask({R, 1, PH, PW}, dt, gpu);

    detail::KernelCall call(kFn, o.device, o.cuda);
    call.input("input", input);
    call.input("rois", no_rois ? zero_rois->view() : rois);
    call.input("grad_output", no_rois ? zero_gy->view() : grad_output);
    if (offset) call.input("offset", no_rois ? zero_offset->view() : *offset);
    if (mask) call.input("mask", no_rois ? zero_mask->view() : *mask);
    call.scalar("spatial_scale", o.spatial_scale);
    call.scalar("sampling_ratio", o.sampling_ratio);
    call.scalar("gamma", o.gamma);
    call.scalar("max_grid", pr.kernel_grid_bound());
    call.output("grad_input", grads.input ? *grads.input : no_input.view());
    if (offset) call.output("grad_offset", grads.offset && !no_rois ? *grads.offset : no_offset.view());
    if (mask) call.output("grad_mask", grads.mask && !no_rois ? *grads.mask : no_mask.view());
    using namespace detail::flag;
    const unsigned variant = (offset ? deform_roi_pool_with_offset : 0) | (mask ? deform_roi_pool_with_mask : 0);
    const int status = call.run(
        detail::require_kernel(kFn, detail::Op::deform_roi_pool, detail::Direction::backward_data, dt, variant));
    call.finish(status);
}

}  // namespace dcn
