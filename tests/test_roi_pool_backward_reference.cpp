// The RoI pooling gradient references (tests/reference/
// deform_roi_pool_backward_ref, deform_psroi_pool_backward_ref) checked by
// central finite differences of the forward references, in double: RoIs
// whose samples stay inside the image, away from the border band and the
// cell edges, where mmcv's and MSRA's rules are the true derivative; and, for
// deform_roi_pool, in the border band, where mmcv's is (deliberately) not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "reference/deform_psroi_pool_backward_ref.h"
#include "reference/deform_roi_pool_backward_ref.h"
#include "reference/deform_roi_pool_ref.h"
#include "test_support.h"

namespace {

using dcn_ref::RoiPoolParams;
using dcn_ref::TensorD;

struct Problem {
    TensorD input, rois, offset, mask, grad_output;
    RoiPoolParams p;
};

TensorD random_d(const std::vector<int64_t> &shape, std::mt19937 &rng, double lo, double hi) {
    TensorD t{shape, std::vector<double>(static_cast<size_t>(dcn_test::numel(shape)))};
    for (double &v : t.data) v = dcn_test::uniform(rng, float(lo), float(hi));
    return t;
}

// Samples inside [1, H-2] x [1, W-2]: RoIs in that box, offsets small.
Problem make(int64_t N, int64_t C, int64_t H, int64_t W, int64_t R, int ph, int pw, int sampling_ratio,
             uint32_t seed) {
    std::mt19937 rng(seed);
    Problem pr;
    pr.p.pooled_h = ph;
    pr.p.pooled_w = pw;
    pr.p.spatial_scale = 1.0;
    pr.p.sampling_ratio = sampling_ratio;
    pr.p.gamma = 0.1;
    pr.input = random_d({N, C, H, W}, rng, -1, 1);
    pr.rois = TensorD{{R, 5}, {}};
    for (int64_t r = 0; r < R; ++r) {
        const double x1 = dcn_test::uniform(rng, 1.6f, float(W) / 2), y1 = dcn_test::uniform(rng, 1.6f, float(H) / 2);
        const double x2 = dcn_test::uniform(rng, float(x1) + 1.0f, float(W) - 2.4f);
        const double y2 = dcn_test::uniform(rng, float(y1) + 1.0f, float(H) - 2.4f);
        pr.rois.data.insert(pr.rois.data.end(), {double(r % N), x1, y1, x2, y2});
    }
    pr.offset = random_d({R, 2, ph, pw}, rng, -0.3, 0.3);
    pr.mask = random_d({R, 1, ph, pw}, rng, 0, 1);
    pr.grad_output = random_d({R, C, ph, pw}, rng, -1, 1);
    return pr;
}

double loss(const Problem &pr, bool with_mask) {
    const std::vector<double> y =
        dcn_ref::deform_roi_pool(pr.input, pr.rois, &pr.offset, with_mask ? &pr.mask : nullptr, pr.p);
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * pr.grad_output.data[i];
    return l;
}

std::vector<double> central(Problem &pr, TensorD &t, bool with_mask) {
    const double h = 1e-6;
    std::vector<double> g(t.data.size());
    for (size_t i = 0; i < t.data.size(); ++i) {
        const double v = t.data[i];
        t.data[i] = v + h;
        const double up = loss(pr, with_mask);
        t.data[i] = v - h;
        const double down = loss(pr, with_mask);
        t.data[i] = v;
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

void expect_close(const std::vector<double> &ref, const std::vector<double> &fd, const char *what) {
    ASSERT_EQ(ref.size(), fd.size()) << what;
    double scale = 0;
    bool nonzero = false;
    for (double v : fd) scale = std::max(scale, std::fabs(v)), nonzero = nonzero || v != 0.0;
    EXPECT_TRUE(nonzero) << what << ": every difference is 0 (a vacuous check)";
    for (size_t i = 0; i < ref.size(); ++i)
        ASSERT_NEAR(ref[i], fd[i], 1e-6 * std::max(1.0, scale)) << what << "[" << i << "]";
}

TEST(RoiPoolBackwardReference, MatchesCentralDifferencesInside) {
    for (int sr : {0, 2}) {
        for (bool with_mask : {false, true}) {
            Problem pr = make(2, 3, 11, 13, 4, 3, 2, sr, 7u + unsigned(sr));
            const dcn_ref::RoiPoolGradients g = dcn_ref::deform_roi_pool_backward(
                pr.grad_output, pr.input, pr.rois, &pr.offset, with_mask ? &pr.mask : nullptr, pr.p);
            expect_close(g.input, central(pr, pr.input, with_mask), "grad_input");
            expect_close(g.offset, central(pr, pr.offset, with_mask), "grad_offset");
            if (with_mask) expect_close(g.mask, central(pr, pr.mask, with_mask), "grad_mask");
        }
    }
}

// In the border band (-1 < y < 0) the sample is clamped to row 0, so the
// loss does not depend on y there; mmcv's offset gradient (and so the
// reference's) still uses the unclamped y and is not 0: the documented
// deviation from the true derivative.
TEST(RoiPoolBackwardReference, BorderBandFollowsMmcvNotTheTrueDerivative) {
    Problem pr = make(1, 1, 6, 7, 1, 1, 1, 1, 3u);
    // One sample at (y, x) = (-0.5, 2.3): box [1.8, -1.0] .. [2.8, 0.0] after
    // the -0.5 shift; no offset.
    pr.rois.data = {0.0, 2.3, -0.5, 3.3, 0.5};
    std::fill(pr.offset.data.begin(), pr.offset.data.end(), 0.0);
    const dcn_ref::RoiPoolGradients g =
        dcn_ref::deform_roi_pool_backward(pr.grad_output, pr.input, pr.rois, &pr.offset, nullptr, pr.p);
    const std::vector<double> fd = central(pr, pr.offset, false);
    EXPECT_NEAR(fd[1], 0.0, 1e-9);            // y: the clamped sample does not move
    EXPECT_GT(std::fabs(g.offset[1]), 1e-3);  // mmcv's rule: the unclamped derivative
    // x: the true derivative sees row 0 only (the clamped y); mmcv's weighs
    // rows 0 and 1 by the unclamped y (1.5 and -0.5), so it differs.
    const double *X = pr.input.data.data();
    const double share = pr.grad_output.data[0], W = 7;
    const double v00 = X[2], v01 = X[3], v10 = X[int(W) + 2], v11 = X[int(W) + 3];
    EXPECT_NEAR(fd[0], 0.1 * 1.0 * share * (v01 - v00), 1e-6);
    const double y = -0.5;
    EXPECT_NEAR(g.offset[0], 0.1 * 1.0 * share * (v11 * y + v01 * (1 - y) + v10 * (0 - y) + v00 * (y - 1)), 1e-12);
    EXPECT_GT(std::fabs(g.offset[0] - fd[0]), 1e-4);
}

// deform_psroi_pool (MSRA): class-aware trans, part_size < pooled_size,
// samples inside [1.5, W-2.5] x [1.5, H-2.5], so no sample enters or leaves
// a bin's count under the perturbation.
TEST(PsroiPoolBackwardReference, MatchesCentralDifferencesInside) {
    std::mt19937 rng(21);
    dcn_ref::PsroiPoolParams p;
    p.output_dim = 2;
    p.group_size = 2;
    p.pooled_size = 3;
    p.part_size = 2;
    p.sample_per_part = 2;
    p.trans_std = 0.1;
    const int64_t H = 11, W = 12, R = 3, C = 8;
    TensorD input = random_d({1, C, H, W}, rng, -1, 1);
    TensorD rois{{R, 5}, {}};
    for (int64_t r = 0; r < R; ++r) {
        const double x1 = double(dcn_test::uniform_int(rng, 2, 4)), y1 = double(dcn_test::uniform_int(rng, 2, 4));
        const double x2 = double(dcn_test::uniform_int(rng, int64_t(x1) + 2, W - 4));
        const double y2 = double(dcn_test::uniform_int(rng, int64_t(y1) + 2, H - 4));
        rois.data.insert(rois.data.end(), {0.0, x1, y1, x2, y2});
    }
    TensorD trans = random_d({R, 4, 2, 2}, rng, -0.4, 0.4);  // 2 classes, x first
    const TensorD gy = random_d({R, 2, 3, 3}, rng, -1, 1);
    auto loss = [&] {
        const dcn_ref::PsroiPoolResult y = dcn_ref::deform_psroi_pool(input, rois, &trans, p);
        double l = 0;
        for (size_t i = 0; i < y.output.size(); ++i) l += y.output[i] * gy.data[i];
        return l;
    };
    auto central_of = [&](TensorD &t) {
        std::vector<double> g(t.data.size());
        for (size_t i = 0; i < t.data.size(); ++i) {
            const double v = t.data[i];
            t.data[i] = v + 1e-6;
            const double up = loss();
            t.data[i] = v - 1e-6;
            const double down = loss();
            t.data[i] = v;
            g[i] = (up - down) / 2e-6;
        }
        return g;
    };
    const dcn_ref::PsroiPoolGradients g = dcn_ref::deform_psroi_pool_backward(gy, input, rois, &trans, p);
    expect_close(g.input, central_of(input), "grad_input");
    expect_close(g.trans, central_of(trans), "grad_trans");
    // Without trans: grad_input only.
    const dcn_ref::PsroiPoolGradients g0 = dcn_ref::deform_psroi_pool_backward(gy, input, rois, nullptr, p);
    EXPECT_TRUE(g0.trans.empty());
    bool nonzero = false;
    for (double v : g0.input) nonzero = nonzero || v != 0.0;
    EXPECT_TRUE(nonzero);
}

}  // namespace
