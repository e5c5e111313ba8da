// deform_psroi_pool: the call (validation: roi_pool_problem.cpp) and its
// dispatch to the kernels.
#include <string>
#include <vector>

#include "internal.h"
#include "kernel_table.h"
#include "roi_pool_problem.h"

namespace dcn {
namespace {

constexpr const char *kPs = detail::kPsroiPool;
using detail::shape_str;


}  // namespace

std::vector<int64_t> deform_psroi_pool_output_shape(const std::vector<int64_t> &input_shape,
                                                    const std::vector<int64_t> &rois_shape,
                                                    const DeformPsroiPoolOptions &o) {
    return detail::resolve_deform_psroi_pool_shapes(input_shape, rois_shape, o).output_shape();
}

double deform_psroi_pool_samples(const std::vector<int64_t> &out, const DeformPsroiPoolOptions &o) {
    if (out.size() != 4) return 0.0;
    return double(out[0]) * double(out[1]) * double(out[2]) * double(out[3]) * double(o.sample_per_part) *
           double(o.sample_per_part);
}

namespace {

// Every check of a call (the RoI table read), before anything is allocated or run.
detail::PsroiPoolProblem validate(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &trans,
                            const TensorView &output, const std::optional<TensorView> &count,
                            const DeformPsroiPoolOptions &o) {
    const detail::PsroiPoolProblem pr = detail::resolve_deform_psroi_pool(input, rois, trans, o);
    const int64_t R = pr.R, D = pr.D, P = pr.P;
    const std::vector<int64_t> out_shape = {R, D, P, P};
    detail::check_shape(kPs, "output", output, out_shape, "(R, output_dim, pooled, pooled)");
    detail::check_tensor(kPs, "output", output, 4, "(R, output_dim, pooled, pooled)", o.device);
    if (count) {
        detail::check_shape(kPs, "count", *count, out_shape, "(R, output_dim, pooled, pooled)");
        detail::check_tensor(kPs, "count", *count, 4, "(R, output_dim, pooled, pooled)", o.device);
    }
    for (const auto &[name, t] : {std::pair<const char *, const TensorView *>{"rois", &rois},
                                  {"trans", trans ? &*trans : nullptr}, {"output", &output},
                                  {"count", count ? &*count : nullptr}})
        if (t) detail::check_dtype(kPs, name, *t, input.dtype);
    return pr;
}

}  // namespace

void deform_psroi_pool_validate(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &trans,
                            const TensorView &output, const std::optional<TensorView> &count,
                            const DeformPsroiPoolOptions &o) {
    validate(input, rois, trans, output, count, o);
}

void deform_psroi_pool(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &trans,
                       const TensorView &output, const std::optional<TensorView> &count,
                       const DeformPsroiPoolOptions &o) {
    const detail::PsroiPoolProblem pr = validate(input, rois, trans, output, count, o);
    const int64_t R = pr.R, D = pr.D, G = pr.G, P = pr.P, C = pr.C, part = pr.part;
    const std::vector<int64_t> out_shape = {R, D, P, P};
    if (R == 0) return;

    // The kernel always produces the count; without a caller's buffer it
    // goes to scratch memory.
    std::vector<unsigned char> scratch;
    TensorView count_view;
    if (count) {
        count_view = *count;
    } else {
        scratch.resize(static_cast<size_t>(R * D * P * P) * dtype_size(input.dtype));
        count_view.data = scratch.data();
        count_view.shape = out_shape;
        count_view.dtype = input.dtype;
    }
    detail::KernelCall call(kPs, o.device, o.cuda);
    // Shape features choosing a tuned schedule class (schedules/tuned/).
    static_assert(tunables::shape_feature_index("deform_psroi_pool", "channels") == 0 &&
                  tunables::shape_feature_index("deform_psroi_pool", "rois") == 1 &&
                  tunables::shape_feature_count("deform_psroi_pool") == 2);
    call.set_shape_features({C, R});
    call.input("input", input);
    call.input("rois", rois);
    if (trans) call.input("trans", *trans);
    call.scalar("spatial_scale", o.spatial_scale);
    call.scalar("output_dim", static_cast<int32_t>(D));
    call.scalar("group_size", static_cast<int32_t>(G));
    call.scalar("pooled_size", static_cast<int32_t>(P));
    call.scalar("part_size", static_cast<int32_t>(part));
    call.scalar("sample_per_part", o.sample_per_part);
    call.scalar("trans_std", o.trans_std);
    call.output("output.0", output);  // the generator's output is a Tuple (value, count)
    call.output("output.1", count_view);
    const int status = call.run(detail::require_kernel(kPs, detail::Op::deform_psroi_pool, detail::Direction::forward,
                                                       input.dtype, trans ? detail::flag::deform_psroi_pool_with_trans : 0));
    call.finish(status);
}

}  // namespace dcn
