// `dcn deform-conv2d --grad-output ...`: the backward pass from the CLI
// (docs/cli.md): every gradient file against the
// double gradient reference, float32 and float64, --repeat, and the usage
// errors of the gradient flags.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "cli_harness.h"
#include "npy.h"
#include "reference/deform_conv2d_backward_ref.h"
#include "reference/deform_conv2d_ref.h"
#include "test_support.h"

namespace {

using namespace dcn_test;

struct Files {
    std::string x, off, w, mask, gy;
};

struct CliSetup {
    dcn_ref::DeformConv2dParams p;
    dcn_ref::Tensor x, off, w, mask, gy;
    std::string dir;
    Files f;
};

// input (2, 4, 6, 7), weight (5, 4, 3, 3), padding 1, a mask; offsets on a
// 1/4096 grid (sample coordinates exact in float32).
template <typename T>
CliSetup make_setup() {
    CliSetup s;
    s.p.pad_top = s.p.pad_left = s.p.pad_bottom = s.p.pad_right = 1;
    std::mt19937 rng(31);
    s.x = random_tensor({2, 4, 6, 7}, rng, -1.0f, 1.0f);
    s.w = random_tensor({5, 4, 3, 3}, rng, -1.0f, 1.0f);
    s.off = random_tensor({2, 18, 6, 7}, rng, -2.5f, 2.5f);
    for (float &v : s.off.data) v = std::round(v * 4096.0f) / 4096.0f;
    s.mask = random_tensor({2, 9, 6, 7}, rng, 0.0f, 1.0f);
    s.gy = random_tensor({2, 5, 6, 7}, rng, -1.0f, 1.0f);
    s.dir = scratch_dir();
    auto save = [&](const std::string &name, const dcn_ref::Tensor &t) {
        const std::string path = path_in(s.dir, name);
        const std::vector<T> v(t.data.begin(), t.data.end());
        dcn_npy::write_npy(path, t.shape, v.data(), v.size());
        return path;
    };
    s.f = {save("x.npy", s.x), save("off.npy", s.off), save("w.npy", s.w), save("mask.npy", s.mask),
           save("gy.npy", s.gy)};
    return s;
}

std::vector<std::string> args(const CliSetup &s) {
    return {"deform-conv2d", "--input", s.f.x, "--offset", s.f.off, "--weight", s.f.w, "--mask", s.f.mask,
            "--padding", "1", "--grad-output", s.f.gy};
}

template <typename T>
void check_all_gradients(const dcn_test::Tolerance &tol) {
    const CliSetup s = make_setup<T>();
    const std::vector<std::string> outs = {"--grad-input", path_in(s.dir, "gi.npy"),   "--grad-offset",
                                           path_in(s.dir, "goff.npy"), "--grad-mask", path_in(s.dir, "gm.npy"),
                                           "--grad-weight", path_in(s.dir, "gw.npy"), "--grad-bias",
                                           path_in(s.dir, "gb.npy"),  "--repeat",     "2"};
    const CliResult r = run_cli(concat(args(s), outs), s.dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_FALSE(r.err_lines.empty()) << describe(r);
    EXPECT_TRUE(std::regex_match(r.err_lines.back(), std::regex("^median_ms=[0-9.]+ gflops=[0-9.]+$"))) << describe(r);
    dcn_ref::DeformConv2dParams p = s.p;
    p.groups = p.offset_groups = 1;
    const dcn_ref::TensorD mask = dcn_ref::to_double(s.mask);
    const dcn_ref::DeformConv2dGradients ref =
        dcn_ref::deform_conv2d_backward(dcn_ref::to_double(s.gy), dcn_ref::to_double(s.x), dcn_ref::to_double(s.off),
                                        dcn_ref::to_double(s.w), &mask, p);
    const struct {
        const char *file;
        const std::vector<double> &ref;
        std::vector<int64_t> shape;
        int64_t len;
    } checks[] = {{"gi.npy", ref.input, s.x.shape, 4 * 5 * 9},  {"goff.npy", ref.offset, s.off.shape, 4 * 4 * 5},
                  {"gm.npy", ref.mask, s.mask.shape, 4 * 4 * 5}, {"gw.npy", ref.weight, s.w.shape, 2 * 42},
                  {"gb.npy", ref.bias, {5}, 2 * 42}};
    for (const auto &c : checks) {
        dcn_npy::Array a;
        ASSERT_NO_THROW(a = dcn_npy::read_npy(path_in(s.dir, c.file))) << c.file;
        ASSERT_EQ(a.shape, c.shape) << c.file;
        ASSERT_EQ(a.dtype, dcn::dtype_of<T>::value) << c.file;
        EXPECT_TRUE(dcn_test::matches_reference(a.data_as<T>(), c.ref, c.shape, c.len, tol)) << c.file;
    }
}

TEST(CliBackward, EveryGradientFloat32) { check_all_gradients<float>(dcn_test::Tolerance{}); }
TEST(CliBackward, EveryGradientFloat64) { check_all_gradients<double>(dcn_test::Tolerance::float64()); }

TEST(CliBackward, ForwardAndOneGradientTogether) {
    const CliSetup s = make_setup<float>();
    const CliResult r = run_cli(
        concat(args(s), {"--output", path_in(s.dir, "y.npy"), "--grad-offset", path_in(s.dir, "goff.npy")}), s.dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    dcn_npy::Array y;
    ASSERT_NO_THROW(y = dcn_npy::read_npy(path_in(s.dir, "y.npy")));
    dcn_ref::DeformConv2dParams p = s.p;
    p.groups = p.offset_groups = 1;
    EXPECT_TRUE(dcn_test::matches_reference(y.data_as<float>(),
                                            dcn_ref::deform_conv2d(s.x, s.off, s.w, &s.mask, nullptr, p),
                                            {2, 5, 6, 7}, 36));
    EXPECT_TRUE(std::filesystem::exists(path_in(s.dir, "goff.npy")));
    EXPECT_FALSE(std::filesystem::exists(path_in(s.dir, "gi.npy")));
}

TEST(CliBackward, UsageErrorsOfTheGradientFlags) {
    const CliSetup s = make_setup<float>();
    struct {
        std::vector<std::string> args;
        const char *message;
    } cases[] = {
        {{"deform-conv2d", "--input", s.f.x, "--offset", s.f.off, "--weight", s.f.w, "--grad-input",
          path_in(s.dir, "gi.npy")},
         "--grad-input needs --grad-output"},
        {{"deform-conv2d", "--input", s.f.x, "--offset", s.f.off, "--weight", s.f.w}, "--output is required"},
        {args(s), "--grad-output: no gradient asked for"},
        {{"deform-conv2d", "--input", s.f.x, "--offset", s.f.off, "--weight", s.f.w, "--grad-output", s.f.gy,
          "--grad-mask", path_in(s.dir, "gm.npy")},
         "--grad-mask needs --mask"},
        {concat(args(s), {"--grad-input", path_in(s.dir, "g.npy"), "--grad-offset", path_in(s.dir, "g.npy")}),
         "--grad-input and --grad-offset"},
    };
    for (const auto &c : cases) {
        const CliResult r = run_cli(c.args, s.dir);
        EXPECT_EQ(r.exit_code, 2) << describe(r);
        ASSERT_EQ(r.err_lines.size(), 1u) << describe(r);
        EXPECT_NE(r.err_lines[0].find(c.message), std::string::npos) << describe(r);
    }
    // A grad_output of the wrong shape: the library's error, naming it.
    dcn_ref::Tensor bad{{2, 5, 6, 6}, std::vector<float>(2 * 5 * 36, 1.0f)};
    const std::string bad_path = path_in(s.dir, "bad_gy.npy");
    dcn_npy::write_npy(bad_path, bad.shape, bad.data.data(), bad.data.size());
    const CliResult r = run_cli({"deform-conv2d", "--input", s.f.x, "--offset", s.f.off, "--weight", s.f.w, "--mask",
                                 s.f.mask, "--padding", "1", "--grad-output", bad_path, "--grad-weight",
                                 path_in(s.dir, "gw.npy")},
                                s.dir);
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    ASSERT_EQ(r.err_lines.size(), 1u) << describe(r);
    EXPECT_NE(r.err_lines[0].find("grad_output: expected shape [2, 5, 6, 7], got [2, 5, 6, 6]"), std::string::npos)
        << describe(r);
    EXPECT_FALSE(std::filesystem::exists(path_in(s.dir, "gw.npy")));
}

// Outputs that name one file in different ways are refused before anything
// is written: a path normalised (./a, d/../a), a symbolic link to a file
// that does not exist yet, a hard link to an existing one; --output with a
// gradient as well as two gradients.
TEST(CliBackward, AliasedOutputsAreRefusedBeforeAnythingIsWritten) {
    namespace fs = std::filesystem;
    const CliSetup s = make_setup<float>();
    const std::string a = path_in(s.dir, "alias.npy");
    const std::string dot = (fs::path(s.dir) / "." / "alias.npy").string();
    const std::string up = (fs::path(s.dir) / "sub" / ".." / "alias.npy").string();
    fs::create_directories(fs::path(s.dir) / "sub");
    const std::string link = path_in(s.dir, "link.npy");
    fs::create_symlink("alias.npy", link);  // dangling: alias.npy does not exist yet
    const std::string other = path_in(s.dir, "other.npy");
    const std::vector<std::vector<std::string>> outs = {
        {"--grad-input", a, "--grad-offset", dot},
        {"--grad-input", a, "--grad-weight", up},
        {"--grad-input", link, "--grad-mask", a},
        {"--output", dot, "--grad-bias", a},
    };
    for (const auto &o : outs) {
        const CliResult r = run_cli(concat(args(s), o), s.dir);
        EXPECT_TRUE(fails_with(r, 2, {"name the same file", o[0], o[2]}));
        EXPECT_FALSE(fs::exists(a)) << describe(r);
    }
    // A hard link to an existing output file.
    dcn_test::write_file(other, "x");
    const std::string hard = path_in(s.dir, "hard.npy");
    fs::create_hard_link(other, hard);
    const CliResult r = run_cli(concat(args(s), {"--grad-input", other, "--grad-offset", hard}), s.dir);
    EXPECT_TRUE(fails_with(r, 2, {"name the same file"}));
    EXPECT_EQ(dcn_test::read_file(other), "x");
}

// A later output that cannot be written: the error names the ones that were.
TEST(CliBackward, AFailedWriteNamesTheOutputsAlreadyWritten) {
    const CliSetup s = make_setup<float>();
    const std::string gi = path_in(s.dir, "gi.npy");
    const std::string missing = path_in(s.dir, "no_such_dir/gw.npy");
    const CliResult r = run_cli(concat(args(s), {"--grad-input", gi, "--grad-weight", missing}), s.dir);
    EXPECT_TRUE(fails_with(r, -1, {"no_such_dir", "already written: --grad-input " + gi}));
    EXPECT_TRUE(std::filesystem::exists(gi));
}

}  // namespace
