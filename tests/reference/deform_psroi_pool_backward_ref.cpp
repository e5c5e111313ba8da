// Independent double-precision reference for deform_psroi_pool's gradients;
// see the header. Written from docs/operators.md (Gradients) only.
#include "reference/deform_psroi_pool_backward_ref.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "reference/checks.h"

namespace dcn_ref {

PsroiPoolGradients deform_psroi_pool_backward(const TensorD &grad_output, const TensorD &input, const TensorD &rois,
                                              const TensorD *trans, const PsroiPoolParams &p) {
    constexpr const char *kOp = "deform_psroi_pool_backward";
    // The forward's checks (shapes, parameters, RoI table).
    (void)deform_psroi_pool(input, rois, trans, p);
    const int64_t N = input.shape[0], C = input.shape[1], H = input.shape[2], W = input.shape[3];
    const int64_t R = rois.shape[0], D = p.output_dim, G = p.group_size, P = p.pooled_size, S = p.sample_per_part;
    const int64_t part = p.part_size > 0 ? p.part_size : P;
    const int64_t num_classes = trans ? trans->shape[1] / 2 : 1, per_class = D / num_classes;
    checks::check_tensor(kOp, grad_output, {R, D, P, P}, "grad_output");

    PsroiPoolGradients g;
    g.input.assign(input.data.size(), 0.0);
    if (trans) g.trans.assign(trans->data.size(), 0.0);
    for (int64_t r = 0; r < R; ++r) {
        const double *roi = rois.data.data() + r * 5;
        const int64_t n = checks::roi_batch(kOp, roi, r, N);
        const double s = p.spatial_scale;
        const double start_w = std::round(roi[1]) * s - 0.5, start_h = std::round(roi[2]) * s - 0.5;
        const double roi_w = std::max((std::round(roi[3]) + 1.0) * s - 0.5 - start_w, 0.1);
        const double roi_h = std::max((std::round(roi[4]) + 1.0) * s - 0.5 - start_h, 0.1);
        const double bin_w = roi_w / double(P), bin_h = roi_h / double(P);
        for (int64_t ctop = 0; ctop < D; ++ctop) {
            const int64_t cls = ctop / per_class;
            for (int64_t ph = 0; ph < P; ++ph) {
                for (int64_t pw = 0; pw < P; ++pw) {
                    const int part_h = psroi_part_index(int(ph), int(P), int(part));
                    const int part_w = psroi_part_index(int(pw), int(P), int(part));
                    const int64_t tx = ((r * 2 * num_classes + 2 * cls) * part + part_h) * part + part_w;
                    const int64_t ty = tx + part * part;
                    const double trans_x = trans ? trans->data[tx] * p.trans_std : 0.0;
                    const double trans_y = trans ? trans->data[ty] * p.trans_std : 0.0;
                    const double wstart = double(pw) * bin_w + start_w + trans_x * roi_w;
                    const double hstart = double(ph) * bin_h + start_h + trans_y * roi_h;
                    const int64_t gw = std::min(std::max<int64_t>(pw * G / P, 0), G - 1);
                    const int64_t gh = std::min(std::max<int64_t>(ph * G / P, 0), G - 1);
                    const int64_t c = (ctop * G + gh) * G + gw;
                    const double *X = input.data.data() + (n * C + c) * H * W;
                    double *gX = g.input.data() + (n * C + c) * H * W;
                    // The bin's valid samples (clamped), as the forward counts them.
                    std::vector<std::pair<double, double>> samples;
                    for (int64_t ih = 0; ih < S; ++ih)
                        for (int64_t iw = 0; iw < S; ++iw) {
                            const double w = wstart + double(iw) * bin_w / double(S);
                            const double h = hstart + double(ih) * bin_h / double(S);
                            if (!std::isfinite(w) || !std::isfinite(h)) continue;
                            if (w < -0.5 || w > double(W) - 0.5 || h < -0.5 || h > double(H) - 0.5) continue;
                            samples.push_back({std::min(std::max(w, 0.0), double(W - 1)),
                                               std::min(std::max(h, 0.0), double(H - 1))});
                        }
                    if (samples.empty()) continue;
                    const double share = grad_output.data[((r * D + ctop) * P + ph) * P + pw] / double(samples.size());
                    for (const auto &[w, h] : samples) {
                        const int64_t x0 = int64_t(std::floor(w)), x1 = int64_t(std::ceil(w));
                        const int64_t y0 = int64_t(std::floor(h)), y1 = int64_t(std::ceil(h));
                        const double dx = w - double(x0), dy = h - double(y0);
                        gX[y0 * W + x0] += (1 - dx) * (1 - dy) * share;
                        gX[y1 * W + x0] += (1 - dx) * dy * share;
                        gX[y0 * W + x1] += dx * (1 - dy) * share;
                        gX[y1 * W + x1] += dx * dy * share;
                        if (!trans) continue;
                        const double u00 = X[y0 * W + x0], u01 = X[y1 * W + x0], u10 = X[y0 * W + x1],
                                     u11 = X[y1 * W + x1];
                        g.trans[tx] += (u11 * dy + u10 * (1 - dy) - u01 * dy - u00 * (1 - dy)) * p.trans_std * share * roi_w;
                        g.trans[ty] += (u11 * dx + u01 * (1 - dx) - u10 * dx - u00 * (1 - dx)) * p.trans_std * share * roi_h;
                    }
                }
            }
        }
    }
    return g;
}

}  // namespace dcn_ref
