// The deformable RoI pooling references themselves (tests/reference), on
// hand-computed cases: C's round half away from zero, MSRA's float part
// index, x-first trans / offset, RoIAlign's border rule, degenerate RoIs,
// non-finite offsets.
#include <gtest/gtest.h>

#include "roi_pool_cases.h"

namespace {

// value(n, c, y, x) = x + 10 y + 100 c + 1000 n: bilinear interpolation of a
// linear function is exact, so expected values are easy to compute by hand.
Tensor linear_input(int64_t N, int64_t C, int64_t H, int64_t W) {
    Tensor t{{N, C, H, W}, {}};
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t y = 0; y < H; ++y)
                for (int64_t x = 0; x < W; ++x) t.data.push_back(float(x + 10 * y + 100 * c + 1000 * n));
    return t;
}

dcn_ref::PsroiPoolParams ps_params(int D, int G, int P, int S, double trans_std = 0.0, int part = 0) {
    dcn_ref::PsroiPoolParams p;
    p.output_dim = D;
    p.group_size = G;
    p.pooled_size = P;
    p.sample_per_part = S;
    p.trans_std = trans_std;
    p.part_size = part;
    return p;
}








dcn_ref::RoiPoolParams roi_params(int ph, int pw, int sr, double gamma = 0.1, double scale = 1.0) {
    dcn_ref::RoiPoolParams p;
    p.pooled_h = ph;
    p.pooled_w = pw;
    p.sampling_ratio = sr;
    p.gamma = gamma;
    p.spatial_scale = scale;
    return p;
}






TEST(PsroiPoolReference, WholeRoiTwoByTwoSamples) {
    // start -0.5, end 3.5, roi 4, one bin, sub-bin 2: samples at -0.5 and 1.5
    // on both axes (-0.5 is not skipped), clamped to 0: mean x 0.75, y 0.75.
    const auto r = dcn_ref::deform_psroi_pool(linear_input(1, 1, 4, 4), Tensor{{1, 5}, {0, 0, 0, 3, 3}},
                                              nullptr, ps_params(1, 1, 1, 2));
    EXPECT_DOUBLE_EQ(r.output[0], 0.75 + 7.5);
    EXPECT_EQ(r.count[0], 4.0);
}

TEST(PsroiPoolReference, RoundHalfAwayFromZero) {
    const Tensor in = linear_input(1, 1, 1, 12);
    // x1 = 2.5 -> 3 (half to even would give 2): start 2.5, value 2.5.
    auto r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 2.5f, 0, 2.5f, 0}}, nullptr, ps_params(1, 1, 1, 1));
    EXPECT_EQ(r.output[0], 2.5);
    EXPECT_EQ(r.count[0], 1.0);
    // x1 = -0.5 -> -1 (half to even: 0, sample at -0.5, kept): start -1.5, skipped.
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, -0.5f, 0, 3, 0}}, nullptr, ps_params(1, 1, 1, 1));
    EXPECT_EQ(r.count[0], 0.0);
    EXPECT_EQ(r.output[0], 0.0);
    // x1 = 0.5 -> 1: start 0.5 (half to even would give -0.5 -> value 0).
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 0.5f, 0, 3, 0}}, nullptr, ps_params(1, 1, 1, 1));
    EXPECT_EQ(r.output[0], 0.5);
    // x1 = -2.5 -> -3, x2 = 5: start -3.5, roi 9, samples at -3.5 (skipped)
    // and 1.0 (half to even: -2 -> start -2.5, roi 8, sample 1.5).
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, -2.5f, 0, 5, 0}}, nullptr, ps_params(1, 1, 1, 2));
    EXPECT_EQ(r.output[0], 1.0);  // y samples -0.5 and 0 both clamp to row 0
    EXPECT_EQ(r.count[0], 2.0);
    // x2 = 3.5 -> 4 (even: 4 too) and x2 = 4.5 -> 5 (even: 4): end 5.5, roi 6.
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 0, 0, 4.5f, 0}}, nullptr, ps_params(1, 1, 1, 2));
    EXPECT_EQ(r.output[0], (0.0 + 2.5) / 2);
}

TEST(PsroiPoolReference, PartIndexIsComputedInFloat) {
    // floor(float(13) / 22 * 22) = floor(12.999999) = 12 in float32; 13 exactly.
    EXPECT_EQ(dcn_ref::psroi_part_index(13, 22, 22), 12);
    EXPECT_EQ(dcn_ref::psroi_part_index(7, 23, 23), 6);
    EXPECT_EQ(dcn_ref::psroi_part_index(6, 7, 7), 6);
    EXPECT_EQ(dcn_ref::psroi_part_index(3, 7, 3), 1);
    EXPECT_EQ(dcn_ref::psroi_part_index(0, 7, 3), 0);
    EXPECT_EQ(dcn_ref::psroi_part_index(2, 3, 5), 3);
}

TEST(PsroiPoolReference, TransIsXFirstAndScaledByRoi) {
    const Tensor in = linear_input(1, 1, 2, 8);
    const Tensor rois{{1, 5}, {0, 0, 0, 3, 0}};  // start -0.5, roi_w 4, roi_h 1
    Tensor tr{{1, 2, 1, 1}, {0.25f, 0.0f}};
    // w = -0.5 + 0.25 * 4 = 0.5, h = -0.5 -> clamped 0.
    auto r = dcn_ref::deform_psroi_pool(in, rois, &tr, ps_params(1, 1, 1, 1, 1.0));
    EXPECT_EQ(r.output[0], 0.5);
    // y: h = -0.5 + 0.5 * 1 * 2 = 0.5 with trans_std 2 (x: -0.5 + 0.5 * 4 * 2 = 3.5).
    tr.data = {0.5f, 0.5f};
    r = dcn_ref::deform_psroi_pool(in, rois, &tr, ps_params(1, 1, 1, 1, 2.0));
    EXPECT_EQ(r.output[0], 3.5 + 5.0);
}

TEST(PsroiPoolReference, ClassAwareTrans) {
    // output_dim 2, 2 classes (1 channel each): channel 1 uses trans channels 2, 3.
    const Tensor in = linear_input(1, 2, 1, 8);
    const Tensor tr{{1, 4, 1, 1}, {0.0f, 0.0f, 0.5f, 0.0f}};
    const auto r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 0, 0, 3, 0}}, &tr, ps_params(2, 1, 1, 1, 0.5));
    EXPECT_EQ(r.output[0], 0.0);
    EXPECT_EQ(r.output[1], 100 + 0.5);
}

TEST(PsroiPoolReference, PositionSensitiveChannels) {
    // group 2, pooled 2: bin (ph, pw) reads channel ph*2 + pw.
    const auto r = dcn_ref::deform_psroi_pool(linear_input(1, 4, 6, 6), Tensor{{1, 5}, {0, 0, 0, 5, 5}}, nullptr,
                                              ps_params(1, 2, 2, 2));
    // roi 6, bin 3, sub 1.5: samples {-0.5, 1} -> {0, 1} or {2.5, 4}.
    EXPECT_EQ(r.output[0], 0.5 + 5.0);
    EXPECT_EQ(r.output[1], 100 + 3.25 + 5.0);
    EXPECT_EQ(r.output[2], 200 + 0.5 + 32.5);
    EXPECT_EQ(r.output[3], 300 + 3.25 + 32.5);
}

TEST(PsroiPoolReference, BorderSamplesAndNonFiniteTrans) {
    const Tensor in = linear_input(1, 1, 3, 4);
    // x1 = x2 = 4 (= W): start 3.5 = W - 0.5 (kept, clamped to 3); roi_w 1 ->
    // with 2 samples the second is at 4.0 (skipped).
    auto r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 4, 0, 4, 0}}, nullptr, ps_params(1, 1, 1, 2));
    EXPECT_EQ(r.count[0], 2.0);  // 1 x-sample kept times 2 y-samples (-0.5, 0)
    EXPECT_EQ(r.output[0], 3.0);
    // Degenerate (x2 < x1): roi 0.1.
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 3, 1, 1, 1}}, nullptr, ps_params(1, 1, 1, 1));
    EXPECT_EQ(r.output[0], 2.5 + 5.0);
    // NaN / Inf trans: skipped (also Inf * trans_std 0 = NaN).
    for (float bad : {kNaN, kInf, -kInf}) {
        const Tensor tr{{1, 2, 1, 1}, {bad, 0.0f}};
        for (double std : {0.1, 0.0}) {
            r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 0, 0, 3, 2}}, &tr, ps_params(1, 1, 1, 2, std));
            EXPECT_EQ(r.count[0], 0.0) << bad << " " << std;
            EXPECT_EQ(r.output[0], 0.0);
        }
    }
}

TEST(RoiPoolReference, AdaptiveGridCentredSamples) {
    // start 0, end 2: adaptive grid 2, samples at 0.5 and 1.5.
    const auto o = dcn_ref::deform_roi_pool(linear_input(1, 1, 4, 4), Tensor{{1, 5}, {0, 0.5f, 0.5f, 2.5f, 2.5f}},
                                            nullptr, nullptr, roi_params(1, 1, 0));
    EXPECT_EQ(o[0], 1.0 + 10.0);
}

TEST(RoiPoolReference, BorderRule) {
    const Tensor in = linear_input(1, 1, 4, 4);
    // One sample per bin at y = 4.0 (= H: the last row, replicated) and 4.25 (0).
    auto o = dcn_ref::deform_roi_pool(in, Tensor{{2, 5}, {0, 1, 4, 2, 5, 0, 1, 4.25f, 2, 5.25f}}, nullptr, nullptr,
                                      roi_params(1, 1, 1));
    EXPECT_EQ(o[0], 1.0 + 30.0);
    EXPECT_EQ(o[1], 0.0);
    // y = -1.0 exactly (clamped to row 0) and -1.25 (0).
    o = dcn_ref::deform_roi_pool(in, Tensor{{2, 5}, {0, 1, -1, 2, 0, 0, 1, -1.25f, 2, -0.25f}}, nullptr, nullptr,
                                 roi_params(1, 1, 1));
    EXPECT_EQ(o[0], 1.0);
    EXPECT_EQ(o[1], 0.0);
    // x in (W-1, W]: the last column replicated.
    o = dcn_ref::deform_roi_pool(in, Tensor{{1, 5}, {0, 3.75f, 1, 4.25f, 2}}, nullptr, nullptr, roi_params(1, 1, 1));
    EXPECT_EQ(o[0], 3.0 + 10.0);
}

TEST(RoiPoolReference, OffsetXFirstAndMask) {
    const Tensor in = linear_input(1, 1, 4, 4);
    const Tensor rois{{1, 5}, {0, 0.5f, 0.5f, 2.5f, 2.5f}};  // start 0, roi 2
    const Tensor off{{1, 2, 1, 1}, {0.25f, 0.0f}};           // x += 1 * 2 * 0.25
    const Tensor mask{{1, 1, 1, 1}, {0.5f}};
    auto o = dcn_ref::deform_roi_pool(in, rois, &off, nullptr, roi_params(1, 1, 2, 1.0));
    EXPECT_EQ(o[0], 1.5 + 10.0);
    o = dcn_ref::deform_roi_pool(in, rois, &off, &mask, roi_params(1, 1, 2, 1.0));
    EXPECT_EQ(o[0], (1.5 + 10.0) * 0.5);
    // The adaptive grid is taken before the offset: a large offset keeps it.
    const Tensor off2{{1, 2, 1, 1}, {0.0f, -0.25f}};  // y -= 0.5: samples at 0 and 1 (0 clamps)
    o = dcn_ref::deform_roi_pool(in, rois, &off2, nullptr, roi_params(1, 1, 0, 1.0));
    EXPECT_EQ(o[0], 1.0 + 5.0);
}

TEST(RoiPoolReference, DegenerateRois) {
    const Tensor in = linear_input(1, 1, 4, 4);
    const Tensor rois{{2, 5}, {0, 2, 2, 1, 3, 0, 2, 2, 2, 2}};  // x2 < x1; zero size
    // Adaptive: no samples, 0.
    auto o = dcn_ref::deform_roi_pool(in, rois, nullptr, nullptr, roi_params(1, 1, 0));
    EXPECT_EQ(o[0], 0.0);
    EXPECT_EQ(o[1], 0.0);
    // sampling_ratio 1: x = 1.5 - 0.5 = 1.0, y = 1.5 + 0.5 = 2.0; zero size: (1.5, 1.5).
    o = dcn_ref::deform_roi_pool(in, rois, nullptr, nullptr, roi_params(1, 1, 1));
    EXPECT_EQ(o[0], 1.0 + 20.0);
    EXPECT_EQ(o[1], 1.5 + 15.0);
}

TEST(RoiPoolReference, NonFiniteOffsetContributesZero) {
    const Tensor in = linear_input(1, 1, 4, 4);
    for (float bad : {kNaN, kInf, -kInf, 1e30f}) {
        const Tensor off{{1, 2, 1, 1}, {0.0f, bad}};
        const auto o = dcn_ref::deform_roi_pool(in, Tensor{{1, 5}, {0, 0.5f, 0.5f, 2.5f, 2.5f}}, &off, nullptr,
                                                roi_params(1, 1, 2));
        EXPECT_EQ(o[0], 0.0) << bad;
    }
}

}  // namespace
