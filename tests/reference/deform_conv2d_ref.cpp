// Independent double-precision reference for deform_conv2d; see the header.
// Written from docs/operators.md (deform_conv2d) only.
#include "reference/deform_conv2d_ref.h"

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "reference/checks.h"

namespace dcn_ref {
namespace {

constexpr const char *kOp = "deform_conv2d";
using checks::numel;
using checks::shape_str;
[[noreturn]] void fail(const std::string &what) { checks::fail(kOp, what); }
template <typename T>
void check_tensor(const BasicTensor<T> &t, const std::vector<int64_t> &expected, const char *name) {
    checks::check_tensor(kOp, t, expected, name);
}

// floor((a) / b) + 1 for b > 0, or <= 0 when the kernel does not fit.
int64_t out_extent(int64_t in, int pad_begin, int pad_end, int64_t k, int dil, int stride) {
    const int64_t span = in + pad_begin + pad_end - (static_cast<int64_t>(dil) * (k - 1) + 1);
    if (span < 0) return 0;
    return span / stride + 1;
}

}  // namespace

std::vector<int64_t> deform_conv2d_output_shape(const std::vector<int64_t> &input_shape,
                                                const std::vector<int64_t> &weight_shape,
                                                const DeformConv2dParams &p) {
    if (input_shape.size() != 4) fail("input: expected rank 4, got " + shape_str(input_shape));
    if (weight_shape.size() != 4) fail("weight: expected rank 4, got " + shape_str(weight_shape));
    if (p.stride_h <= 0 || p.stride_w <= 0) fail("stride must be >= 1");
    if (p.dilation_h <= 0 || p.dilation_w <= 0) fail("dilation must be >= 1");
    if (p.pad_top < 0 || p.pad_left < 0 || p.pad_bottom < 0 || p.pad_right < 0)
        fail("padding must be >= 0");
    const int64_t oH = out_extent(input_shape[2], p.pad_top, p.pad_bottom, weight_shape[2],
                                  p.dilation_h, p.stride_h);
    const int64_t oW = out_extent(input_shape[3], p.pad_left, p.pad_right, weight_shape[3],
                                  p.dilation_w, p.stride_w);
    if (oH <= 0 || oW <= 0)
        fail("empty output for input " + shape_str(input_shape) + " and weight " +
             shape_str(weight_shape));
    return {input_shape[0], weight_shape[0], oH, oW};
}

namespace {

template <typename T>
double bilinear(const T *plane, int64_t H, int64_t W, double y, double x) {
    // NaN compares false with everything, so test finiteness explicitly; the
    // range test below also keeps floor() within int64_t range.
    if (!std::isfinite(y) || !std::isfinite(x)) return 0.0;
    if (y <= -1.0 || y >= static_cast<double>(H) || x <= -1.0 || x >= static_cast<double>(W))
        return 0.0;
    const double y0f = std::floor(y), x0f = std::floor(x);
    const int64_t y0 = static_cast<int64_t>(y0f), x0 = static_cast<int64_t>(x0f);
    const int64_t y1 = y0 + 1, x1 = x0 + 1;
    const double ly = y - y0f, lx = x - x0f;  // weights of the high corners
    const double hy = 1.0 - ly, hx = 1.0 - lx;  // weights of the low corners
    auto at = [&](int64_t yy, int64_t xx) -> double {
        if (yy < 0 || yy > H - 1 || xx < 0 || xx > W - 1) return 0.0;
        return static_cast<double>(plane[yy * W + xx]);
    };
    return hy * hx * at(y0, x0) + hy * lx * at(y0, x1) + ly * hx * at(y1, x0) +
           ly * lx * at(y1, x1);
}

}  // namespace

double bilinear_zero_exterior(const float *plane, int64_t H, int64_t W, double y, double x) {
    return bilinear(plane, H, W, y, x);
}
double bilinear_zero_exterior(const double *plane, int64_t H, int64_t W, double y, double x) {
    return bilinear(plane, H, W, y, x);
}

namespace {

template <typename T>
std::vector<double> forward(const BasicTensor<T> &input, const BasicTensor<T> &offset, const BasicTensor<T> &weight,
                            const BasicTensor<T> *mask, const BasicTensor<T> *bias, const DeformConv2dParams &p) {
    const std::vector<int64_t> out_shape =
        deform_conv2d_output_shape(input.shape, weight.shape, p);
    const int64_t N = input.shape[0], C = input.shape[1], H = input.shape[2], W = input.shape[3];
    const int64_t K = weight.shape[0], Cg = weight.shape[1], kH = weight.shape[2],
                  kW = weight.shape[3];
    const int64_t oH = out_shape[2], oW = out_shape[3];
    const int64_t groups = p.groups, G = p.offset_groups;
    const int64_t taps = kH * kW;

    if (groups < 1 || C % groups != 0 || K % groups != 0 || C / groups != Cg)
        fail("groups=" + std::to_string(groups) + " inconsistent with input " +
             shape_str(input.shape) + " and weight " + shape_str(weight.shape));
    if (G < 1 || C % G != 0)
        fail("offset_groups=" + std::to_string(G) + " does not divide C=" + std::to_string(C));
    check_tensor(input, input.shape, "input");
    check_tensor(weight, weight.shape, "weight");
    check_tensor(offset, {N, 2 * G * taps, oH, oW}, "offset");
    if (mask) check_tensor(*mask, {N, G * taps, oH, oW}, "mask");
    if (bias) check_tensor(*bias, {K}, "bias");

    const int64_t c_per_og = C / G;
    const int64_t k_per_group = K / groups;
    const int64_t plane_out = oH * oW;

    // Step 1: the deformed, modulated samples ("columns"):
    //   col[c, k, oy, ox] = mask[n, g*taps + k, oy, ox] * bilinear(X[n, c], y, x)
    // with g = c / (C/G), tap k = i*kW + j and
    //   y = oy*sH - padTop + i*dH + dy,  dy = offset[n, g*2*taps + 2k, oy, ox]
    //   x = ox*sW - padLeft + j*dW + dx, dx = offset[n, g*2*taps + 2k + 1, oy, ox]
    // Step 2: out[n, o, oy, ox] = bias[o] + sum_{c' < C/groups, k}
    //   W[o, c', i, j] * col[(o / (K/groups)) * (C/groups) + c', k, oy, ox].
    std::vector<double> out(static_cast<size_t>(numel(out_shape)), 0.0);
    std::vector<double> col(static_cast<size_t>(C * taps * plane_out));
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t c = 0; c < C; ++c) {
            const int64_t g = c / c_per_og;
            const T *plane = input.data.data() + ((n * C + c) * H) * W;
            for (int64_t i = 0; i < kH; ++i) {
                for (int64_t j = 0; j < kW; ++j) {
                    const int64_t k = i * kW + j;
                    const T *dy_plane =
                        offset.data.data() + (n * 2 * G * taps + g * 2 * taps + 2 * k) * plane_out;
                    const T *dx_plane = dy_plane + plane_out;
                    const T *m_plane =
                        mask ? mask->data.data() + (n * G * taps + g * taps + k) * plane_out
                             : nullptr;
                    double *col_plane = col.data() + (c * taps + k) * plane_out;
                    for (int64_t oy = 0; oy < oH; ++oy) {
                        for (int64_t ox = 0; ox < oW; ++ox) {
                            const int64_t q = oy * oW + ox;
                            const double y = static_cast<double>(oy * p.stride_h - p.pad_top +
                                                                 i * p.dilation_h) +
                                             static_cast<double>(dy_plane[q]);
                            const double x = static_cast<double>(ox * p.stride_w - p.pad_left +
                                                                 j * p.dilation_w) +
                                             static_cast<double>(dx_plane[q]);
                            double v = bilinear_zero_exterior(plane, H, W, y, x);
                            if (m_plane) v *= static_cast<double>(m_plane[q]);
                            col_plane[q] = v;
                        }
                    }
                }
            }
        }
        for (int64_t o = 0; o < K; ++o) {
            const int64_t grp = o / k_per_group;
            double *out_plane = out.data() + (n * K + o) * plane_out;
            const double b = bias ? static_cast<double>(bias->data[static_cast<size_t>(o)]) : 0.0;
            for (int64_t q = 0; q < plane_out; ++q) out_plane[q] = b;
            for (int64_t cc = 0; cc < Cg; ++cc) {
                const int64_t c = grp * Cg + cc;
                for (int64_t k = 0; k < taps; ++k) {
                    const double w =
                        static_cast<double>(weight.data[static_cast<size_t>((o * Cg + cc) * taps + k)]);
                    const double *col_plane = col.data() + (c * taps + k) * plane_out;
                    for (int64_t q = 0; q < plane_out; ++q) out_plane[q] += w * col_plane[q];
                }
            }
        }
    }
    return out;
}

}  // namespace

std::vector<double> deform_conv2d(const Tensor &input, const Tensor &offset, const Tensor &weight,
                                  const Tensor *mask, const Tensor *bias, const DeformConv2dParams &p) {
    return forward(input, offset, weight, mask, bias, p);
}

std::vector<double> deform_conv2d(const TensorD &input, const TensorD &offset, const TensorD &weight,
                                  const TensorD *mask, const TensorD *bias, const DeformConv2dParams &p) {
    return forward(input, offset, weight, mask, bias, p);
}

std::vector<double> deform_conv2d_term_sums(const Tensor &input, const Tensor &offset, const Tensor &weight,
                                            const Tensor *mask, const DeformConv2dParams &p) {
    Tensor ax = input, aw = weight, am = mask ? *mask : Tensor{};
    for (Tensor *t : {&ax, &aw, &am})
        for (float &v : t->data) v = std::fabs(v);
    return forward(ax, offset, aw, mask ? &am : nullptr, static_cast<const Tensor *>(nullptr), p);
}

}  // namespace dcn_ref
