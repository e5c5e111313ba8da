// Independent double-precision reference for deform_conv2d's gradients; see
// the header. Written from docs/operators.md (Gradients) only.
#include "reference/deform_conv2d_backward_ref.h"

#include <cmath>
#include <cstddef>
#include <string>

#include "reference/checks.h"

namespace dcn_ref {
namespace {

constexpr const char *kOp = "deform_conv2d_backward";

// The four corners of the cell of (y, x) chosen by floor() (torchvision's
// rule), each with its bilinear weight and whether it lies in the image. A
// corner outside contributes 0 to the value and receives no gradient.
struct Cell {
    int64_t y0 = 0, x0 = 0;
    double ly = 0, lx = 0;  // weights of the high corners
    bool finite = false;
};

Cell cell_of(double y, double x) {
    Cell c;
    c.finite = std::isfinite(y) && std::isfinite(x) && std::fabs(y) < 1e15 && std::fabs(x) < 1e15;
    if (!c.finite) return c;
    const double fy = std::floor(y), fx = std::floor(x);
    c.y0 = static_cast<int64_t>(fy);
    c.x0 = static_cast<int64_t>(fx);
    c.ly = y - fy;
    c.lx = x - fx;
    return c;
}

}  // namespace

TensorD to_double(const Tensor &t) { return TensorD{t.shape, std::vector<double>(t.data.begin(), t.data.end())}; }

DeformConv2dGradients deform_conv2d_backward(const TensorD &grad_output, const TensorD &input,
                                             const TensorD &offset, const TensorD &weight, const TensorD *mask,
                                             const DeformConv2dParams &p) {
    // The forward reference checks the shapes the same way; run its checks
    // through the output shape function and the tensor checks here.
    const std::vector<int64_t> out_shape = deform_conv2d_output_shape(input.shape, weight.shape, p);
    const int64_t N = input.shape[0], C = input.shape[1], H = input.shape[2], W = input.shape[3];
    const int64_t K = weight.shape[0], Cg = weight.shape[1], kH = weight.shape[2], kW = weight.shape[3];
    const int64_t oH = out_shape[2], oW = out_shape[3];
    const int64_t groups = p.groups, G = p.offset_groups, taps = kH * kW;
    if (groups < 1 || C % groups != 0 || K % groups != 0 || C / groups != Cg)
        checks::fail(kOp, "groups=" + std::to_string(groups) + " inconsistent with the shapes");
    if (G < 1 || C % G != 0) checks::fail(kOp, "offset_groups=" + std::to_string(G) + " does not divide C");
    checks::check_tensor(kOp, input, input.shape, "input");
    checks::check_tensor(kOp, weight, weight.shape, "weight");
    checks::check_tensor(kOp, offset, {N, 2 * G * taps, oH, oW}, "offset");
    checks::check_tensor(kOp, grad_output, out_shape, "grad_output");
    if (mask) checks::check_tensor(kOp, *mask, {N, G * taps, oH, oW}, "mask");

    const int64_t c_per_og = C / G, k_per_group = K / groups, plane = oH * oW;
    DeformConv2dGradients g;
    g.input.assign(static_cast<size_t>(N * C * H * W), 0.0);
    g.offset.assign(offset.data.size(), 0.0);
    if (mask) g.mask.assign(mask->data.size(), 0.0);
    g.weight.assign(weight.data.size(), 0.0);
    g.bias.assign(static_cast<size_t>(K), 0.0);

    // grad_bias[o] = sum over n, pixels of grad_output.
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < K; ++o)
            for (int64_t q = 0; q < plane; ++q) g.bias[o] += grad_output.data[(n * K + o) * plane + q];

    // Per (n, c, tap, pixel): the sample point (y, x) of the forward, its
    // value v (zero exterior), the mask m; then with
    //   gc = sum over o in c's group of W[o, c - grp*Cg, k] * grad_out[n, o, pixel]
    // (the gradient of the column m*v):
    //   grad_weight[o, c', k] += grad_out[n, o, pixel] * m * v
    //   grad_mask             += gc * v
    //   grad_offset (y, x)    += gc * m * (dv/dy, dv/dx)
    //   grad_input[corner]    += gc * m * (corner's bilinear weight)
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t c = 0; c < C; ++c) {
            const int64_t og = c / c_per_og, grp = c / Cg, cw = c - grp * Cg;
            const double *X = input.data.data() + (n * C + c) * H * W;
            double *gX = g.input.data() + (n * C + c) * H * W;
            auto at = [&](int64_t yy, int64_t xx) {
                return (yy >= 0 && yy < H && xx >= 0 && xx < W) ? X[yy * W + xx] : 0.0;
            };
            auto add = [&](int64_t yy, int64_t xx, double v) {
                if (yy >= 0 && yy < H && xx >= 0 && xx < W) gX[yy * W + xx] += v;
            };
            for (int64_t i = 0; i < kH; ++i) {
                for (int64_t j = 0; j < kW; ++j) {
                    const int64_t k = i * kW + j;
                    const int64_t dy_ch = n * 2 * G * taps + og * 2 * taps + 2 * k, dx_ch = dy_ch + 1;
                    const int64_t m_ch = n * G * taps + og * taps + k;
                    for (int64_t oy = 0; oy < oH; ++oy) {
                        for (int64_t ox = 0; ox < oW; ++ox) {
                            const int64_t q = oy * oW + ox;
                            const double y = double(oy * p.stride_h - p.pad_top + i * p.dilation_h) +
                                             offset.data[dy_ch * plane + q];
                            const double x = double(ox * p.stride_w - p.pad_left + j * p.dilation_w) +
                                             offset.data[dx_ch * plane + q];
                            const double m = mask ? mask->data[m_ch * plane + q] : 1.0;
                            const double v = bilinear_zero_exterior(X, H, W, y, x);
                            double gc = 0.0;
                            for (int64_t o = grp * k_per_group; o < (grp + 1) * k_per_group; ++o) {
                                const double go = grad_output.data[(n * K + o) * plane + q];
                                gc += weight.data[(o * Cg + cw) * taps + k] * go;
                                g.weight[(o * Cg + cw) * taps + k] += go * m * v;
                            }
                            const Cell cl = cell_of(y, x);
                            if (!cl.finite) continue;
                            const int64_t y0 = cl.y0, x0 = cl.x0, y1 = y0 + 1, x1 = x0 + 1;
                            const double ly = cl.ly, lx = cl.lx, hy = 1.0 - ly, hx = 1.0 - lx;
                            const double v00 = at(y0, x0), v01 = at(y0, x1), v10 = at(y1, x0), v11 = at(y1, x1);
                            if (mask) g.mask[m_ch * plane + q] += gc * v;
                            g.offset[dy_ch * plane + q] += gc * m * (hx * (v10 - v00) + lx * (v11 - v01));
                            g.offset[dx_ch * plane + q] += gc * m * (hy * (v01 - v00) + ly * (v11 - v10));
                            add(y0, x0, gc * m * hy * hx);
                            add(y0, x1, gc * m * hy * lx);
                            add(y1, x0, gc * m * ly * hx);
                            add(y1, x1, gc * m * ly * lx);
                        }
                    }
                }
            }
        }
    }
    return g;
}

}  // namespace dcn_ref
