// deform_psroi_pool_backward: argument validation and dispatch to the
// backward kernel (direction backward_data: grad_input, grad_trans).
#include <optional>
#include <string>
#include <vector>

#include "gradients.h"
#include "internal.h"
#include "kernel_table.h"
#include "roi_pool_problem.h"

namespace dcn {
namespace {

constexpr const char *kFn = "deform_psroi_pool_backward";

// Every check of a call, before anything is allocated or run (the memory
// overlap checks need the real tensors: the call's, not _validate's).
detail::PsroiPoolProblem validate(const TensorView &grad_output, const TensorView &input, const TensorView &rois,
                                  const std::optional<TensorView> &trans, const DeformPsroiPoolGradients &grads,
                                  const DeformPsroiPoolOptions &o, bool check_memory) {
    // The forward's rules, then grad_output in the place of the output.
    const detail::PsroiPoolProblem pr = detail::resolve_deform_psroi_pool(input, rois, trans, o);
    detail::check_dtype(kFn, "rois", rois, input.dtype);
    if (trans) detail::check_dtype(kFn, "trans", *trans, input.dtype);
    detail::check_shape(kFn, "grad_output", grad_output, pr.output_shape(),
                        "the forward's output (R, output_dim, pooled, pooled)");
    detail::check_tensor(kFn, "grad_output", grad_output, 4, "(R, output_dim, pooled, pooled)", o.device);
    detail::check_dtype(kFn, "grad_output", grad_output, input.dtype);
    if (grads.trans && !trans) throw Error(kFn, "grad_trans", "was asked for, but the call has no trans");
    std::vector<detail::NamedView> outs;
    if (grads.input) {
        detail::check_shape(kFn, "grad_input", *grads.input, input.shape, "the shape of its input");
        detail::check_tensor(kFn, "grad_input", *grads.input, 4, "(N, C, H, W)", o.device);
        detail::check_dtype(kFn, "grad_input", *grads.input, input.dtype);
        outs.push_back({"grad_input", &*grads.input});
    }
    if (grads.trans) {
        detail::check_shape(kFn, "grad_trans", *grads.trans, trans->shape, "the shape of its input");
        detail::check_tensor(kFn, "grad_trans", *grads.trans, 4, "(R, 2*num_classes, part, part)", o.device);
        detail::check_dtype(kFn, "grad_trans", *grads.trans, input.dtype);
        outs.push_back({"grad_trans", &*grads.trans});
    }
    std::vector<detail::NamedView> ins = {{"grad_output", &grad_output}, {"input", &input}, {"rois", &rois}};
    if (trans) ins.push_back({"trans", &*trans});
    if (check_memory) detail::check_no_overlap(kFn, outs, ins);
    return pr;
}

// (N, C, H, W) -> (N, classes, per_class, G*G, H, W): input channel
// c = ((cls*per_class + cc)*G*G + gi), as the kernel's grad_input.
TensorView split_channels(const TensorView &t, int64_t classes, int64_t groups2) {
    TensorView v = t;
    const std::vector<int64_t> st = t.effective_strides();
    const int64_t per_class = t.shape[1] / (classes * groups2);
    v.shape = {t.shape[0], classes, per_class, groups2, t.shape[2], t.shape[3]};
    v.strides = {st[0], st[1] * per_class * groups2, st[1] * groups2, st[1], st[2], st[3]};
    return v;
}

}  // namespace

void deform_psroi_pool_backward_validate(const TensorView &grad_output, const TensorView &input,
                                         const TensorView &rois, const std::optional<TensorView> &trans,
                                         const DeformPsroiPoolGradients &grads, const DeformPsroiPoolOptions &o) {
    validate(grad_output, input, rois, trans, grads, o, false);
}

void deform_psroi_pool_backward(const TensorView &grad_output, const TensorView &input, const TensorView &rois,
                                const std::optional<TensorView> &trans, const DeformPsroiPoolGradients &grads,
                                const DeformPsroiPoolOptions &o) {
    const detail::PsroiPoolProblem pr = validate(grad_output, input, rois, trans, grads, o, true);
    if (!grads.input && !grads.trans) return;
    const DType dt = input.dtype;
    const bool gpu = o.device != Device::cpu;
    const int64_t D = pr.D, P = pr.P, part = pr.part, classes = pr.classes;

    // No RoI: grad_input is zero (grad_trans empty). The kernel runs on one
    // RoI whose grad_output is zero, which writes exactly that.
    const bool no_rois = pr.R == 0;
    std::optional<detail::ScratchTensor> zero_rois, zero_gy, zero_trans;
    if (no_rois) {
        zero_rois.emplace(std::vector<int64_t>{1, 5}, dt);
        zero_gy.emplace(std::vector<int64_t>{1, D, P, P}, dt);
        if (trans) zero_trans.emplace(std::vector<int64_t>{1, 2 * classes, part, part}, dt);
    }
    const int64_t R = no_rois ? 1 : pr.R;
    const detail::UnwantedGradient no_input(input.shape, dt, gpu), no_trans({R, 2 * classes, part, part}, dt, gpu);

    detail::KernelCall call(kFn, o.device, o.cuda);
    call.input("input", input);
    call.input("rois", no_rois ? zero_rois->view() : rois);
    call.input("grad_output", no_rois ? zero_gy->view() : grad_output);
    if (trans) call.input("trans", no_rois ? zero_trans->view() : *trans);
    call.scalar("spatial_scale", o.spatial_scale);
    call.scalar("output_dim", static_cast<int32_t>(D));
    call.scalar("group_size", static_cast<int32_t>(pr.G));
    call.scalar("pooled_size", static_cast<int32_t>(P));
    call.scalar("part_size", static_cast<int32_t>(part));
    call.scalar("sample_per_part", o.sample_per_part);
    call.scalar("trans_std", o.trans_std);
    call.output("grad_input", split_channels(grads.input ? *grads.input : no_input.view(), classes, pr.G * pr.G));
    if (trans) call.output("grad_trans", grads.trans && !no_rois ? *grads.trans : no_trans.view());
    const int status = call.run(detail::require_kernel(kFn, detail::Op::deform_psroi_pool,
                                                       detail::Direction::backward_data, dt,
                                                       trans ? detail::flag::deform_psroi_pool_with_trans : 0));
    call.finish(status);
}

}  // namespace dcn
