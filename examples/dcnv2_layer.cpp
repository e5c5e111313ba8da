// The main job: one DCNv2 layer of ResNet-50's c4 stage (Faster R-CNN
// feature map 50x84), 1x256x50x84 -> 256, 3x3, pad 1, random weights and a
// smooth offset field, timed, with its GFLOP/s, and checked against a
// double-precision evaluation of docs/operators.md (deform_conv2d) on a crop.
//
//   build/bin/dcnv2_layer [--shape N,C,H,W,K] [--repeat R]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "dcn/dcn.h"

namespace {

// Zero-exterior bilinear sample, in double.
double bilinear(const float *plane, int H, int W, double y, double x) {
    if (!(y > -1.0 && y < H && x > -1.0 && x < W)) return 0.0;
    const int y0 = static_cast<int>(std::floor(y)), x0 = static_cast<int>(std::floor(x));
    const double ly = y - y0, lx = x - x0;
    auto at = [&](int yy, int xx) { return (yy >= 0 && yy < H && xx >= 0 && xx < W) ? plane[yy * W + xx] : 0.0; };
    return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) +
           ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1);
}

}  // namespace

int main(int argc, char **argv) {
    int N = 1, C = 256, H = 50, W = 84, K = 256, repeat = 10;
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) {
            if (std::sscanf(argv[++i], "%d,%d,%d,%d,%d", &N, &C, &H, &W, &K) != 5) {
                std::fprintf(stderr, "dcnv2_layer: error: --shape wants N,C,H,W,K\n");
                return 2;
            }
        } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = std::max(1, std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: dcnv2_layer [--shape N,C,H,W,K] [--repeat R]\n");
            return 2;
        }
    }
    const int kH = 3, kW = 3, taps = kH * kW;
    dcn::DeformConv2dOptions opt;
    opt.set_padding(1, 1);
    const std::vector<int64_t> out_shape = dcn::deform_conv2d_output_shape({N, C, H, W}, {K, C, kH, kW}, opt);
    const int oH = static_cast<int>(out_shape[2]), oW = static_cast<int>(out_shape[3]);

    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> x(size_t(N) * C * H * W), w(size_t(K) * C * taps), bias(K);
    std::vector<float> off(size_t(N) * 2 * taps * oH * oW), mask(size_t(N) * taps * oH * oW);
    for (float &v : x) v = u(rng);
    const float wscale = 1.0f / std::sqrt(float(C * taps));
    for (float &v : w) v = u(rng) * wscale;
    for (float &v : bias) v = 0.1f * u(rng);
    // A smooth offset field of a few pixels, and a mask in (0, 1).
    for (int n = 0; n < N; n++)
        for (int k = 0; k < taps; k++)
            for (int y = 0; y < oH; y++)
                for (int xx = 0; xx < oW; xx++) {
                    const size_t p = size_t(y) * oW + xx;
                    off[((size_t(n) * 2 * taps + 2 * k) * oH) * oW + p] = 2.5f * std::sin(0.13f * xx + 0.7f * k + n);
                    off[((size_t(n) * 2 * taps + 2 * k + 1) * oH) * oW + p] = 2.5f * std::cos(0.11f * y - 0.3f * k);
                    mask[((size_t(n) * taps + k) * oH) * oW + p] =
                        1.0f / (1.0f + std::exp(-std::sin(0.05f * (xx + y) + k)));
                }
    std::vector<float> out(size_t(N) * K * oH * oW);

    const dcn::TensorView tx(x.data(), {N, C, H, W}), toff(off.data(), {N, 2 * taps, oH, oW});
    const dcn::TensorView tw(w.data(), {K, C, kH, kW}), tm(mask.data(), {N, taps, oH, oW});
    const dcn::TensorView tb(bias.data(), {K}), tout(out.data(), out_shape);

    std::vector<double> ms;
    try {
        dcn::deform_conv2d(tx, toff, tw, tm, tb, tout, opt);  // warm-up
        for (int r = 0; r < repeat; r++) {
            const auto t0 = std::chrono::steady_clock::now();
            dcn::deform_conv2d(tx, toff, tw, tm, tb, tout, opt);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
    } catch (const dcn::Error &e) {
        std::fprintf(stderr, "dcnv2_layer: error: %s\n", e.what());
        return 1;
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    const double flops = dcn::deform_conv2d_flops({N, C, H, W}, {K, C, kH, kW}, out_shape);

    // Check a crop of output pixels (all channels) in double precision.
    const int y0 = oH / 3, x0 = oW / 3, cy = std::min(6, oH - y0), cx = std::min(8, oW - x0);
    double max_err = 0.0, max_ref = 0.0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < K; o++)
            for (int oy = y0; oy < y0 + cy; oy++)
                for (int ox = x0; ox < x0 + cx; ox++) {
                    double acc = bias[o];
                    for (int c = 0; c < C; c++)
                        for (int k = 0; k < taps; k++) {
                            const size_t p = size_t(oy) * oW + ox;
                            const double dy = off[((size_t(n) * 2 * taps + 2 * k) * oH) * oW + p];
                            const double dx = off[((size_t(n) * 2 * taps + 2 * k + 1) * oH) * oW + p];
                            const double m = mask[((size_t(n) * taps + k) * oH) * oW + p];
                            const double sy = oy - 1 + k / kW + dy, sx = ox - 1 + k % kW + dx;
                            acc += w[(size_t(o) * C + c) * taps + k] * m *
                                   bilinear(&x[(size_t(n) * C + c) * H * W], H, W, sy, sx);
                        }
                    const double got = out[((size_t(n) * K + o) * oH + oy) * oW + ox];
                    max_err = std::max(max_err, std::abs(got - acc));
                    max_ref = std::max(max_ref, std::abs(acc));
                }
    const double rel = max_err / std::max(max_ref, 1e-30);
    const bool ok = rel <= 1e-5;

    std::printf("DCNv2 layer %dx%dx%dx%d -> %d, 3x3, pad 1 (%d threads, %s)\n", N, C, H, W, K, dcn::num_threads(),
                dcn::cpu_isa_name(dcn::last_cpu_isa()));
    std::printf("time: median %.3f ms over %d runs, %.1f GFLOP/s\n", median, repeat, flops / (median * 1e-3) / 1e9);
    std::printf("check: %dx%d crop x %d channels vs double reference: max abs err %.3g, rel %.3g -> %s\n", cy, cx,
                K * N, max_err, rel, ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
