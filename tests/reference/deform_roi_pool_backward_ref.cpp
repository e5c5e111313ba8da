// Independent double-precision reference for deform_roi_pool's gradients;
// see the header. Written from docs/operators.md (Gradients) only.
#include "reference/deform_roi_pool_backward_ref.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "reference/checks.h"

namespace dcn_ref {

RoiPoolGradients deform_roi_pool_backward(const TensorD &grad_output, const TensorD &input, const TensorD &rois,
                                          const TensorD *offset, const TensorD *mask, const RoiPoolParams &p) {
    constexpr const char *kOp = "deform_roi_pool_backward";
    // The forward's checks (shapes, parameters, RoI table), and its unmasked
    // pooled values for the mask gradient.
    const std::vector<double> pooled = deform_roi_pool(input, rois, offset, nullptr, p);
    const int64_t N = input.shape[0], C = input.shape[1], H = input.shape[2], W = input.shape[3];
    const int64_t R = rois.shape[0], PH = p.pooled_h, PW = p.pooled_w;
    checks::check_tensor(kOp, grad_output, {R, C, PH, PW}, "grad_output");
    if (mask) checks::check_tensor(kOp, *mask, {R, 1, PH, PW}, "mask");

    RoiPoolGradients g;
    g.input.assign(input.data.size(), 0.0);
    if (offset) g.offset.assign(offset->data.size(), 0.0);
    if (mask) g.mask.assign(mask->data.size(), 0.0);
    for (int64_t r = 0; r < R; ++r) {
        const double *roi = rois.data.data() + r * 5;
        const int64_t n = checks::roi_batch(kOp, roi, r, N);
        const double start_w0 = roi[1] * p.spatial_scale - 0.5, start_h0 = roi[2] * p.spatial_scale - 0.5;
        const double roi_w = roi[3] * p.spatial_scale - 0.5 - start_w0, roi_h = roi[4] * p.spatial_scale - 0.5 - start_h0;
        const double bin_w = roi_w / double(PW), bin_h = roi_h / double(PH);
        auto grid = [](double extent, int bins) {
            const double v = std::ceil(extent / double(bins));
            return v <= 0.0 ? int64_t{0} : static_cast<int64_t>(v);
        };
        const int64_t gh = p.sampling_ratio > 0 ? p.sampling_ratio : grid(roi_h, p.pooled_h);
        const int64_t gw = p.sampling_ratio > 0 ? p.sampling_ratio : grid(roi_w, p.pooled_w);
        const double count = double(std::max<int64_t>(gh * gw, 1));
        for (int64_t ph = 0; ph < PH; ++ph) {
            for (int64_t pw = 0; pw < PW; ++pw) {
                const int64_t q = ph * PW + pw;
                double start_w = start_w0, start_h = start_h0;
                if (offset) {
                    start_w += p.gamma * roi_w * offset->data[r * 2 * PH * PW + q];
                    start_h += p.gamma * roi_h * offset->data[r * 2 * PH * PW + PH * PW + q];
                }
                const double m = mask ? mask->data[r * PH * PW + q] : 1.0;
                for (int64_t c = 0; c < C; ++c) {
                    const double gy = grad_output.data[(r * C + c) * PH * PW + q];
                    if (mask) g.mask[r * PH * PW + q] += gy * pooled[(r * C + c) * PH * PW + q];
                    const double share = gy * m / count;
                    const double *X = input.data.data() + (n * C + c) * H * W;
                    double *gX = g.input.data() + (n * C + c) * H * W;
                    for (int64_t iy = 0; iy < gh; ++iy) {
                        const double y = start_h + double(ph) * bin_h + (double(iy) + 0.5) * bin_h / double(gh);
                        for (int64_t ix = 0; ix < gw; ++ix) {
                            const double x = start_w + double(pw) * bin_w + (double(ix) + 0.5) * bin_w / double(gw);
                            if (!std::isfinite(y) || !std::isfinite(x)) continue;
                            if (y < -1.0 || y > double(H) || x < -1.0 || x > double(W)) continue;
                            // RoIAlign's corners: a negative coordinate clamped to
                            // 0, the last row / column replicated.
                            double yy = std::max(y, 0.0), xx = std::max(x, 0.0);
                            int64_t y0 = static_cast<int64_t>(yy), x0 = static_cast<int64_t>(xx), y1, x1;
                            if (y0 >= H - 1) {
                                y0 = y1 = H - 1;
                                yy = double(y0);
                            } else {
                                y1 = y0 + 1;
                            }
                            if (x0 >= W - 1) {
                                x0 = x1 = W - 1;
                                xx = double(x0);
                            } else {
                                x1 = x0 + 1;
                            }
                            const double ly = yy - double(y0), lx = xx - double(x0), hy = 1.0 - ly, hx = 1.0 - lx;
                            gX[y0 * W + x0] += share * hy * hx;
                            gX[y0 * W + x1] += share * hy * lx;
                            gX[y1 * W + x0] += share * ly * hx;
                            gX[y1 * W + x1] += share * ly * lx;
                            if (!offset) continue;
                            // The derivative with the unclamped (y, x) (mmcv).
                            const double v00 = X[y0 * W + x0], v01 = X[y0 * W + x1], v10 = X[y1 * W + x0],
                                         v11 = X[y1 * W + x1];
                            // mmcv's v11 (y - y0) + v01 (y1 - y) + v10 (y0 - y) + v00 (y - y1),
                            // grouped so that it is exactly 0 when the two rows are one.
                            const double dx = (v11 - v10) * (y - double(y0)) + (v01 - v00) * (double(y1) - y);
                            const double dy = (v11 - v01) * (x - double(x0)) + (v10 - v00) * (double(x1) - x);
                            g.offset[r * 2 * PH * PW + q] += p.gamma * roi_w * share * dx;
                            g.offset[r * 2 * PH * PW + PH * PW + q] += p.gamma * roi_h * share * dy;
                        }
                    }
                }
            }
        }
    }
    return g;
}

}  // namespace dcn_ref
