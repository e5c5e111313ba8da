// deform_roi_pool: the call (validation: roi_pool_problem.cpp) and its
// dispatch to the kernels.
#include <algorithm>
#include <string>
#include <vector>

#include "internal.h"
#include "kernel_table.h"
#include "roi_pool_problem.h"

namespace dcn {
namespace {

constexpr const char *kRp = detail::kRoiPool;
using detail::shape_str;


}  // namespace

std::vector<int64_t> deform_roi_pool_output_shape(const std::vector<int64_t> &input_shape,
                                                  const std::vector<int64_t> &rois_shape,
                                                  const DeformRoiPoolOptions &o) {
    return detail::resolve_deform_roi_pool_shapes(input_shape, rois_shape, o).output_shape();
}

double deform_roi_pool_samples(const TensorView &rois, int64_t channels, const DeformRoiPoolOptions &o) {
    if (rois.rank() != 2 || rois.shape[1] != 5 || rois.data == nullptr) return 0.0;
    double grid_points = 0.0;
    for (int64_t r = 0; r < rois.shape[0]; r++) {
        const auto g = detail::roi_grid(rois, r, o);
        grid_points += double(g.first) * double(g.second);
    }
    return grid_points * double(channels) * double(o.output_size[0]) * double(o.output_size[1]);
}

namespace {

// Every check of a call (the RoI table read), before anything is allocated or run.
detail::RoiPoolProblem validate(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &offset,
                          const std::optional<TensorView> &mask, const TensorView &output,
                          const DeformRoiPoolOptions &o) {
    const detail::RoiPoolProblem pr = detail::resolve_deform_roi_pool(input, rois, o);
    const int64_t R = pr.R, C = pr.C, PH = pr.PH, PW = pr.PW;
    detail::check_roi_pool_bin_inputs(kRp, pr, offset, mask, input.dtype, o.device);
    detail::check_shape(kRp, "output", output, {R, C, PH, PW}, "(R, C, PH, PW)");
    detail::check_tensor(kRp, "output", output, 4, "(R, C, PH, PW)", o.device);
    detail::check_dtype(kRp, "rois", rois, input.dtype);
    detail::check_dtype(kRp, "output", output, input.dtype);
    return pr;
}

}  // namespace

void deform_roi_pool_validate(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &offset,
                          const std::optional<TensorView> &mask, const TensorView &output,
                          const DeformRoiPoolOptions &o) {
    validate(input, rois, offset, mask, output, o);
}

void deform_roi_pool(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &offset,
                     const std::optional<TensorView> &mask, const TensorView &output, const DeformRoiPoolOptions &o) {
    const detail::RoiPoolProblem pr = validate(input, rois, offset, mask, output, o);
    const int64_t R = pr.R, C = pr.C;
    if (R == 0) return;

    detail::KernelCall call(kRp, o.device, o.cuda);
    static_assert(tunables::shape_feature_index("deform_roi_pool", "channels") == 0 &&
                  tunables::shape_feature_index("deform_roi_pool", "rois") == 1 &&
                  tunables::shape_feature_count("deform_roi_pool") == 2);
    call.set_shape_features({C, R});
    call.input("input", input);
    call.input("rois", rois);
    if (offset) call.input("offset", *offset);
    if (mask) call.input("mask", *mask);
    call.scalar("spatial_scale", o.spatial_scale);
    call.scalar("sampling_ratio", o.sampling_ratio);
    call.scalar("gamma", o.gamma);
    call.scalar("max_grid", pr.kernel_grid_bound());
    call.output("output", output);
    using namespace detail::flag;
    const unsigned variant = (offset ? deform_roi_pool_with_offset : 0) | (mask ? deform_roi_pool_with_mask : 0);
    const int status = call.run(
        detail::require_kernel(kRp, detail::Op::deform_roi_pool, detail::Direction::forward, input.dtype, variant));
    call.finish(status);
}
}  // namespace dcn
