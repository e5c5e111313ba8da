// Independent double-precision reference for deform_psroi_pool; see the
// header. Written from docs/operators.md (deform_psroi_pool) only.
#include "reference/deform_psroi_pool_ref.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "reference/checks.h"

namespace dcn_ref {
namespace {

constexpr const char *kOp = "deform_psroi_pool";
using checks::numel;
using checks::shape_str;
[[noreturn]] void fail(const std::string &what) { checks::fail(kOp, what); }
template <typename T>
void check_data(const BasicTensor<T> &t, const char *name) {
    checks::check_data(kOp, t, name);
}

// MSRA's bilinear_interp on a plane, for a point already clamped to
// [0, W-1] x [0, H-1]: corners floor / ceil of each coordinate (equal when
// the coordinate is an integer), weights from the distance to the floor.
template <typename T>
double bilinear_msra(const T *plane, int64_t W, double x, double y) {
    const double x1f = std::floor(x), x2f = std::ceil(x);
    const double y1f = std::floor(y), y2f = std::ceil(y);
    const int64_t x1 = static_cast<int64_t>(x1f), x2 = static_cast<int64_t>(x2f);
    const int64_t y1 = static_cast<int64_t>(y1f), y2 = static_cast<int64_t>(y2f);
    const double dx = x - x1f, dy = y - y1f;
    const double v11 = plane[y1 * W + x1];
    const double v12 = plane[y2 * W + x1];
    const double v21 = plane[y1 * W + x2];
    const double v22 = plane[y2 * W + x2];
    return (1 - dx) * (1 - dy) * v11 + (1 - dx) * dy * v12 + dx * (1 - dy) * v21 + dx * dy * v22;
}

}  // namespace

int psroi_part_index(int bin, int pooled_size, int part_size) {
    // Each step rounded to float, as in the CUDA kernel (float / int, then
    // * int); the floor then sees the float value.
    const float q = static_cast<float>(bin) / static_cast<float>(pooled_size);
    const float r = q * static_cast<float>(part_size);
    return static_cast<int>(std::floor(r));
}

namespace {

template <typename T>
PsroiPoolResult forward(const BasicTensor<T> &input, const BasicTensor<T> &rois, const BasicTensor<T> *trans,
                        const PsroiPoolParams &p) {
    if (input.shape.size() != 4) fail("input: expected rank 4, got " + shape_str(input.shape));
    if (rois.shape.size() != 2 || rois.shape[1] != 5)
        fail("rois: expected shape [R, 5], got " + shape_str(rois.shape));
    check_data(input, "input");
    check_data(rois, "rois");
    if (!(p.spatial_scale > 0.0) || !std::isfinite(p.spatial_scale))
        fail("spatial_scale must be finite and > 0");
    if (p.output_dim < 1 || p.group_size < 1 || p.pooled_size < 1 || p.sample_per_part < 1 ||
        p.part_size < 0)
        fail("output_dim, group_size, pooled_size, sample_per_part must be >= 1, part_size >= 0");

    const int64_t N = input.shape[0], C = input.shape[1], H = input.shape[2], W = input.shape[3];
    const int64_t R = rois.shape[0];
    const int64_t D = p.output_dim, G = p.group_size, P = p.pooled_size, S = p.sample_per_part;
    const int64_t part = p.part_size > 0 ? p.part_size : P;
    if (C != D * G * G)
        fail("input: C = " + std::to_string(C) + ", expected output_dim * group_size^2 = " +
             std::to_string(D * G * G));

    int64_t num_classes = 1, channels_each_class = D;
    if (trans) {
        check_data(*trans, "trans");
        if (trans->shape.size() != 4 || trans->shape[0] != R || trans->shape[1] < 2 ||
            trans->shape[1] % 2 != 0 || trans->shape[2] != part || trans->shape[3] != part)
            fail("trans: expected shape [" + std::to_string(R) + ", 2*num_classes, " +
                 std::to_string(part) + ", " + std::to_string(part) + "], got " +
                 shape_str(trans->shape));
        num_classes = trans->shape[1] / 2;
        if (D % num_classes != 0)
            fail("trans: output_dim " + std::to_string(D) + " is not a multiple of num_classes " +
                 std::to_string(num_classes));
        channels_each_class = D / num_classes;
    }

    const size_t out_n = static_cast<size_t>(R * D * P * P);
    PsroiPoolResult res;
    res.output.assign(out_n, 0.0);
    res.count.assign(out_n, 0.0);

    for (int64_t r = 0; r < R; ++r) {
        const T *roi = rois.data.data() + r * 5;
        const int64_t n = checks::roi_batch(kOp, roi, r, N);

        // round() of the float coordinate, half away from zero (std::round).
        const double scale = p.spatial_scale;
        const double start_w = std::round(static_cast<double>(roi[1])) * scale - 0.5;
        const double start_h = std::round(static_cast<double>(roi[2])) * scale - 0.5;
        const double end_w = (std::round(static_cast<double>(roi[3])) + 1.0) * scale - 0.5;
        const double end_h = (std::round(static_cast<double>(roi[4])) + 1.0) * scale - 0.5;
        const double roi_w = std::max(end_w - start_w, 0.1);  // too small RoIs count as 0.1
        const double roi_h = std::max(end_h - start_h, 0.1);
        const double bin_w = roi_w / static_cast<double>(P);
        const double bin_h = roi_h / static_cast<double>(P);
        const double sub_w = bin_w / static_cast<double>(S);
        const double sub_h = bin_h / static_cast<double>(S);

        for (int64_t ctop = 0; ctop < D; ++ctop) {
            const int64_t cls = ctop / channels_each_class;
            for (int64_t ph = 0; ph < P; ++ph) {
                for (int64_t pw = 0; pw < P; ++pw) {
                    double trans_x = 0.0, trans_y = 0.0;
                    if (trans) {
                        const int part_h = psroi_part_index(static_cast<int>(ph), static_cast<int>(P),
                                                            static_cast<int>(part));
                        const int part_w = psroi_part_index(static_cast<int>(pw), static_cast<int>(P),
                                                            static_cast<int>(part));
                        if (part_h < 0 || part_h >= part || part_w < 0 || part_w >= part)
                            fail("internal: part index out of range");
                        const int64_t ch = r * 2 * num_classes + 2 * cls;  // x first, then y
                        trans_x = static_cast<double>(
                                      trans->data[static_cast<size_t>((ch * part + part_h) * part + part_w)]) *
                                  p.trans_std;
                        trans_y = static_cast<double>(
                                      trans->data[static_cast<size_t>(((ch + 1) * part + part_h) * part +
                                                                      part_w)]) *
                                  p.trans_std;
                    }
                    const double wstart = static_cast<double>(pw) * bin_w + start_w + trans_x * roi_w;
                    const double hstart = static_cast<double>(ph) * bin_h + start_h + trans_y * roi_h;
                    const int64_t gw = std::min(std::max<int64_t>(pw * G / P, 0), G - 1);
                    const int64_t gh = std::min(std::max<int64_t>(ph * G / P, 0), G - 1);
                    const int64_t c = (ctop * G + gh) * G + gw;
                    const T *plane = input.data.data() + ((n * C + c) * H) * W;

                    double sum = 0.0;
                    int64_t count = 0;
                    for (int64_t ih = 0; ih < S; ++ih) {
                        for (int64_t iw = 0; iw < S; ++iw) {
                            double w = wstart + static_cast<double>(iw) * sub_w;
                            double h = hstart + static_cast<double>(ih) * sub_h;
                            if (!std::isfinite(w) || !std::isfinite(h)) continue;  // outside by definition
                            if (w < -0.5 || w > static_cast<double>(W) - 0.5 || h < -0.5 ||
                                h > static_cast<double>(H) - 0.5)
                                continue;
                            w = std::min(std::max(w, 0.0), static_cast<double>(W - 1));
                            h = std::min(std::max(h, 0.0), static_cast<double>(H - 1));
                            sum += bilinear_msra(plane, W, w, h);
                            ++count;
                        }
                    }
                    const size_t o = static_cast<size_t>(((r * D + ctop) * P + ph) * P + pw);
                    res.output[o] = count == 0 ? 0.0 : sum / static_cast<double>(count);
                    res.count[o] = static_cast<double>(count);
                }
            }
        }
    }
    return res;
}

}  // namespace

PsroiPoolResult deform_psroi_pool(const Tensor &input, const Tensor &rois, const Tensor *trans,
                                  const PsroiPoolParams &p) {
    return forward(input, rois, trans, p);
}

PsroiPoolResult deform_psroi_pool(const TensorD &input, const TensorD &rois, const TensorD *trans,
                                  const PsroiPoolParams &p) {
    return forward(input, rois, trans, p);
}

}  // namespace dcn_ref
