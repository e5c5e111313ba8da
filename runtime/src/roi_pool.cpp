// deform_psroi_pool and deform_roi_pool: argument validation (including the
// RoI table itself, read on the host) and dispatch to the AOT kernels.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "internal.h"

#include "kernel_table.h"

namespace dcn {
namespace {

using detail::shape_str;
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
    if (const double *d = rois.data_as<const double>()) return d[at];
    return static_cast<const float *>(rois.data)[at];
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

}  // namespace

// ---- deform_psroi_pool ----------------------------------------------------------

namespace {
constexpr const char *kPs = "deform_psroi_pool";

void check_psroi_options(const DeformPsroiPoolOptions &o) {
    check_scale(kPs, o.spatial_scale);
    check_positive(kPs, "output_dim", o.output_dim);
    check_positive(kPs, "group_size", o.group_size);
    check_positive(kPs, "pooled_size", o.pooled_size);
    check_positive(kPs, "sample_per_part", o.sample_per_part);
    if (o.part_size < 0) throw Error(kPs, "part_size", "must be >= 1 (or 0 = pooled_size), got " + str(o.part_size));
    if (!std::isfinite(o.trans_std)) throw Error(kPs, "trans_std", "must be finite, got " + fstr(o.trans_std));
}
}  // namespace

std::vector<int64_t> deform_psroi_pool_output_shape(const std::vector<int64_t> &input_shape,
                                                    const std::vector<int64_t> &rois_shape,
                                                    const DeformPsroiPoolOptions &o) {
    check_psroi_options(o);
    if (input_shape.size() != 4)
        throw Error(kPs, "input", "expected a 4-D tensor (N, C, H, W), got shape " + shape_str(input_shape));
    if (rois_shape.size() != 2 || rois_shape[1] != 5)
        throw Error(kPs, "rois", "expected shape [R, 5], got " + shape_str(rois_shape));
    return {rois_shape[0], o.output_dim, o.pooled_size, o.pooled_size};
}

double deform_psroi_pool_samples(const std::vector<int64_t> &out, const DeformPsroiPoolOptions &o) {
    if (out.size() != 4) return 0.0;
    return double(out[0]) * double(out[1]) * double(out[2]) * double(out[3]) * double(o.sample_per_part) *
           double(o.sample_per_part);
}

void deform_psroi_pool(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &trans,
                       const TensorView &output, const std::optional<TensorView> &count,
                       const DeformPsroiPoolOptions &o) {
    check_psroi_options(o);
    check_pool_input(kPs, input, o.device);
    const int64_t N = input.shape[0], C = input.shape[1];
    const int64_t G = o.group_size, P = o.pooled_size, D = o.output_dim;
    if (C != D * G * G)
        throw Error(kPs, "input",
                    "expected C = output_dim * group_size^2 = " + str(D) + " * " + str(G) + "^2 = " + str(D * G * G) +
                        " channels, got shape " + shape_str(input.shape));
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
        detail::check_shape(kPs, "trans", t, {R, 2 * classes, part, part},
                            "part_size = " + str(part) + (o.part_size > 0 ? "" : " (= pooled_size)"));
        detail::check_tensor(kPs, "trans", t, 4, "(R, 2*num_classes, part, part)", o.device);
    }
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
    const detail::KernelEntry *kernel =
        detail::find_kernel(detail::Op::deform_psroi_pool, detail::Direction::forward, input.dtype,
                            trans ? detail::flag::deform_psroi_pool_with_trans : 0);
    if (!kernel) throw Error(kPs, "input", std::string("this build has no ") + dtype_name(input.dtype) + " kernel");
    const int status = call.run(*kernel);
    call.finish(status);
}

// ---- deform_roi_pool ------------------------------------------------------------

namespace {
constexpr const char *kRp = "deform_roi_pool";

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

// Per RoI grid sides (rows, columns); checks the adaptive limit.
std::pair<int64_t, int64_t> roi_grid(const TensorView &rois, int64_t r, const DeformRoiPoolOptions &o) {
    if (o.sampling_ratio > 0) return {o.sampling_ratio, o.sampling_ratio};
    int64_t gh, gw;
    if (rois.dtype == DType::float64) {
        auto at = [&](int k) { return roi_value(rois, r, k); };
        gh = adaptive_grid(at(2), at(4), o.spatial_scale, o.output_size[0]);
        gw = adaptive_grid(at(1), at(3), o.spatial_scale, o.output_size[1]);
    } else {
        auto at = [&](int k) { return static_cast<float>(roi_value(rois, r, k)); };
        gh = adaptive_grid(at(2), at(4), o.spatial_scale, o.output_size[0]);
        gw = adaptive_grid(at(1), at(3), o.spatial_scale, o.output_size[1]);
    }
    if (gh > kMaxAdaptiveSamplingGrid || gw > kMaxAdaptiveSamplingGrid)
        throw Error(kRp, "rois",
                    "RoI " + str(r) + " asks for an adaptive sampling grid of " + str(gh) + " x " + str(gw) +
                        " per bin, above the limit " + str(kMaxAdaptiveSamplingGrid) +
                        "; pass sampling_ratio > 0 for RoIs this large");
    return {gh, gw};
}
}  // namespace

std::vector<int64_t> deform_roi_pool_output_shape(const std::vector<int64_t> &input_shape,
                                                  const std::vector<int64_t> &rois_shape,
                                                  const DeformRoiPoolOptions &o) {
    check_roi_pool_options(o);
    if (input_shape.size() != 4)
        throw Error(kRp, "input", "expected a 4-D tensor (N, C, H, W), got shape " + shape_str(input_shape));
    if (rois_shape.size() != 2 || rois_shape[1] != 5)
        throw Error(kRp, "rois", "expected shape [R, 5], got " + shape_str(rois_shape));
    return {rois_shape[0], input_shape[1], o.output_size[0], o.output_size[1]};
}

double deform_roi_pool_samples(const TensorView &rois, int64_t channels, const DeformRoiPoolOptions &o) {
    if (rois.rank() != 2 || rois.shape[1] != 5 || rois.data == nullptr) return 0.0;
    double grid_points = 0.0;
    for (int64_t r = 0; r < rois.shape[0]; r++) {
        const auto g = roi_grid(rois, r, o);
        grid_points += double(g.first) * double(g.second);
    }
    return grid_points * double(channels) * double(o.output_size[0]) * double(o.output_size[1]);
}

void deform_roi_pool(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &offset,
                     const std::optional<TensorView> &mask, const TensorView &output, const DeformRoiPoolOptions &o) {
    check_roi_pool_options(o);
    check_pool_input(kRp, input, o.device);
    const int64_t N = input.shape[0], C = input.shape[1];
    const int64_t PH = o.output_size[0], PW = o.output_size[1];
    check_rois(kRp, rois, N);
    const int64_t R = rois.shape[0];
    if (offset) {
        detail::check_shape(kRp, "offset", *offset, {R, 2, PH, PW}, "(R, 2, PH, PW): x then y per bin");
        detail::check_tensor(kRp, "offset", *offset, 4, "(R, 2, PH, PW)", o.device);
    }
    if (mask) {
        detail::check_shape(kRp, "mask", *mask, {R, 1, PH, PW}, "(R, 1, PH, PW)");
        detail::check_tensor(kRp, "mask", *mask, 4, "(R, 1, PH, PW)", o.device);
    }
    detail::check_shape(kRp, "output", output, {R, C, PH, PW}, "(R, C, PH, PW)");
    detail::check_tensor(kRp, "output", output, 4, "(R, C, PH, PW)", o.device);
    for (const auto &[name, t] : {std::pair<const char *, const TensorView *>{"rois", &rois},
                                  {"offset", offset ? &*offset : nullptr}, {"mask", mask ? &*mask : nullptr},
                                  {"output", &output}})
        if (t) detail::check_dtype(kRp, name, *t, input.dtype);
    int64_t max_grid = 1;
    for (int64_t r = 0; r < R; r++) {
        const auto g = roi_grid(rois, r, o);
        max_grid = std::max({max_grid, g.first, g.second});
    }
    if (R == 0) return;
    // One more than the host's figure: the kernel's float arithmetic may
    // round a ceil() the other way, and its RDom only needs a bound.
    const int bound = static_cast<int>(max_grid + (o.sampling_ratio > 0 ? 0 : 1));

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
    call.scalar("max_grid", bound);
    call.output("output", output);
    using namespace detail::flag;
    const unsigned variant = (offset ? deform_roi_pool_with_offset : 0) | (mask ? deform_roi_pool_with_mask : 0);
    const detail::KernelEntry *kernel =
        detail::find_kernel(detail::Op::deform_roi_pool, detail::Direction::forward, input.dtype, variant);
    if (!kernel) throw Error(kRp, "input", std::string("this build has no ") + dtype_name(input.dtype) + " kernel");
    const int status = call.run(*kernel);
    call.finish(status);
}

}  // namespace dcn
