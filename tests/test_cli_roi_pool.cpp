// The `dcn deform-psroi-pool` and `dcn deform-roi-pool` verbs end to end
// (docs/cli.md): inputs written with dcn_npy::write_npy into a
// scratch directory (DCN_TEST_TMPDIR), the binary (DCN_CLI_PATH) run through
// the shell with stdout and stderr captured, the exit status, the stderr
// lines and the .npy outputs checked against the double references.
//
// The problems use dyadic RoIs, trans and offsets with power-of-two bin and
// sample counts, so every sample position is exact in float32 and no sample
// can fall on the other side of a border than in the double reference (see
// test_roi_pool.cpp for the general treatment).
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include "npy.h"
#include "reference/deform_conv2d_backward_ref.h"
#include "reference/deform_psroi_pool_backward_ref.h"
#include "reference/deform_psroi_pool_ref.h"
#include "reference/deform_roi_pool_backward_ref.h"
#include "reference/deform_roi_pool_ref.h"
#include "cli_harness.h"
#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>


namespace {

namespace fs = std::filesystem;
using namespace dcn_test;
using dcn_ref::Tensor;

void save(const std::string &path, const Tensor &t) { dcn_npy::write_npy(path, t.shape, t.data.data(), t.data.size()); }


// The CLI's .npy output against the double reference (test_support.h tolerance
// tolerance; NaN never passes).
void expect_matches(const std::string &path, const std::vector<double> &ref, const std::vector<int64_t> &shape,
                    int64_t reduction) {
    dcn_npy::Array y;
    ASSERT_NO_THROW(y = dcn_npy::read_npy(path)) << path;
    ASSERT_EQ(y.shape, shape) << path;
    EXPECT_TRUE(dcn_test::matches_reference(y.to_vector<float>(), ref, shape, reduction)) << path;
}

void expect_counts(const std::string &path, const std::vector<double> &ref, const std::vector<int64_t> &shape) {
    dcn_npy::Array c;
    ASSERT_NO_THROW(c = dcn_npy::read_npy(path)) << path;
    ASSERT_EQ(c.shape, shape) << path;
    const std::vector<float> cv = c.to_vector<float>();
    ASSERT_EQ(cv.size(), ref.size());
    int64_t bad = 0;
    for (size_t i = 0; i < ref.size(); ++i)
        if (!(double(cv[i]) == ref[i]) && bad++ < 3)
            ADD_FAILURE() << "count " << dcn_test::index_str(shape, int64_t(i)) << ": got " << cv[i] << ", expected "
                          << ref[i];
    EXPECT_EQ(bad, 0);
}

// ---- problems -------------------------------------------------------------------

// `R` RoIs for an N-image batch of H x W maps at `scale`: corners on a 1/8
// grid of the feature map (image coordinates = feature / scale), mostly
// inside, some partly outside.
Tensor dyadic_rois(int64_t R, int64_t N, int64_t H, int64_t W, double scale, std::mt19937 &rng) {
    Tensor rois = dcn_test::zeros({R, 5});
    for (int64_t r = 0; r < R; ++r) {
        float *v = rois.data.data() + r * 5;
        auto grid = [&](double lo, double hi) {
            return float(double(dcn_test::uniform_int(rng, int64_t(lo * 8), int64_t(hi * 8))) / 8.0 / scale);
        };
        v[0] = float(dcn_test::uniform_int(rng, 0, N - 1));
        v[1] = grid(-1.0, double(W) - 1.0);
        v[2] = grid(-1.0, double(H) - 1.0);
        v[3] = v[1] + grid(0.0, double(W) / 2);
        v[4] = v[2] + grid(0.0, double(H) / 2);
    }
    return rois;
}

struct PsProblem {
    Tensor input, rois, trans;
    bool has_trans = false;
    dcn_ref::PsroiPoolParams p;

    std::vector<int64_t> out_shape() const { return {rois.shape[0], p.output_dim, p.pooled_size, p.pooled_size}; }
    dcn_ref::PsroiPoolResult reference() const {
        return dcn_ref::deform_psroi_pool(input, rois, has_trans ? &trans : nullptr, p);
    }
};

// output_dim D, group G, pooled 4, spp 2 (or as given), scale 1/2; trans
// multiples of 1/8 with trans_std 0.5: every sample position is exact.
PsProblem ps_problem(int64_t N, int64_t H, int64_t W, int64_t R, int D, int G, bool trans, int classes, uint32_t seed) {
    std::mt19937 rng(seed);
    PsProblem pr;
    pr.p.output_dim = D;
    pr.p.group_size = G;
    pr.p.pooled_size = 4;
    pr.p.part_size = 2;
    pr.p.sample_per_part = 2;
    pr.p.trans_std = 0.5;
    pr.p.spatial_scale = 0.5;
    pr.input = dcn_test::random_tensor({N, int64_t(D) * G * G, H, W}, rng, -1.0f, 1.0f);
    pr.rois = dyadic_rois(R, N, H, W, 0.5, rng);
    pr.has_trans = trans;
    if (trans) pr.trans = dcn_test::dyadic_tensor({R, 2 * classes, 2, 2}, rng, -1.0f, 1.0f, 8);
    return pr;
}

struct PsFiles {
    std::string input, rois, trans, output, count;
};

PsFiles save_ps(const PsProblem &pr, const std::string &dir) {
    PsFiles f{path_in(dir, "x.npy"), path_in(dir, "rois.npy"), "", path_in(dir, "y.npy"), path_in(dir, "count.npy")};
    save(f.input, pr.input);
    save(f.rois, pr.rois);
    if (pr.has_trans) {
        f.trans = path_in(dir, "trans.npy");
        save(f.trans, pr.trans);
    }
    return f;
}

// All the flags that describe pr.p.
std::vector<std::string> ps_args(const PsProblem &pr, const PsFiles &f) {
    std::vector<std::string> a = {"deform-psroi-pool", "--input", f.input, "--rois", f.rois,
                                  "--output-dim", std::to_string(pr.p.output_dim),
                                  "--group-size", std::to_string(pr.p.group_size),
                                  "--pooled-size", std::to_string(pr.p.pooled_size),
                                  "--part-size", std::to_string(pr.p.part_size),
                                  "--sample-per-part", std::to_string(pr.p.sample_per_part),
                                  "--trans-std", "0.5", "--spatial-scale", "0.5", "--output", f.output};
    if (pr.has_trans) a = concat(a, {"--trans", f.trans});
    return a;
}

struct RoiProblem {
    Tensor input, rois, offset, mask;
    bool has_offset = false, has_mask = false;
    dcn_ref::RoiPoolParams p;

    std::vector<int64_t> out_shape() const { return {rois.shape[0], input.shape[1], p.pooled_h, p.pooled_w}; }
    std::vector<double> reference() const {
        return dcn_ref::deform_roi_pool(input, rois, has_offset ? &offset : nullptr, has_mask ? &mask : nullptr, p);
    }
};

// output 4x2, sampling ratio 2 (or 0: RoIs at most W/2 wide give grids 1 or
// 2), offsets multiples of 1/8 with gamma 0.5: every position is exact.
RoiProblem roi_problem(int64_t N, int64_t C, int64_t H, int64_t W, int64_t R, int ph, int pw, int sr, double scale,
                       bool offset, bool mask, uint32_t seed) {
    std::mt19937 rng(seed);
    RoiProblem pr;
    pr.p.pooled_h = ph;
    pr.p.pooled_w = pw;
    pr.p.sampling_ratio = sr;
    pr.p.spatial_scale = scale;
    pr.p.gamma = 0.5;
    pr.input = dcn_test::random_tensor({N, C, H, W}, rng, -1.0f, 1.0f);
    pr.rois = dyadic_rois(R, N, H, W, scale, rng);
    pr.has_offset = offset;
    pr.has_mask = mask;
    if (offset) pr.offset = dcn_test::dyadic_tensor({R, 2, ph, pw}, rng, -1.0f, 1.0f, 8);
    if (mask) pr.mask = dcn_test::dyadic_tensor({R, 1, ph, pw}, rng, 0.0f, 1.0f, 16);
    return pr;
}

struct RoiFiles {
    std::string input, rois, offset, mask, output;
};

RoiFiles save_roi(const RoiProblem &pr, const std::string &dir) {
    RoiFiles f{path_in(dir, "x.npy"), path_in(dir, "rois.npy"), "", "", path_in(dir, "y.npy")};
    save(f.input, pr.input);
    save(f.rois, pr.rois);
    if (pr.has_offset) {
        f.offset = path_in(dir, "offset.npy");
        save(f.offset, pr.offset);
    }
    if (pr.has_mask) {
        f.mask = path_in(dir, "mask.npy");
        save(f.mask, pr.mask);
    }
    return f;
}

std::vector<std::string> roi_args(const RoiProblem &pr, const RoiFiles &f) {
    std::vector<std::string> a = {"deform-roi-pool", "--input", f.input, "--rois", f.rois, "--output-size",
                                  std::to_string(pr.p.pooled_h) + "," + std::to_string(pr.p.pooled_w),
                                  "--sampling-ratio", std::to_string(pr.p.sampling_ratio), "--gamma", "0.5",
                                  "--output", f.output};
    char scale[32];
    std::snprintf(scale, sizeof scale, "%.17g", pr.p.spatial_scale);
    a = concat(a, {"--spatial-scale", scale});
    if (pr.has_offset) a = concat(a, {"--offset", f.offset});
    if (pr.has_mask) a = concat(a, {"--mask", f.mask});
    return a;
}

const char *const kTimingRegex = "^median_ms=[0-9.]+ gsamples=[0-9.]+$";

}  // namespace

// =============================================================================
// deform-psroi-pool
// =============================================================================

TEST(CliRoiPool, PsroiPositionSensitiveNoTrans) {
    const PsProblem pr = ps_problem(1, 9, 10, 12, 3, 3, false, 1, 101);
    const std::string dir = scratch_dir();
    const PsFiles f = save_ps(pr, dir);
    const CliResult r = run_cli(ps_args(pr, f), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(r.err.empty()) << describe(r);
    expect_matches(f.output, pr.reference().output, pr.out_shape(), 4);
    EXPECT_FALSE(fs::exists(f.count));  // only with --count
}

TEST(CliRoiPool, PsroiClassAwareTransAndCount) {
    const PsProblem pr = ps_problem(2, 8, 9, 10, 4, 2, true, 2, 102);
    const std::string dir = scratch_dir();
    const PsFiles f = save_ps(pr, dir);
    const CliResult r = run_cli(concat(ps_args(pr, f), {"--count", f.count}), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(r.err.empty()) << describe(r);
    const auto ref = pr.reference();
    expect_matches(f.output, ref.output, pr.out_shape(), 4);
    expect_counts(f.count, ref.count, pr.out_shape());
    // Some bins are partly or wholly outside (otherwise the count says little).
    EXPECT_GT(std::count(ref.count.begin(), ref.count.end(), 0.0), 0);
    EXPECT_GT(std::count(ref.count.begin(), ref.count.end(), 4.0), 0);
}

// --output and --count naming one file (./ prefix, a symbolic link that does
// not point anywhere yet): refused before anything is written.
TEST(CliRoiPool, PsroiAliasedOutputsAreRefused) {
    const PsProblem pr = ps_problem(2, 8, 9, 10, 4, 2, true, 2, 102);
    const std::string dir = scratch_dir();
    const PsFiles f = save_ps(pr, dir);
    const std::string dotted = (fs::path(dir) / "." / fs::path(f.output).filename()).string();
    const std::string link = path_in(dir, "link.npy");
    fs::create_symlink(fs::path(f.output).filename(), link);
    for (const std::string &count : {dotted, link}) {
        const CliResult r = run_cli(concat(ps_args(pr, f), {"--count", count}), dir);
        EXPECT_TRUE(fails_with(r, 2, {"--output and --count name the same file"}));
        EXPECT_FALSE(fs::exists(f.output)) << describe(r);
    }
}

TEST(CliRoiPool, PsroiDefaults) {
    // Only the required flags: part 0 (= pooled), 4 samples per part,
    // trans_std 0 (a given trans has no effect), spatial scale 1.
    PsProblem pr = ps_problem(1, 6, 7, 5, 2, 1, true, 1, 103);
    pr.p.part_size = 0;
    pr.p.sample_per_part = 4;
    pr.p.trans_std = 0.0;
    pr.p.spatial_scale = 1.0;
    std::mt19937 rng(7);
    pr.trans = dcn_test::dyadic_tensor({5, 2, 4, 4}, rng, -1.0f, 1.0f, 8);  // part = pooled = 4
    const std::string dir = scratch_dir();
    const PsFiles f = save_ps(pr, dir);
    const CliResult r = run_cli({"deform-psroi-pool", "--input", f.input, "--rois", f.rois, "--trans", f.trans,
                                 "--output-dim", "2", "--group-size", "1", "--pooled-size", "4", "--output", f.output,
                                 "--count", f.count},
                                dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    const auto ref = pr.reference();
    expect_matches(f.output, ref.output, pr.out_shape(), 16);
    expect_counts(f.count, ref.count, pr.out_shape());
    // trans_std 0: the same as no trans at all.
    PsProblem plain = pr;
    plain.has_trans = false;
    EXPECT_EQ(plain.reference().output, ref.output);
}

TEST(CliRoiPool, PsroiZeroRois) {
    PsProblem pr = ps_problem(1, 5, 6, 0, 2, 2, true, 1, 104);
    const std::string dir = scratch_dir();
    const PsFiles f = save_ps(pr, dir);
    const CliResult r = run_cli(concat(ps_args(pr, f), {"--count", f.count}), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    for (const std::string &p : {f.output, f.count}) {
        dcn_npy::Array y;
        ASSERT_NO_THROW(y = dcn_npy::read_npy(p));
        EXPECT_EQ(y.shape, (std::vector<int64_t>{0, 2, 4, 4}));
        EXPECT_TRUE(y.bytes.empty());
    }
}

TEST(CliRoiPool, PsroiRepeat) {
    const PsProblem pr = ps_problem(1, 8, 8, 6, 2, 3, true, 1, 105);
    const std::string dir = scratch_dir();
    const PsFiles f = save_ps(pr, dir);
    const CliResult r = run_cli(concat(ps_args(pr, f), {"--repeat", "3", "--count", f.count}), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_FALSE(r.err_lines.empty()) << describe(r);
    EXPECT_TRUE(std::regex_match(r.err_lines.back(), std::regex(kTimingRegex))) << describe(r);
    const auto ref = pr.reference();
    expect_matches(f.output, ref.output, pr.out_shape(), 4);
    expect_counts(f.count, ref.count, pr.out_shape());
}

// =============================================================================
// deform-roi-pool
// =============================================================================

TEST(CliRoiPool, RoiPoolOffsetSamplingRatio2) {
    const RoiProblem pr = roi_problem(2, 3, 8, 9, 9, 4, 2, 2, 1.0, true, false, 201);
    const std::string dir = scratch_dir();
    const RoiFiles f = save_roi(pr, dir);
    const CliResult r = run_cli(roi_args(pr, f), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(r.err.empty()) << describe(r);
    expect_matches(f.output, pr.reference(), pr.out_shape(), 4);
}

TEST(CliRoiPool, RoiPoolModulatedAdaptiveSingleOutputSize) {
    // --output-size 4 alone = 4,4; adaptive grid; scale 1/4.
    RoiProblem pr = roi_problem(1, 4, 8, 8, 7, 4, 4, 0, 0.25, true, true, 202);
    const std::string dir = scratch_dir();
    const RoiFiles f = save_roi(pr, dir);
    const CliResult r = run_cli({"deform-roi-pool", "--input", f.input, "--rois", f.rois, "--offset", f.offset,
                                 "--mask", f.mask, "--output-size", "4", "--spatial-scale", "0.25", "--gamma", "0.5",
                                 "--output", f.output},
                                dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    expect_matches(f.output, pr.reference(), pr.out_shape(), 4);
}

TEST(CliRoiPool, RoiPoolDefaultsNoOffset) {
    // Only the required flags: scale 1, adaptive sampling, no offset.
    RoiProblem pr = roi_problem(1, 3, 8, 8, 6, 2, 4, 0, 1.0, false, false, 203);
    const std::string dir = scratch_dir();
    const RoiFiles f = save_roi(pr, dir);
    const CliResult r = run_cli(
        {"deform-roi-pool", "--input", f.input, "--rois", f.rois, "--output-size", "2,4", "--output", f.output}, dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    expect_matches(f.output, pr.reference(), pr.out_shape(), 4);
}

TEST(CliRoiPool, RoiPoolRepeat) {
    const RoiProblem pr = roi_problem(1, 3, 8, 9, 5, 4, 2, 2, 0.5, true, true, 204);
    const std::string dir = scratch_dir();
    const RoiFiles f = save_roi(pr, dir);
    const CliResult r = run_cli(concat(roi_args(pr, f), {"--repeat", "3"}), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_FALSE(r.err_lines.empty()) << describe(r);
    EXPECT_TRUE(std::regex_match(r.err_lines.back(), std::regex(kTimingRegex))) << describe(r);
    expect_matches(f.output, pr.reference(), pr.out_shape(), 4);
}

TEST(CliRoiPool, Help) {
    const std::string dir = scratch_dir();
    CliResult r = run_cli({"--help"}, dir);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("deform-psroi-pool"), std::string::npos) << describe(r);
    EXPECT_NE(r.out.find("deform-roi-pool"), std::string::npos) << describe(r);

    r = run_cli({"deform-psroi-pool", "--help"}, dir);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    for (const char *flag : {"--input", "--rois", "--trans", "--output-dim", "--group-size", "--pooled-size",
                             "--part-size", "--sample-per-part", "--trans-std", "--spatial-scale", "--output",
                             "--count", "--device", "--repeat", "gsamples"})
        EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << describe(r);

    r = run_cli({"deform-roi-pool", "--help"}, dir);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    for (const char *flag : {"--input", "--rois", "--offset", "--mask", "--output-size", "--spatial-scale",
                             "--sampling-ratio", "--gamma", "--output", "--device", "--repeat", "gsamples"})
        EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << describe(r);
}

// =============================================================================
// Errors: a non-zero exit (2 usage, 1 otherwise), one "dcn: error:" line, no
// output file.
// =============================================================================

TEST(CliRoiPool, ErrorWrongRoisShape) {
    const std::string dir = scratch_dir();
    {
        PsProblem pr = ps_problem(1, 6, 7, 4, 2, 1, false, 1, 301);
        pr.rois = dcn_test::zeros({4, 4});
        const PsFiles f = save_ps(pr, dir);
        EXPECT_TRUE(fails_with(run_cli(ps_args(pr, f), dir), 1, {"rois", "[4, 4]"}));
        EXPECT_FALSE(fs::exists(f.output));
    }
    {
        RoiProblem pr = roi_problem(1, 2, 6, 7, 4, 4, 2, 2, 1.0, false, false, 302);
        pr.rois = dcn_test::zeros({20});
        const RoiFiles f = save_roi(pr, dir);
        EXPECT_TRUE(fails_with(run_cli(roi_args(pr, f), dir), 1, {"rois", "[20]"}));
        EXPECT_FALSE(fs::exists(f.output));
    }
}

TEST(CliRoiPool, ErrorBadBatchIndex) {
    const std::string dir = scratch_dir();
    for (float b : {0.5f, 2.0f, -1.0f}) {
        SCOPED_TRACE(b);
        PsProblem pr = ps_problem(2, 6, 7, 4, 2, 1, false, 1, 303);
        pr.rois.data[2 * 5] = b;
        const PsFiles f = save_ps(pr, dir);
        EXPECT_TRUE(fails_with(run_cli(ps_args(pr, f), dir), 1, {"rois"}));
        EXPECT_FALSE(fs::exists(f.output));
        RoiProblem rp = roi_problem(2, 2, 6, 7, 4, 4, 2, 2, 1.0, true, false, 304);
        rp.rois.data[3 * 5] = b;
        const RoiFiles g = save_roi(rp, dir);
        EXPECT_TRUE(fails_with(run_cli(roi_args(rp, g), dir), 1, {"rois"}));
        EXPECT_FALSE(fs::exists(g.output));
    }
}

TEST(CliRoiPool, ErrorMissingRequiredFlags) {
    const std::string dir = scratch_dir();
    const PsProblem pr = ps_problem(1, 6, 7, 4, 2, 1, false, 1, 305);
    const PsFiles f = save_ps(pr, dir);
    EXPECT_TRUE(fails_with(run_cli({"deform-psroi-pool", "--input", f.input, "--rois", f.rois, "--group-size", "1",
                                    "--pooled-size", "4", "--output", f.output},
                                   dir),
                           2, {"--output-dim"}));
    EXPECT_TRUE(fails_with(run_cli({"deform-psroi-pool", "--input", f.input, "--rois", f.rois, "--output-dim", "2",
                                    "--group-size", "1", "--pooled-size", "4"},
                                   dir),
                           2, {"--output"}));
    EXPECT_FALSE(fs::exists(f.output));
    const RoiProblem rp = roi_problem(1, 2, 6, 7, 4, 4, 2, 2, 1.0, false, false, 306);
    const RoiFiles g = save_roi(rp, dir);
    EXPECT_TRUE(fails_with(run_cli({"deform-roi-pool", "--input", g.input, "--rois", g.rois, "--output", g.output}, dir),
                           2, {"--output-size"}));
    EXPECT_TRUE(fails_with(run_cli({"deform-roi-pool", "--input", g.input, "--output-size", "2", "--output", g.output},
                                   dir),
                           2, {"--rois"}));
    EXPECT_FALSE(fs::exists(g.output));
}

// A float64 RoI table with float32 input (mixed dtypes), an int32 offset.
TEST(CliRoiPool, ErrorMixedOrUnsupportedDtypes) {
    const std::string dir = scratch_dir();
    const PsProblem pr = ps_problem(1, 6, 7, 4, 2, 1, false, 1, 307);
    PsFiles f = save_ps(pr, dir);
    f.rois = path_in(dir, "rois_f8.npy");
    const std::vector<double> v(4 * 5, 0.0);
    write_file(f.rois, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 5), }",
                                 std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(double))));
    EXPECT_TRUE(fails_with(run_cli(ps_args(pr, f), dir), 1, {"rois_f8.npy", "float32"}));
    EXPECT_FALSE(fs::exists(f.output));

    const RoiProblem rp = roi_problem(1, 2, 6, 7, 4, 4, 2, 2, 1.0, true, false, 308);
    RoiFiles g = save_roi(rp, dir);
    g.offset = path_in(dir, "offset_i4.npy");
    const std::vector<int32_t> iv(4 * 2 * 4 * 2, 0);
    write_file(g.offset, npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (4, 2, 4, 2), }",
                                   std::string(reinterpret_cast<const char *>(iv.data()), iv.size() * sizeof(int32_t))));
    EXPECT_TRUE(fails_with(run_cli(roi_args(rp, g), dir), 1, {"offset_i4.npy", "float32"}));
    EXPECT_FALSE(fs::exists(g.output));
}

TEST(CliRoiPool, ErrorWrongShapedTransOffsetMask) {
    const std::string dir = scratch_dir();
    PsProblem pr = ps_problem(1, 6, 7, 4, 2, 1, true, 1, 309);
    pr.trans = dcn_test::zeros({4, 2, 3, 3});  // part size is 2
    const PsFiles f = save_ps(pr, dir);
    EXPECT_TRUE(fails_with(run_cli(ps_args(pr, f), dir), 1, {"trans"}));
    EXPECT_FALSE(fs::exists(f.output));
    RoiProblem rp = roi_problem(1, 2, 6, 7, 4, 4, 2, 2, 1.0, true, true, 310);
    rp.offset = dcn_test::zeros({4, 2, 2, 4});
    RoiFiles g = save_roi(rp, dir);
    EXPECT_TRUE(fails_with(run_cli(roi_args(rp, g), dir), 1, {"offset"}));
    rp = roi_problem(1, 2, 6, 7, 4, 4, 2, 2, 1.0, true, true, 310);
    rp.mask = dcn_test::zeros({4, 2, 4, 2});
    g = save_roi(rp, dir);
    EXPECT_TRUE(fails_with(run_cli(roi_args(rp, g), dir), 1, {"mask"}));
    EXPECT_FALSE(fs::exists(g.output));
}

TEST(CliRoiPool, ErrorBadFlagValues) {
    const std::string dir = scratch_dir();
    const PsProblem pr = ps_problem(1, 6, 7, 4, 2, 1, false, 1, 311);
    const PsFiles f = save_ps(pr, dir);
    const std::vector<std::string> base = {"deform-psroi-pool", "--input", f.input, "--rois", f.rois, "--output",
                                           f.output, "--group-size", "1"};
    for (const std::vector<std::string> &extra : std::vector<std::vector<std::string>>{
             {"--output-dim", "0", "--pooled-size", "4"},
             {"--output-dim", "2", "--pooled-size", "0"},
             {"--output-dim", "2", "--pooled-size", "4", "--sample-per-part", "0"},
             {"--output-dim", "2", "--pooled-size", "4", "--part-size", "-1"},
             {"--output-dim", "2", "--pooled-size", "4", "--spatial-scale", "abc"},
             {"--output-dim", "2", "--pooled-size", "4", "--spatial-scale", "0"},
             {"--output-dim", "2", "--pooled-size", "4", "--spatial-scale", "-0.5"},
             {"--output-dim", "2", "--pooled-size", "4", "--trans-std", "nan"},
             {"--output-dim", "2", "--pooled-size", "4", "--trans-std", "0.1x"},
             {"--output-dim", "2", "--pooled-size", "4", "--repeat", "0"},
             {"--output-dim", "2", "--pooled-size", "4", "--device", "tpu"},
             {"--output-dim", "2.5", "--pooled-size", "4"},
             {"--output-dim", "3", "--pooled-size", "4"}}) {  // C = 2 != 3 * 1^2
        const CliResult r = run_cli(concat(base, extra), dir);
        EXPECT_TRUE(fails_with(r, -1)) << extra[extra.size() - 2] << " " << extra.back();
    }
    EXPECT_FALSE(fs::exists(f.output));

    const RoiProblem rp = roi_problem(1, 2, 6, 7, 4, 4, 2, 2, 1.0, false, false, 312);
    const RoiFiles g = save_roi(rp, dir);
    const std::vector<std::string> rbase = {"deform-roi-pool", "--input", g.input, "--rois", g.rois, "--output",
                                            g.output};
    for (const std::vector<std::string> &extra : std::vector<std::vector<std::string>>{
             {"--output-size", "0"},
             {"--output-size", "2,0"},
             {"--output-size", "1,2,3"},
             {"--output-size", "2x2"},
             {"--output-size", "2", "--sampling-ratio", "-1"},
             {"--output-size", "2", "--gamma", "inf"},
             {"--output-size", "2", "--spatial-scale", ""},
             {"--output-size", "2", "--frobnicate", "1"}}) {
        const CliResult r = run_cli(concat(rbase, extra), dir);
        EXPECT_TRUE(fails_with(r, -1)) << extra[extra.size() - 2] << " " << extra.back();
    }
    EXPECT_FALSE(fs::exists(g.output));
}

// =============================================================================
// --grad-output: the backward passes
// =============================================================================

namespace {

// args without --output (the backward pass alone).
std::vector<std::string> without_output(std::vector<std::string> a) {
    const auto at = std::find(a.begin(), a.end(), "--output");
    if (at != a.end()) a.erase(at, at + 2);
    return a;
}

}  // namespace

TEST(CliRoiPool, PsroiBackwardGradients) {
    const std::string dir = scratch_dir();
    const PsProblem pr = ps_problem(2, 7, 9, 6, 2, 2, true, 2, 401);
    const PsFiles f = save_ps(pr, dir);
    std::mt19937 rng(402);
    const Tensor gy = dcn_test::random_tensor(pr.out_shape(), rng, -1.0f, 1.0f);
    const std::string gy_path = path_in(dir, "gy.npy"), gi = path_in(dir, "gi.npy"), gt = path_in(dir, "gt.npy");
    save(gy_path, gy);
    const CliResult r = run_cli(concat(without_output(ps_args(pr, f)),
                                       {"--grad-output", gy_path, "--grad-input", gi, "--grad-trans", gt, "--repeat", "2"}),
                                dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(std::regex_match(r.err_lines.back(), std::regex(kTimingRegex))) << describe(r);
    EXPECT_FALSE(fs::exists(f.output));
    const dcn_ref::TensorD trans = dcn_ref::to_double(pr.trans);
    const dcn_ref::PsroiPoolGradients ref = dcn_ref::deform_psroi_pool_backward(
        dcn_ref::to_double(gy), dcn_ref::to_double(pr.input), dcn_ref::to_double(pr.rois), &trans, pr.p);
    expect_matches(gi, ref.input, pr.input.shape, 6 * 16 * 4);
    expect_matches(gt, ref.trans, pr.trans.shape, 4 * 4);
}

TEST(CliRoiPool, RoiPoolBackwardGradientsWithTheForward) {
    const std::string dir = scratch_dir();
    const RoiProblem pr = roi_problem(2, 3, 8, 9, 5, 4, 2, 2, 0.5, true, true, 403);
    const RoiFiles f = save_roi(pr, dir);
    std::mt19937 rng(404);
    const Tensor gy = dcn_test::random_tensor(pr.out_shape(), rng, -1.0f, 1.0f);
    const std::string gy_path = path_in(dir, "gy.npy"), gi = path_in(dir, "gi.npy"), go = path_in(dir, "go.npy"),
                      gm = path_in(dir, "gm.npy");
    save(gy_path, gy);
    const CliResult r = run_cli(concat(roi_args(pr, f), {"--grad-output", gy_path, "--grad-input", gi, "--grad-offset",
                                                         go, "--grad-mask", gm}),
                                dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    expect_matches(f.output, pr.reference(), pr.out_shape(), 4);
    const dcn_ref::TensorD offset = dcn_ref::to_double(pr.offset), mask = dcn_ref::to_double(pr.mask);
    const dcn_ref::RoiPoolGradients ref =
        dcn_ref::deform_roi_pool_backward(dcn_ref::to_double(gy), dcn_ref::to_double(pr.input),
                                          dcn_ref::to_double(pr.rois), &offset, &mask, pr.p);
    expect_matches(gi, ref.input, pr.input.shape, 5 * 8 * 4);
    expect_matches(go, ref.offset, pr.offset.shape, 3 * 4);
    expect_matches(gm, ref.mask, pr.mask.shape, 3 * 4);
}

TEST(CliRoiPool, BackwardUsageErrors) {
    const std::string dir = scratch_dir();
    const PsProblem pr = ps_problem(1, 6, 7, 4, 2, 1, false, 1, 405);
    const PsFiles f = save_ps(pr, dir);
    const RoiProblem rp = roi_problem(1, 2, 6, 7, 4, 4, 2, 2, 1.0, false, false, 406);
    const RoiFiles g = save_roi(rp, dir);
    const std::string gi = path_in(dir, "gi.npy"), gy = path_in(dir, "gy_missing.npy");
    EXPECT_TRUE(fails_with(run_cli(concat(ps_args(pr, f), {"--grad-input", gi}), dir), 2,
                           {"--grad-input needs --grad-output"}));
    EXPECT_TRUE(fails_with(run_cli(concat(ps_args(pr, f), {"--grad-output", gy, "--grad-trans", gi}), dir), 2,
                           {"--grad-trans needs --trans"}));
    EXPECT_TRUE(fails_with(run_cli(concat(without_output(ps_args(pr, f)), {"--grad-output", gy}), dir), 2,
                           {"no gradient asked for"}));
    EXPECT_TRUE(fails_with(run_cli(concat(roi_args(rp, g), {"--grad-output", gy, "--grad-offset", gi}), dir), 2,
                           {"--grad-offset needs --offset"}));
    EXPECT_TRUE(fails_with(run_cli(concat(roi_args(rp, g), {"--grad-output", gy, "--grad-input", g.output}), dir), 2,
                           {"--output and --grad-input"}));
    EXPECT_FALSE(fs::exists(gi));
}
