// The gradient reference (tests/reference/deform_conv2d_backward_ref) checked
// by central finite differences of the forward reference, in double, on
// small cases whose sample points keep away from the bilinear kinks (cell
// edges at integer coordinates), where the loss is smooth; and at the kinks,
// torchvision's rule: the derivative is the one-sided one from above.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "reference/deform_conv2d_backward_ref.h"
#include "reference/deform_conv2d_ref.h"
#include "test_support.h"

namespace {

using dcn_ref::DeformConv2dParams;
using dcn_ref::TensorD;

struct FdCase {
    std::string name;
    int64_t N, C, H, W, K, kH, kW;
    DeformConv2dParams p;
    bool mask;
};

struct FdProblem {
    TensorD input, offset, weight, mask, grad_output;
    bool has_mask = false;
    DeformConv2dParams p;
};

TensorD random_d(const std::vector<int64_t> &shape, std::mt19937 &rng, double lo, double hi) {
    TensorD t{shape, std::vector<double>(static_cast<size_t>(dcn_test::numel(shape)))};
    for (double &v : t.data) v = dcn_test::uniform(rng, static_cast<float>(lo), static_cast<float>(hi));
    return t;
}

// Offsets whose sample points have fractional parts in [0.15, 0.85] (away
// from every kink), over [-2, H+1] x [-2, W+1]: inside, in the border band
// and wholly outside.
FdProblem make(const FdCase &c, uint32_t seed) {
    std::mt19937 rng(seed);
    FdProblem pr;
    pr.p = c.p;
    pr.has_mask = c.mask;
    const int64_t G = c.p.offset_groups, taps = c.kH * c.kW;
    const std::vector<int64_t> out =
        dcn_ref::deform_conv2d_output_shape({c.N, c.C, c.H, c.W}, {c.K, c.C / c.p.groups, c.kH, c.kW}, c.p);
    const int64_t oH = out[2], oW = out[3];
    pr.input = random_d({c.N, c.C, c.H, c.W}, rng, -1, 1);
    pr.weight = random_d({c.K, c.C / c.p.groups, c.kH, c.kW}, rng, -1, 1);
    pr.mask = random_d({c.N, G * taps, oH, oW}, rng, 0, 1);
    pr.grad_output = random_d(out, rng, -1, 1);
    pr.offset = random_d({c.N, 2 * G * taps, oH, oW}, rng, 0, 1);
    for (int64_t n = 0; n < c.N; ++n)
        for (int64_t g = 0; g < G; ++g)
            for (int64_t k = 0; k < taps; ++k)
                for (int64_t oy = 0; oy < oH; ++oy)
                    for (int64_t ox = 0; ox < oW; ++ox) {
                        const int64_t i = k / c.kW, j = k % c.kW;
                        const double by = double(oy * c.p.stride_h - c.p.pad_top + i * c.p.dilation_h);
                        const double bx = double(ox * c.p.stride_w - c.p.pad_left + j * c.p.dilation_w);
                        const double ty = double(dcn_test::uniform_int(rng, -2, c.H)) +
                                          dcn_test::uniform(rng, 0.15f, 0.85f);
                        const double tx = double(dcn_test::uniform_int(rng, -2, c.W)) +
                                          dcn_test::uniform(rng, 0.15f, 0.85f);
                        const int64_t base = ((n * 2 * G + 2 * g) * taps + 2 * k) * oH * oW + oy * oW + ox;
                        pr.offset.data[base] = ty - by;
                        pr.offset.data[base + oH * oW] = tx - bx;
                    }
    return pr;
}

// sum(grad_output * forward(...)).
double loss(const FdProblem &pr) {
    const std::vector<double> y =
        dcn_ref::deform_conv2d(pr.input, pr.offset, pr.weight, pr.has_mask ? &pr.mask : nullptr, nullptr, pr.p);
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * pr.grad_output.data[i];
    return l;
}

// Central differences of the loss in every element of `t` (h = 1e-6: the
// loss is polynomial of degree 1 in each element away from the kinks, so
// the truncation error is 0 and only rounding, ~1e-16 * |loss| / h, is left).
std::vector<double> finite_differences(FdProblem &pr, TensorD &t) {
    const double h = 1e-6;
    std::vector<double> g(t.data.size());
    for (size_t i = 0; i < t.data.size(); ++i) {
        const double v = t.data[i];
        t.data[i] = v + h;
        const double up = loss(pr);
        t.data[i] = v - h;
        const double down = loss(pr);
        t.data[i] = v;
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

::testing::AssertionResult close(const std::vector<double> &a, const std::vector<double> &b, const char *what) {
    if (a.size() != b.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
    double scale = 0;
    for (double v : b) scale = std::max(scale, std::fabs(v));
    bool nonzero = false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (!(std::fabs(a[i] - b[i]) <= 1e-7 * std::max(1.0, scale)))
            return ::testing::AssertionFailure() << what << "[" << i << "]: reference " << a[i]
                                                 << ", finite differences " << b[i];
        nonzero = nonzero || b[i] != 0.0;
    }
    if (!nonzero) return ::testing::AssertionFailure() << what << ": every difference is 0 (a vacuous check)";
    return ::testing::AssertionSuccess();
}

class BackwardReferenceFd : public ::testing::TestWithParam<FdCase> {};

TEST_P(BackwardReferenceFd, MatchesCentralDifferences) {
    const FdCase &c = GetParam();
    FdProblem pr = make(c, 1234u + static_cast<uint32_t>(c.name.size()));
    const dcn_ref::DeformConv2dGradients g = dcn_ref::deform_conv2d_backward(
        pr.grad_output, pr.input, pr.offset, pr.weight, pr.has_mask ? &pr.mask : nullptr, pr.p);
    EXPECT_TRUE(close(g.input, finite_differences(pr, pr.input), "grad_input"));
    EXPECT_TRUE(close(g.offset, finite_differences(pr, pr.offset), "grad_offset"));
    EXPECT_TRUE(close(g.weight, finite_differences(pr, pr.weight), "grad_weight"));
    if (c.mask) EXPECT_TRUE(close(g.mask, finite_differences(pr, pr.mask), "grad_mask"));
    // grad_bias: the loss with a bias b adds sum_o b[o] * sum(grad_output[:, o]).
    std::vector<double> gb(static_cast<size_t>(c.K), 0.0);
    const int64_t plane = pr.grad_output.shape[2] * pr.grad_output.shape[3];
    for (int64_t n = 0; n < c.N; ++n)
        for (int64_t o = 0; o < c.K; ++o)
            for (int64_t q = 0; q < plane; ++q) gb[o] += pr.grad_output.data[(n * c.K + o) * plane + q];
    EXPECT_TRUE(close(g.bias, gb, "grad_bias"));
}

DeformConv2dParams params(int s, int d, int pt, int pl, int pb, int pr, int groups, int og) {
    DeformConv2dParams p;
    p.stride_h = p.stride_w = s;
    p.dilation_h = p.dilation_w = d;
    p.pad_top = pt, p.pad_left = pl, p.pad_bottom = pb, p.pad_right = pr;
    p.groups = groups;
    p.offset_groups = og;
    return p;
}

INSTANTIATE_TEST_SUITE_P(
    Small, BackwardReferenceFd,
    ::testing::Values(FdCase{"plain", 1, 3, 5, 6, 2, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1), false},
                      FdCase{"mask", 1, 3, 5, 6, 2, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1), true},
                      FdCase{"groups_offset_groups_batch", 2, 4, 4, 5, 4, 3, 3, params(1, 1, 1, 1, 1, 1, 2, 2), true},
                      FdCase{"groups2_og4_k2x3", 1, 4, 5, 4, 2, 2, 3, params(1, 1, 0, 1, 1, 0, 2, 4), true},
                      FdCase{"stride2_dilation2_asym_pad", 1, 2, 7, 6, 3, 3, 3, params(2, 2, 2, 1, 0, 3, 1, 1), true},
                      FdCase{"H1", 1, 2, 1, 6, 2, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1), true}),
    [](const ::testing::TestParamInfo<FdCase> &info) { return info.param.name; });

// At an integer coordinate the reference's derivative is the one-sided
// derivative from above (floor() picks the cell above): checked against a
// forward difference, at y = -1, 0, 1, H-1 and x likewise.
TEST(BackwardReferenceKinks, OneSidedFromAboveAtIntegerCoordinates) {
    FdCase c{"kink", 1, 2, 4, 5, 2, 1, 1, params(1, 1, 0, 0, 0, 0, 1, 1), true};
    for (double target : {-1.0, 0.0, 1.0, 3.0}) {
        for (int axis = 0; axis < 2; ++axis) {
            FdProblem pr = make(c, 99u);
            // Every pixel samples (target, 1.5) (axis 0) or (1.5, target) (axis 1).
            const int64_t plane = 4 * 5;
            for (int64_t q = 0; q < plane; ++q) {
                const double oy = double(q / 5), ox = double(q % 5);
                pr.offset.data[q] = (axis == 0 ? target : 1.5) - oy;
                pr.offset.data[plane + q] = (axis == 0 ? 1.5 : target) - ox;
            }
            const dcn_ref::DeformConv2dGradients g = dcn_ref::deform_conv2d_backward(
                pr.grad_output, pr.input, pr.offset, pr.weight, &pr.mask, pr.p);
            const double h = 1e-7;
            bool nonzero = false;
            for (int64_t q = 0; q < plane; ++q) {
                const size_t idx = static_cast<size_t>(axis * plane + q);
                const double base = loss(pr);
                pr.offset.data[idx] += h;
                const double up = loss(pr);
                pr.offset.data[idx] -= h;
                const double forward_diff = (up - base) / h;
                EXPECT_NEAR(g.offset[idx], forward_diff, 1e-6)
                    << "target " << target << " axis " << axis << " pixel " << q;
                nonzero = nonzero || std::fabs(forward_diff) > 1e-3;
            }
            EXPECT_TRUE(nonzero) << "target " << target << " axis " << axis << ": a vacuous check";
        }
    }
}

}  // namespace
