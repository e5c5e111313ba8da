#include "roi_pool_problem.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace dcn::detail {
namespace {

constexpr const char *kPs = kPsroiPool;
constexpr const char *kRp = kRoiPool;

std::string str(int64_t v) { return std::to_string(v); }
std::string fstr(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

void check_positive(const char *fn, const char *name, int64_t v) {
    if (v < 1) throw Error(fn, name, "must be >= 1, got " + str(v));
}

void check_scale(const char *fn, float scale) {
    if (!std::isfinite(scale) || scale <= 0.0f)
        throw Error(fn, "spatial_scale", "must be finite and > 0, got " + fstr(scale));
}

// rois[r, k] of a validated host RoI table, whatever its dtype.
double roi_value(const TensorView &rois, int64_t r, int k) {
    const std::vector<int64_t> st = rois.effective_strides();
    const int64_t at = r * st[0] + k * st[1];
    return visit_dtype(rois.dtype, [&](auto t) {
        return element_to_double(static_cast<const decltype(t) *>(rois.data)[at]);
    });
}

// rois (R, 5) = [batch, x1, y1, x2, y2]: shape, then every value. The
// kernels clamp the batch index again, but a wrong one is the caller's bug.
void check_rois(const char *fn, const TensorView &rois, int64_t N) {
    if (rois.rank() != 2 || rois.shape[1] != 5)
        throw Error(fn, "rois",
                    "expected shape [R, 5] (batch index, x1, y1, x2, y2), got " + shape_str(rois.shape));
    // The RoI table is read here, on the host, so it must be host memory.
    detail::check_tensor(fn, "rois", rois, 2, "(R, 5)", Device::cpu);
    for (int64_t r = 0; r < rois.shape[0]; r++) {
        const double b = roi_value(rois, r, 0);
        if (!std::isfinite(b) || b != std::floor(b) || b < 0.0 || b >= static_cast<double>(N))
            throw Error(fn, "rois",
                        "RoI " + str(r) + ": batch index " + fstr(b) + " is not an integer in [0, " + str(N) +
                            ") (input has N = " + str(N) + ")");
        static const char *const names[] = {"batch", "x1", "y1", "x2", "y2"};
        for (int k = 1; k < 5; k++) {
            if (!std::isfinite(roi_value(rois, r, k)))
                throw Error(fn, "rois",
                            "RoI " + str(r) + ": " + names[k] + " is " + fstr(roi_value(rois, r, k)) +
                                "; RoI coordinates must be finite");
        }
    }
}

// The input for a pooling op: (N, C, H, W), H and W >= 1.
void check_pool_input(const char *fn, const TensorView &input, Device device) {
    detail::check_tensor(fn, "input", input, 4, "(N, C, H, W)", device);
    if (input.shape[1] < 1 || input.shape[2] < 1 || input.shape[3] < 1)
        throw Error(fn, "input", "C, H and W must be >= 1, got shape " + shape_str(input.shape));
}

// C = output_dim * group_size^2 (position-sensitive score maps).
void check_psroi_channels(const std::vector<int64_t> &input_shape, const DeformPsroiPoolOptions &o) {
    const int64_t G = o.group_size, D = o.output_dim;
    if (input_shape[1] != D * G * G)
        throw Error(kPs, "input",
                    "expected C = output_dim * group_size^2 = " + str(D) + " * " + str(G) + "^2 = " + str(D * G * G) +
                        " channels, got shape " + shape_str(input_shape));
}

void check_psroi_options(const DeformPsroiPoolOptions &o) {
    check_scale(kPs, o.spatial_scale);
    check_positive(kPs, "output_dim", o.output_dim);
    check_positive(kPs, "group_size", o.group_size);
    check_positive(kPs, "pooled_size", o.pooled_size);
    check_positive(kPs, "sample_per_part", o.sample_per_part);
    if (o.part_size < 0) throw Error(kPs, "part_size", "must be >= 1 (or 0 = pooled_size), got " + str(o.part_size));
    if (!std::isfinite(o.trans_std)) throw Error(kPs, "trans_std", "must be finite, got " + fstr(o.trans_std));
    // The kernels' own bounds, in the caller's terms.
    for (const auto &[name, v] : {std::pair<const char *, int>{"group_size", o.group_size},
                                  {"pooled_size", o.pooled_size},
                                  {"part_size", o.part_size},
                                  {"sample_per_part", o.sample_per_part}})
        if (v > kMaxPsroiParameter)
            throw Error(kPs, name,
                        "must be at most " + str(kMaxPsroiParameter) + " (dcn::kMaxPsroiParameter), got " + str(v));
    if (o.output_dim > kMaxPsroiOutputDim)
        throw Error(kPs, "output_dim",
                    "must be at most " + str(kMaxPsroiOutputDim) + " (dcn::kMaxPsroiOutputDim), got " + str(o.output_dim));
}
void check_roi_pool_options(const DeformRoiPoolOptions &o) {
    check_scale(kRp, o.spatial_scale);
    if (o.output_size[0] < 1 || o.output_size[1] < 1)
        throw Error(kRp, "output_size",
                    "must be >= 1, got (" + str(o.output_size[0]) + ", " + str(o.output_size[1]) + ")");
    if (o.sampling_ratio < 0)
        throw Error(kRp, "sampling_ratio", "must be >= 0 (0 = adaptive), got " + str(o.sampling_ratio));
    if (o.sampling_ratio > kMaxAdaptiveSamplingGrid)
        throw Error(kRp, "sampling_ratio",
                    "must be <= " + str(kMaxAdaptiveSamplingGrid) + ", got " + str(o.sampling_ratio));
    if (!std::isfinite(o.gamma)) throw Error(kRp, "gamma", "must be finite, got " + fstr(o.gamma));
}

// The sampling grid side of one RoI along one axis, in the call's dtype T
// as the kernel computes it (before any offset).
template <typename T>
int64_t adaptive_grid(T a, T b, float scale_f, int bins) {
    const T scale = scale_f, half = T(0.5);
    const T roi = (b * scale - half) - (a * scale - half);
    const T g = std::ceil(roi / static_cast<T>(bins));
    return g > T(0) ? static_cast<int64_t>(std::min(g, T(1e9))) : 0;
}

// RoI r's adaptive grid sides (rows, columns), computed in the call's type T.
template <typename T>
std::pair<int64_t, int64_t> adaptive_grids(const TensorView &rois, int64_t r, const DeformRoiPoolOptions &o) {
    auto at = [&](int k) { return static_cast<T>(roi_value(rois, r, k)); };
    return {adaptive_grid(at(2), at(4), o.spatial_scale, o.output_size[0]),
            adaptive_grid(at(1), at(3), o.spatial_scale, o.output_size[1])};
}

}  // namespace

std::pair<int64_t, int64_t> roi_grid(const TensorView &rois, int64_t r, const DeformRoiPoolOptions &o) {
    if (o.sampling_ratio > 0) return {o.sampling_ratio, o.sampling_ratio};
    const auto [gh, gw] = rois.dtype == DType::float64 ? adaptive_grids<double>(rois, r, o) : adaptive_grids<float>(rois, r, o);
    if (gh > kMaxAdaptiveSamplingGrid || gw > kMaxAdaptiveSamplingGrid)
        throw Error(kRp, "rois",
                    "RoI " + str(r) + " asks for an adaptive sampling grid of " + str(gh) + " x " + str(gw) +
                        " per bin, above the limit " + str(kMaxAdaptiveSamplingGrid) +
                        "; pass sampling_ratio > 0 for RoIs this large");
    return {gh, gw};
}

PsroiPoolProblem resolve_deform_psroi_pool_shapes(const std::vector<int64_t> &input_shape,
                                                  const std::vector<int64_t> &rois_shape,
                                                  const DeformPsroiPoolOptions &o) {
    check_psroi_options(o);
    if (input_shape.size() != 4)
        throw Error(kPs, "input", "expected a 4-D tensor (N, C, H, W), got shape " + shape_str(input_shape));
    check_psroi_channels(input_shape, o);
    if (rois_shape.size() != 2 || rois_shape[1] != 5)
        throw Error(kPs, "rois", "expected shape [R, 5], got " + shape_str(rois_shape));
    PsroiPoolProblem p;
    p.N = input_shape[0], p.C = input_shape[1], p.R = rois_shape[0];
    p.D = o.output_dim, p.G = o.group_size, p.P = o.pooled_size;
    p.part = o.part_size > 0 ? o.part_size : o.pooled_size;
    return p;
}

PsroiPoolProblem resolve_deform_psroi_pool(const TensorView &input, const TensorView &rois,
                                           const std::optional<TensorView> &trans, const DeformPsroiPoolOptions &o) {
    check_psroi_options(o);
    check_pool_input(kPs, input, o.device);
    const int64_t N = input.shape[0], C = input.shape[1];
    const int64_t G = o.group_size, P = o.pooled_size, D = o.output_dim;
    check_psroi_channels(input.shape, o);
    check_rois(kPs, rois, N);
    const int64_t R = rois.shape[0];
    const int64_t part = o.part_size > 0 ? o.part_size : P;
    if (trans) {
        const TensorView &t = *trans;
        if (t.rank() != 4 || t.shape[1] < 2 || t.shape[1] % 2 != 0)
            throw Error(kPs, "trans",
                        "expected shape [" + str(R) + ", 2*num_classes, " + str(part) + ", " + str(part) + "], got " +
                            shape_str(t.shape));
        const int64_t classes = t.shape[1] / 2;
        if (D % classes != 0)
            throw Error(kPs, "trans",
                        "num_classes = trans.shape[1] / 2 = " + str(classes) + " must divide output_dim = " + str(D) +
                            " (trans shape " + shape_str(t.shape) + ")");
        check_shape(kPs, "trans", t, {R, 2 * classes, part, part},
                            "part_size = " + str(part) + (o.part_size > 0 ? "" : " (= pooled_size)"));
        check_tensor(kPs, "trans", t, 4, "(R, 2*num_classes, part, part)", o.device);
    }
    PsroiPoolProblem p;
    p.N = N, p.C = C, p.R = R, p.D = D, p.G = G, p.P = P, p.part = part;
    if (trans) p.classes = trans->shape[1] / 2;
    return p;
}

RoiPoolProblem resolve_deform_roi_pool_shapes(const std::vector<int64_t> &input_shape,
                                              const std::vector<int64_t> &rois_shape,
                                              const DeformRoiPoolOptions &o) {
    check_roi_pool_options(o);
    if (input_shape.size() != 4)
        throw Error(kRp, "input", "expected a 4-D tensor (N, C, H, W), got shape " + shape_str(input_shape));
    if (rois_shape.size() != 2 || rois_shape[1] != 5)
        throw Error(kRp, "rois", "expected shape [R, 5], got " + shape_str(rois_shape));
    RoiPoolProblem p;
    p.N = input_shape[0], p.C = input_shape[1], p.R = rois_shape[0];
    p.PH = o.output_size[0], p.PW = o.output_size[1];
    return p;
}

RoiPoolProblem resolve_deform_roi_pool(const TensorView &input, const TensorView &rois,
                                       const DeformRoiPoolOptions &o) {
    check_roi_pool_options(o);
    check_pool_input(kRp, input, o.device);
    const int64_t N = input.shape[0], C = input.shape[1];
    const int64_t PH = o.output_size[0], PW = o.output_size[1];
    check_rois(kRp, rois, N);
    const int64_t R = rois.shape[0];
    int64_t max_grid = 1;
    for (int64_t r = 0; r < R; r++) {
        const auto g = roi_grid(rois, r, o);
        max_grid = std::max({max_grid, g.first, g.second});
    }
    RoiPoolProblem p;
    p.N = N, p.C = C, p.R = R, p.PH = PH, p.PW = PW, p.max_grid = max_grid, p.sampling_ratio = o.sampling_ratio;
    return p;
}

void check_roi_pool_bin_inputs(const char *fn, const RoiPoolProblem &pr, const std::optional<TensorView> &offset,
                               const std::optional<TensorView> &mask, DType dtype, Device device) {
    if (offset) {
        check_shape(fn, "offset", *offset, {pr.R, 2, pr.PH, pr.PW}, "(R, 2, PH, PW): x then y per bin");
        check_tensor(fn, "offset", *offset, 4, "(R, 2, PH, PW)", device);
        check_dtype(fn, "offset", *offset, dtype);
    }
    if (mask) {
        check_shape(fn, "mask", *mask, {pr.R, 1, pr.PH, pr.PW}, "(R, 1, PH, PW)");
        check_tensor(fn, "mask", *mask, 4, "(R, 1, PH, PW)", device);
        check_dtype(fn, "mask", *mask, dtype);
    }
}

}  // namespace dcn::detail
