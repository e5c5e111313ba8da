// A sample outside the image contributes exactly 0 whatever the image holds
// (docs/guarantees.md, "Non-finite values"): every pixel of the input is NaN
// or Inf, every sample of the call falls outside the image, and every
// operator, direction, dtype, CPU path and usable GPU device must give
// exactly the empty-image answer (the bias; 0; zero gradients, grad_bias
// the sum of grad_output), never 0 * Inf = NaN from a clamped edge read.
// Then a mixed case against the double reference: non-finite pixels only
// where no sample inside the image reaches them.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cpu_paths.h"
#include "reference/deform_conv2d_ref.h"
#include "test_support.h"

namespace {

using dcn_test::DcnTest;

// Where a call runs: a CPU path, or a GPU device.
struct Target {
    std::string label;
    std::optional<dcn::CpuIsa> isa;
    dcn::Device device = dcn::Device::cpu;
};

std::vector<Target> targets() {
    std::vector<Target> t;
    for (dcn::CpuIsa isa : dcn_test::usable_isas()) t.push_back({dcn::cpu_isa_name(isa), isa, dcn::Device::cpu});
    for (dcn::Device d : {dcn::Device::opencl, dcn::Device::cuda}) {
        std::string why;
        if (dcn::device_usable(d, &why)) t.push_back({dcn::device_name(d), std::nullopt, d});
    }
    return t;
}

// Runs f on target t; false (and a note) where the build has no kernel of
// this dtype for the device (float64 CUDA).
template <typename F>
bool run_on(const Target &t, F &&f) {
    dcn::set_max_cpu_isa(t.isa);
    try {
        f(t.device);
    } catch (const dcn::Error &e) {
        if (t.device != dcn::Device::cpu && e.argument() == "kernel") return false;
        throw;
    }
    return true;
}

// NaN, +Inf, -Inf in turn over the whole image.
template <typename T>
std::vector<T> poisoned(size_t n) {
    const T values[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                        -std::numeric_limits<T>::infinity()};
    std::vector<T> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = values[i % 3];
    return v;
}

template <typename T>
void expect_all(const std::vector<T> &v, T expected, const char *what) {
    size_t bad = 0;
    for (const T x : v) bad += !(x == expected);
    EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << v.size() << " elements are not " << expected;
}

// Offsets that put every sample of a 3x3 kernel (padding 1) outside a
// 5 x 6 image, each in a different way: far right / left / below / above,
// just past the far edges (x = W, y = H), exactly on -1, diagonal.
// on_line (if given) marks the offset pairs of samples exactly on the line
// y = -1 or x = -1: there the offset's derivative is torchvision's
// one-sided one from above (docs/operators.md), which reads the pixel
// inside, so it is not 0 when that pixel is not finite.
template <typename T>
std::vector<T> outside_offsets(int64_t N, int64_t G, int64_t oH, int64_t oW, int64_t H, int64_t W,
                               std::vector<bool> *on_line = nullptr) {
    const int64_t taps = 9;
    std::vector<T> off(size_t(N * 2 * G * taps * oH * oW));
    if (on_line) on_line->assign(off.size(), false);
    size_t i = 0;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < G; ++g)
            for (int64_t k = 0; k < taps; ++k)
                for (int c = 0; c < 2; ++c)  // 0: dy, 1: dx
                    for (int64_t y = 0; y < oH; ++y)
                        for (int64_t x = 0; x < oW; ++x, ++i) {
                            // This tap's sample without offset.
                            const T base = c == 0 ? T(y - 1 + k / 3) : T(x - 1 + k % 3);
                            const T extent = c == 0 ? T(H) : T(W);
                            const int64_t way = (x + y + k + g + n) % 6;
                            T target;
                            switch (way) {
                                case 0: target = extent + T(40.25); break;   // far past the end
                                case 1: target = T(-30.5); break;            // far before the start
                                case 2: target = extent; break;              // exactly the far edge
                                case 3: target = T(-1); break;               // exactly -1
                                case 4: target = extent + T(0.5); break;     // just past
                                default: target = T(-1.75); break;           // just before
                            }
                            // Only one coordinate need be outside; make the
                            // other one so on alternate taps too.
                            if (c == 0 && k % 2 == 1) target = T(2);  // y inside, x outside (below)
                            off[i] = target - base;
                            if (on_line && way == 3) {
                                const size_t pair_base = i - size_t(c * oH * oW);
                                (*on_line)[pair_base] = (*on_line)[pair_base + size_t(oH * oW)] = true;
                            }
                        }
    return off;
}

template <typename T>
void conv_every_sample_outside() {
    const int64_t N = 2, C = 4, H = 5, W = 6, K = 3, G = 2, oH = 5, oW = 6;
    const std::vector<T> x = poisoned<T>(size_t(N * C * H * W));
    std::vector<bool> on_line;
    std::vector<T> off = outside_offsets<T>(N, G, oH, oW, H, W, &on_line);
    // dy and dx are set independently above; for odd taps dy is inside, so
    // their dx must be outside: it is (way chosen from the same counters).
    std::vector<T> w(size_t(K * C * 9)), bias = {T(0.5), T(-1.25), T(3)};
    for (size_t i = 0; i < w.size(); ++i) w[i] = T(0.25) * T(int(i % 7) - 3);
    std::vector<T> mask(size_t(N * G * 9 * oH * oW), T(0.75));
    std::vector<T> gy(size_t(N * K * oH * oW));
    for (size_t i = 0; i < gy.size(); ++i) gy[i] = T(0.5) * T(int(i % 5) - 2);
    std::vector<T> gb_expected(K, T(0));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < K; ++o)
            for (int64_t p = 0; p < oH * oW; ++p) gb_expected[size_t(o)] += gy[size_t((n * K + o) * oH * oW + p)];

    dcn::DeformConv2dOptions opt;
    opt.padding = dcn::Padding(1);
    int ran = 0;
    for (const Target &t : targets()) {
        for (bool with_mask : {false, true}) {
            SCOPED_TRACE(t.label + (with_mask ? ", mask" : ", no mask"));
            opt.device = t.device;
            const dcn::TensorView X(x.data(), {N, C, H, W}), O(off.data(), {N, 2 * G * 9, oH, oW}),
                Wt(w.data(), {K, C, 3, 3}), B(bias.data(), {K}), M(mask.data(), {N, G * 9, oH, oW});
            const std::optional<dcn::TensorView> m = with_mask ? std::optional(M) : std::nullopt;
            std::vector<T> y(size_t(N * K * oH * oW), std::numeric_limits<T>::quiet_NaN());
            const bool has = run_on(t, [&](dcn::Device) {
                dcn::deform_conv2d(X, O, Wt, m, B, dcn::TensorView(y.data(), {N, K, oH, oW}), opt);
            });
            if (!has) continue;
            ++ran;
            for (int64_t n = 0; n < N; ++n)
                for (int64_t o = 0; o < K; ++o)
                    for (int64_t p = 0; p < oH * oW; ++p)
                        ASSERT_EQ(y[size_t((n * K + o) * oH * oW + p)], bias[size_t(o)])
                            << "output " << dcn_test::index_str({N, K, oH, oW}, (n * K + o) * oH * oW + p);

            // Backward: every gradient asked for.
            std::vector<T> gi(x.size(), T(7)), goff(off.size(), T(7)), gw(w.size(), T(7)), gbias(K, T(7)),
                gm(mask.size(), T(7));
            dcn::DeformConv2dGradients g;
            g.input = dcn::TensorView(gi.data(), {N, C, H, W});
            g.offset = dcn::TensorView(goff.data(), {N, 2 * G * 9, oH, oW});
            g.weight = dcn::TensorView(gw.data(), {K, C, 3, 3});
            g.bias = dcn::TensorView(gbias.data(), {K});
            if (with_mask) g.mask = dcn::TensorView(gm.data(), {N, G * 9, oH, oW});
            run_on(t, [&](dcn::Device) {
                dcn::deform_conv2d_backward(dcn::TensorView(gy.data(), {N, K, oH, oW}), X, O, Wt, m, g, opt);
            });
            expect_all(gi, T(0), "grad_input");
            size_t bad_offset = 0, checked = 0;
            for (size_t i = 0; i < goff.size(); ++i)
                if (!on_line[i]) {
                    ++checked;
                    bad_offset += !(goff[i] == T(0));
                }
            EXPECT_GT(checked, goff.size() / 2);
            EXPECT_EQ(bad_offset, 0u) << "grad_offset off the lines y = -1 / x = -1";
            expect_all(gw, T(0), "grad_weight");
            if (with_mask) expect_all(gm, T(0), "grad_mask");
            for (int64_t o = 0; o < K; ++o)
                EXPECT_NEAR(double(gbias[size_t(o)]), double(gb_expected[size_t(o)]), 1e-5) << "grad_bias " << o;
        }
    }
    EXPECT_GT(ran, 0);
}

TEST_F(DcnTest, ConvSamplesOutsideIgnoreNonFinitePixelsFloat32) { conv_every_sample_outside<float>(); }
TEST_F(DcnTest, ConvSamplesOutsideIgnoreNonFinitePixelsFloat64) { conv_every_sample_outside<double>(); }

// Mixed: the outer ring of the image is NaN / Inf; samples either inside
// the inner region (their four corners finite) or outside the image. The
// output must match the double reference, which reads no pixel outside.
TEST_F(DcnTest, ConvNonFiniteRingMatchesReference) {
    const int64_t N = 1, C = 3, H = 7, W = 8, K = 2, oH = 7, oW = 8;
    dcn_ref::Tensor x{{N, C, H, W}, std::vector<float>(size_t(N * C * H * W))};
    for (int64_t c = 0; c < C; ++c)
        for (int64_t yy = 0; yy < H; ++yy)
            for (int64_t xx = 0; xx < W; ++xx) {
                const bool ring = yy == 0 || xx == 0 || yy == H - 1 || xx == W - 1;
                const size_t i = size_t((c * H + yy) * W + xx);
                x.data[i] = ring ? (i % 2 ? std::numeric_limits<float>::infinity() : std::nanf(""))
                                 : float(int(i % 9) - 4) * 0.25f;
            }
    // Each tap: inside the inner region [1.25, H-2.75] (corners in 1..H-2), or far outside.
    dcn_ref::Tensor off{{N, 18, oH, oW}, std::vector<float>(size_t(18 * oH * oW))};
    for (int64_t k = 0; k < 9; ++k)
        for (int64_t yy = 0; yy < oH; ++yy)
            for (int64_t xx = 0; xx < oW; ++xx) {
                const bool out = (k + yy + xx) % 3 == 0;
                const float ty = out ? float(H + 3) : 1.25f + float((yy + k) % 4) * 0.5f;
                const float tx = out ? -9.5f : 1.25f + float((xx + 2 * k) % 5) * 0.5f;
                off.data[size_t(((2 * k) * oH + yy) * oW + xx)] = ty - float(yy - 1 + k / 3);
                off.data[size_t(((2 * k + 1) * oH + yy) * oW + xx)] = tx - float(xx - 1 + k % 3);
            }
    dcn_ref::Tensor w{{K, C, 3, 3}, std::vector<float>(size_t(K * C * 9))};
    for (size_t i = 0; i < w.data.size(); ++i) w.data[i] = float(int(i % 5) - 2) * 0.5f;
    dcn_ref::DeformConv2dParams p;
    p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
    const std::vector<double> ref = dcn_ref::deform_conv2d(x, off, w, nullptr, nullptr, p);
    dcn::DeformConv2dOptions opt;
    opt.padding = dcn::Padding(1);
    for (const Target &t : targets()) {
        SCOPED_TRACE(t.label);
        opt.device = t.device;
        std::vector<float> y(size_t(N * K * oH * oW), std::nanf(""));
        run_on(t, [&](dcn::Device) {
            dcn::deform_conv2d(dcn::TensorView(x.data.data(), x.shape), dcn::TensorView(off.data.data(), off.shape),
                               dcn::TensorView(w.data.data(), w.shape), std::nullopt, std::nullopt,
                               dcn::TensorView(y.data(), {N, K, oH, oW}), opt);
        });
        for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_TRUE(std::isfinite(ref[i])) << i;
            EXPECT_NEAR(double(y[i]), ref[i], 1e-5) << dcn_test::index_str({N, K, oH, oW}, int64_t(i));
        }
    }
}

// RoIs wholly outside the image (right, left, below, above, far away):
// every sample is outside, the pooled value is exactly 0, the gradients 0.
template <typename T>
void roi_pools_every_sample_outside() {
    const int64_t N = 2, H = 6, W = 7, P = 3;
    const std::vector<T> rois = {0, T(W + 2), 1, T(W + 6), 4,     1, -9, 0, T(-3), 5,
                                 0, 1, T(H + 1.5), 5, T(H + 8), 1, 2, -12, 4, T(-2.5),
                                 1, T(1e6), T(1e6), T(2e6), T(2e6)};
    const int64_t R = 5;
    int ran = 0;
    for (const Target &t : targets()) {
        SCOPED_TRACE(t.label);
        // deform_roi_pool (mmcv), offset and mask.
        {
            const int64_t C = 5;
            const std::vector<T> x = poisoned<T>(size_t(N * C * H * W));
            std::vector<T> off(size_t(R * 2 * P * P)), mask(size_t(R * P * P), T(0.5));
            for (size_t i = 0; i < off.size(); ++i) off[i] = T(0.125) * T(int(i % 5) - 2);
            std::vector<T> y(size_t(R * C * P * P), std::numeric_limits<T>::quiet_NaN());
            dcn::DeformRoiPoolOptions o;
            o.output_size = {int(P), int(P)};
            o.sampling_ratio = 2;
            o.device = t.device;
            const dcn::TensorView X(x.data(), {N, C, H, W}), Rv(rois.data(), {R, 5}), O(off.data(), {R, 2, P, P}),
                M(mask.data(), {R, 1, P, P});
            if (run_on(t, [&](dcn::Device) {
                    dcn::deform_roi_pool(X, Rv, O, M, dcn::TensorView(y.data(), {R, C, P, P}), o);
                })) {
                ++ran;
                expect_all(y, T(0), "deform_roi_pool output");
                std::vector<T> gy(y.size(), T(1)), gi(x.size(), T(7)), goff(off.size(), T(7)), gm(mask.size(), T(7));
                dcn::DeformRoiPoolGradients g;
                g.input = dcn::TensorView(gi.data(), {N, C, H, W});
                g.offset = dcn::TensorView(goff.data(), {R, 2, P, P});
                g.mask = dcn::TensorView(gm.data(), {R, 1, P, P});
                run_on(t, [&](dcn::Device) {
                    dcn::deform_roi_pool_backward(dcn::TensorView(gy.data(), {R, C, P, P}), X, Rv, O, M, g, o);
                });
                expect_all(gi, T(0), "deform_roi_pool grad_input");
                expect_all(goff, T(0), "deform_roi_pool grad_offset");
                expect_all(gm, T(0), "deform_roi_pool grad_mask");
            }
        }
        // deform_psroi_pool (MSRA), group 2, trans.
        {
            const int64_t D = 2, Gs = 2, C = D * Gs * Gs;
            const std::vector<T> x = poisoned<T>(size_t(N * C * H * W));
            std::vector<T> trans(size_t(R * 2 * P * P));
            for (size_t i = 0; i < trans.size(); ++i) trans[i] = T(0.25) * T(int(i % 3) - 1);
            std::vector<T> y(size_t(R * D * P * P), std::numeric_limits<T>::quiet_NaN()), count(y.size(), T(-1));
            dcn::DeformPsroiPoolOptions o;
            o.output_dim = int(D);
            o.group_size = int(Gs);
            o.pooled_size = int(P);
            o.sample_per_part = 2;
            o.trans_std = 0.1f;
            o.device = t.device;
            const dcn::TensorView X(x.data(), {N, C, H, W}), Rv(rois.data(), {R, 5}),
                Tr(trans.data(), {R, 2, P, P});
            if (run_on(t, [&](dcn::Device) {
                    dcn::deform_psroi_pool(X, Rv, Tr, dcn::TensorView(y.data(), {R, D, P, P}),
                                           dcn::TensorView(count.data(), {R, D, P, P}), o);
                })) {
                expect_all(y, T(0), "deform_psroi_pool output");
                expect_all(count, T(0), "deform_psroi_pool count");
                std::vector<T> gy(y.size(), T(1)), gi(x.size(), T(7)), gt(trans.size(), T(7));
                dcn::DeformPsroiPoolGradients g;
                g.input = dcn::TensorView(gi.data(), {N, C, H, W});
                g.trans = dcn::TensorView(gt.data(), {R, 2, P, P});
                run_on(t, [&](dcn::Device) {
                    dcn::deform_psroi_pool_backward(dcn::TensorView(gy.data(), {R, D, P, P}), X, Rv, Tr, g, o);
                });
                expect_all(gi, T(0), "deform_psroi_pool grad_input");
                expect_all(gt, T(0), "deform_psroi_pool grad_trans");
            }
        }
    }
    EXPECT_GT(ran, 0);
}

TEST_F(DcnTest, RoiPoolSamplesOutsideIgnoreNonFinitePixelsFloat32) { roi_pools_every_sample_outside<float>(); }
TEST_F(DcnTest, RoiPoolSamplesOutsideIgnoreNonFinitePixelsFloat64) { roi_pools_every_sample_outside<double>(); }

}  // namespace
