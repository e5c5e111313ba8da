// Independent double-precision reference for deform_roi_pool; see the
// header. Written from docs/operators.md (deform_roi_pool) only.
#include "reference/deform_roi_pool_ref.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "reference/checks.h"

namespace dcn_ref {
namespace {

constexpr const char *kOp = "deform_roi_pool";
using checks::numel;
using checks::shape_str;
[[noreturn]] void fail(const std::string &what) { checks::fail(kOp, what); }
template <typename T>
void check_tensor(const BasicTensor<T> &t, const std::vector<int64_t> &expected, const char *name) {
    checks::check_tensor(kOp, t, expected, name);
}

// The adaptive grid ceil(extent / bins); <= 0 for an empty or inverted RoI.
int64_t adaptive_grid(double extent, int bins) {
    const double g = std::ceil(extent / static_cast<double>(bins));
    if (g > static_cast<double>(1 << 20)) fail("adaptive sampling grid too large for a test");
    return g <= 0.0 ? 0 : static_cast<int64_t>(g);
}

}  // namespace

namespace {

template <typename T>
double bilinear(const T *plane, int64_t H, int64_t W, double y, double x) {
    if (!std::isfinite(y) || !std::isfinite(x)) return 0.0;
    if (y < -1.0 || y > static_cast<double>(H) || x < -1.0 || x > static_cast<double>(W))
        return 0.0;
    if (y < 0.0) y = 0.0;
    if (x < 0.0) x = 0.0;
    int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x);  // y, x >= 0: floor
    int64_t y_high, x_high;
    if (y_low >= H - 1) {
        y_low = y_high = H - 1;
        y = static_cast<double>(y_low);
    } else {
        y_high = y_low + 1;
    }
    if (x_low >= W - 1) {
        x_low = x_high = W - 1;
        x = static_cast<double>(x_low);
    } else {
        x_high = x_low + 1;
    }
    const double ly = y - static_cast<double>(y_low), lx = x - static_cast<double>(x_low);
    const double hy = 1.0 - ly, hx = 1.0 - lx;
    return hy * hx * plane[y_low * W + x_low] + hy * lx * plane[y_low * W + x_high] +
           ly * hx * plane[y_high * W + x_low] + ly * lx * plane[y_high * W + x_high];
}

}  // namespace

double roi_align_bilinear(const float *plane, int64_t H, int64_t W, double y, double x) {
    return bilinear(plane, H, W, y, x);
}
double roi_align_bilinear(const double *plane, int64_t H, int64_t W, double y, double x) {
    return bilinear(plane, H, W, y, x);
}

namespace {

template <typename T>
std::vector<double> forward(const BasicTensor<T> &input, const BasicTensor<T> &rois, const BasicTensor<T> *offset,
                            const BasicTensor<T> *mask, const RoiPoolParams &p) {
    if (input.shape.size() != 4) fail("input: expected rank 4, got " + shape_str(input.shape));
    if (rois.shape.size() != 2 || rois.shape[1] != 5)
        fail("rois: expected shape [R, 5], got " + shape_str(rois.shape));
    check_tensor(input, input.shape, "input");
    check_tensor(rois, rois.shape, "rois");
    if (p.pooled_h < 1 || p.pooled_w < 1) fail("pooled_h, pooled_w must be >= 1");
    if (!(p.spatial_scale > 0.0) || !std::isfinite(p.spatial_scale))
        fail("spatial_scale must be finite and > 0");
    if (p.sampling_ratio < 0) fail("sampling_ratio must be >= 0");

    const int64_t N = input.shape[0], C = input.shape[1], H = input.shape[2], W = input.shape[3];
    const int64_t R = rois.shape[0], PH = p.pooled_h, PW = p.pooled_w;
    if (offset) check_tensor(*offset, {R, 2, PH, PW}, "offset");
    if (mask) check_tensor(*mask, {R, 1, PH, PW}, "mask");

    std::vector<double> out(static_cast<size_t>(R * C * PH * PW), 0.0);
    for (int64_t r = 0; r < R; ++r) {
        const T *roi = rois.data.data() + r * 5;
        const int64_t n = checks::roi_batch(kOp, roi, r, N);

        // No rounding and no +1 (mmcv's aligned RoIAlign box).
        const double scale = p.spatial_scale;
        const double roi_start_w = static_cast<double>(roi[1]) * scale - 0.5;
        const double roi_start_h = static_cast<double>(roi[2]) * scale - 0.5;
        const double roi_end_w = static_cast<double>(roi[3]) * scale - 0.5;
        const double roi_end_h = static_cast<double>(roi[4]) * scale - 0.5;
        const double roi_w = roi_end_w - roi_start_w;  // no minimum: may be 0 or negative
        const double roi_h = roi_end_h - roi_start_h;
        const double bin_w = roi_w / static_cast<double>(PW);
        const double bin_h = roi_h / static_cast<double>(PH);
        // Grid from the RoI before any offset.
        const int64_t grid_h = p.sampling_ratio > 0 ? p.sampling_ratio : adaptive_grid(roi_h, p.pooled_h);
        const int64_t grid_w = p.sampling_ratio > 0 ? p.sampling_ratio : adaptive_grid(roi_w, p.pooled_w);
        const double count = static_cast<double>(std::max<int64_t>(grid_h * grid_w, 1));

        for (int64_t ph = 0; ph < PH; ++ph) {
            for (int64_t pw = 0; pw < PW; ++pw) {
                double start_w = roi_start_w, start_h = roi_start_h;
                if (offset) {
                    const size_t q = static_cast<size_t>(ph * PW + pw);
                    const T *o = offset->data.data() + r * 2 * PH * PW;
                    start_w += p.gamma * roi_w * static_cast<double>(o[q]);            // channel 0: x
                    start_h += p.gamma * roi_h * static_cast<double>(o[PH * PW + q]);  // channel 1: y
                }
                const double m =
                    mask ? static_cast<double>(mask->data[static_cast<size_t>((r * PH + ph) * PW + pw)]) : 1.0;
                for (int64_t c = 0; c < C; ++c) {
                    const T *plane = input.data.data() + ((n * C + c) * H) * W;
                    double sum = 0.0;
                    for (int64_t iy = 0; iy < grid_h; ++iy) {
                        const double y = start_h + static_cast<double>(ph) * bin_h +
                                         (static_cast<double>(iy) + 0.5) * bin_h / static_cast<double>(grid_h);
                        for (int64_t ix = 0; ix < grid_w; ++ix) {
                            const double x = start_w + static_cast<double>(pw) * bin_w +
                                             (static_cast<double>(ix) + 0.5) * bin_w /
                                                 static_cast<double>(grid_w);
                            sum += roi_align_bilinear(plane, H, W, y, x);
                        }
                    }
                    out[static_cast<size_t>(((r * C + c) * PH + ph) * PW + pw)] = sum / count * m;
                }
            }
        }
    }
    return out;
}

}  // namespace

std::vector<double> deform_roi_pool(const Tensor &input, const Tensor &rois, const Tensor *offset,
                                    const Tensor *mask, const RoiPoolParams &p) {
    return forward(input, rois, offset, mask, p);
}

std::vector<double> deform_roi_pool(const TensorD &input, const TensorD &rois, const TensorD *offset,
                                    const TensorD *mask, const RoiPoolParams &p) {
    return forward(input, rois, offset, mask, p);
}

}  // namespace dcn_ref
