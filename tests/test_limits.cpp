// Limits and hostile sizes (issue 10, D2 D5 D8): every limit is checked
// before any allocation or kernel, with a dcn::Error in the caller's terms;
// size arithmetic never overflows; the CLI refuses two outputs in one file
// and anything but a regular file as an input.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dcn/dcn.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli_harness.h"
#include "npy.h"
#include "test_support.h"

namespace {

using dcn_test::fails_with;
using dcn_test::path_in;
using dcn_test::run_cli;
using dcn_test::scratch_dir;

// A pointer the library must never read: every call below fails validation.
float g_dummy[64] = {};

// The error's argument, or "" when the call did not throw dcn::Error.
template <typename F>
std::string error_argument(F call, std::string *what = nullptr) {
    try {
        call();
    } catch (const dcn::Error &e) {
        if (what) *what = e.what();
        return e.argument();
    } catch (const std::exception &e) {
        if (what) *what = std::string("not a dcn::Error: ") + e.what();
        return "(other exception)";
    }
    return "";
}

// D2: shapes whose byte sizes overflow int64 are refused, not wrapped.
TEST(Limits, SizesThatOverflowAreRefused) {
    const int64_t big = int64_t(1) << 21, bigger = int64_t(1) << 22;
    std::string what;
    const std::string arg = error_argument(
        [&] {
            dcn::deform_conv2d(dcn::TensorView(g_dummy, {1, big, big, bigger}), dcn::TensorView(g_dummy, {1, 2, big, bigger}),
                               dcn::TensorView(g_dummy, {big, 1, 1, 1}), std::nullopt, std::nullopt,
                               dcn::TensorView(g_dummy, {1, big, big, bigger}));
        },
        &what);
    EXPECT_EQ(arg, "input") << what;
    EXPECT_NE(what.find("2^31"), std::string::npos) << what;
    // numel() and effective_strides() saturate instead of overflowing.
    const dcn::TensorView huge(g_dummy, {int64_t(1) << 62, int64_t(1) << 62, 4});
    EXPECT_EQ(huge.numel(), INT64_MAX);
    EXPECT_EQ(huge.effective_strides()[0], INT64_MAX);
}

// D2 through the CLI: a .npy header of shape (0, 2^62, 2^62, 4) with no data.
TEST(Limits, CliRefusesAHostileHeader) {
    const std::string dir = scratch_dir();
    const std::string x = path_in(dir, "x.npy"), rois = path_in(dir, "rois.npy"), y = path_in(dir, "y.npy");
    dcn_test::write_file(x, dcn_test::npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                                                "'shape': (0, 4611686018427387904, 4611686018427387904, 4), }",
                                                ""));
    dcn_npy::write_npy(rois, {0, 5}, static_cast<const float *>(nullptr), 0);
    const dcn_test::CliResult r =
        run_cli({"deform-roi-pool", "--input", x, "--rois", rois, "--output-size", "2", "--output", y}, dir);
    EXPECT_TRUE(fails_with(r, 1, {"input", "2^31"}));
}

// D5: the kernels' parameter bounds are checked up front, named in the API's terms.
TEST(Limits, KernelBoundsAreCheckedUpFront) {
    std::string what;
    dcn::DeformConv2dOptions o;
    o.stride = {dcn::kMaxConvParameter + 1, 1};
    EXPECT_EQ(error_argument([&] { dcn::deform_conv2d_output_shape({1, 1, 4, 4}, {1, 1, 1, 1}, o); }, &what), "stride");
    EXPECT_NE(what.find(std::to_string(dcn::kMaxConvParameter)), std::string::npos) << what;
    o = {};
    o.padding = dcn::kMaxConvParameter + 1;
    EXPECT_EQ(error_argument([&] { dcn::deform_conv2d_output_shape({1, 1, 4, 4}, {1, 1, 1, 1}, o); }), "padding");
    dcn::DeformPsroiPoolOptions ps;
    ps.output_dim = 1;
    ps.sample_per_part = dcn::kMaxPsroiParameter + 1;
    EXPECT_EQ(error_argument([&] { dcn::deform_psroi_pool_output_shape({1, 1, 4, 4}, {1, 5}, ps); }, &what),
              "sample_per_part");
    EXPECT_NE(what.find(std::to_string(dcn::kMaxPsroiParameter)), std::string::npos) << what;
}

// D5: an input under 2^31 bytes whose bordered copy is over it is refused
// naming the input, not by the kernel's allocation with its internal name.
TEST(Limits, TheBorderedCopyOfTheInputIsChecked) {
    std::string what;
    dcn::DeformConv2dOptions o;
    o.set_padding(1, 1);
    const std::string arg = error_argument(
        [&] {
            dcn::deform_conv2d(dcn::TensorView(g_dummy, {1, 512, 1023, 1024}),
                               dcn::TensorView(g_dummy, {1, 18, 1023, 1024}), dcn::TensorView(g_dummy, {1, 512, 3, 3}),
                               std::nullopt, std::nullopt, dcn::TensorView(g_dummy, {1, 1, 1023, 1024}), o);
        },
        &what);
    EXPECT_EQ(arg, "input") << what;
    EXPECT_NE(what.find("bordered copy"), std::string::npos) << what;
}

// D8: a stride-0 view of a huge logical extent is a dcn::Error, not std::bad_alloc.
TEST(Limits, StrideZeroViewsOfHugeExtentAreRefused) {
    const int64_t n = int64_t(1) << 15;
    std::string what;
    const std::string arg = error_argument(
        [&] {
            dcn::deform_conv2d(dcn::TensorView(g_dummy, {1, 1, n, n}, {0, 0, 0, 1}),
                               dcn::TensorView(g_dummy, {1, 2, n, n}, {0, 0, 0, 1}), dcn::TensorView(g_dummy, {1, 1, 1, 1}),
                               std::nullopt, std::nullopt, dcn::TensorView(g_dummy, {1, 1, n, n}, {0, 0, 0, 1}));
        },
        &what);
    EXPECT_FALSE(arg.empty()) << "no error";
    EXPECT_NE(arg, "(other exception)") << what;
}

// D8: --output and --count in one file would lose the output.
TEST(Limits, CliRefusesOneFileForTwoOutputs) {
    const std::string dir = scratch_dir();
    const std::string x = path_in(dir, "x.npy"), rois = path_in(dir, "rois.npy"), y = path_in(dir, "y.npy");
    const std::vector<float> xv(1 * 4 * 5 * 5, 0.5f), rv{0, 0, 0, 3, 3};
    dcn_npy::write_npy(x, {1, 4, 5, 5}, xv.data(), xv.size());
    dcn_npy::write_npy(rois, {1, 5}, rv.data(), rv.size());
    const dcn_test::CliResult r = run_cli({"deform-psroi-pool", "--input", x, "--rois", rois, "--output-dim", "1",
                                           "--group-size", "2", "--pooled-size", "2", "--output", y, "--count", y},
                                          dir);
    EXPECT_TRUE(fails_with(r, 2, {"--output", "--count"}));
}

// D8: a FIFO (or any non-regular file) as an input is refused, not read forever.
TEST(Limits, CliRefusesANonRegularInputFile) {
    const std::string dir = scratch_dir();
    const std::string fifo = path_in(dir, "fifo.npy"), rois = path_in(dir, "rois.npy"), y = path_in(dir, "y.npy");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const std::vector<float> rv{0, 0, 0, 3, 3};
    dcn_npy::write_npy(rois, {1, 5}, rv.data(), rv.size());
    const dcn_test::CliResult r =
        run_cli({"deform-roi-pool", "--input", fifo, "--rois", rois, "--output-size", "2", "--output", y}, dir);
    EXPECT_TRUE(fails_with(r, 1, {"fifo.npy", "not a regular file"}));
}

// D4: the CLI checks a call from the files' headers before it reads their
// data or allocates an output. Under a 1 GiB address-space limit, a call
// whose output would be 1.6 GB, or whose input is a 2.25 GB (sparse) file,
// fails with the real problem, not "out of memory". (Not in the sanitizer
// builds: ASan reserves more address space than the limit.)
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DCN_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DCN_SANITIZED 1
#endif
#endif

// run_cli under a 1 GiB limit on the address space.
dcn_test::CliResult run_cli_in_1gib(const std::vector<std::string> &args, const std::string &dir) {
    return run_cli(args, dir, "ulimit -v 1048576; ");
}

TEST(Limits, CliChecksTheCallBeforeAllocatingTheOutput) {
#ifdef DCN_SANITIZED
    GTEST_SKIP() << "sanitizer build: the address-space limit does not apply";
#endif
    const std::string dir = scratch_dir();
    const std::string x = path_in(dir, "x.npy"), off = path_in(dir, "off.npy"), w = path_in(dir, "w.npy"),
                      y = path_in(dir, "y.npy");
    const std::vector<float> xv(64, 0.5f), offv(18 * 64, 0.0f), wv(9, 0.1f);
    dcn_npy::write_npy(x, {1, 1, 8, 8}, xv.data(), xv.size());
    dcn_npy::write_npy(off, {1, 18, 8, 8}, offv.data(), offv.size());  // wrong for padding 10000
    dcn_npy::write_npy(w, {1, 1, 3, 3}, wv.data(), wv.size());
    const dcn_test::CliResult r = run_cli_in_1gib(
        {"deform-conv2d", "--input", x, "--offset", off, "--weight", w, "--padding", "10000", "--output", y}, dir);
    EXPECT_TRUE(fails_with(r, 1, {"offset", "expected shape"}));
}

TEST(Limits, CliRefusesAnOversizedInputBeforeReadingIt) {
#ifdef DCN_SANITIZED
    GTEST_SKIP() << "sanitizer build: the address-space limit does not apply";
#endif
    const std::string dir = scratch_dir();
    const std::string x = path_in(dir, "big.npy"), rois = path_in(dir, "rois.npy"), y = path_in(dir, "y.npy");
    // Header of (1, 512, 1100, 1000) float32 = 2.25 GB, the data a sparse hole.
    const std::string header =
        dcn_test::npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 512, 1100, 1000), }", "");
    dcn_test::write_file(x, header);
    std::filesystem::resize_file(x, header.size() + uint64_t(512) * 1100 * 1000 * 4);
    const std::vector<float> rv{0, 0, 0, 3, 3};
    dcn_npy::write_npy(rois, {1, 5}, rv.data(), rv.size());
    const dcn_test::CliResult r =
        run_cli_in_1gib({"deform-roi-pool", "--input", x, "--rois", rois, "--output-size", "2", "--output", y}, dir);
    EXPECT_TRUE(fails_with(r, 1, {"input", "2^31"}));
    std::filesystem::remove(x);
}

// D3: deform_psroi_pool's scratch does not grow with sample_per_part^2:
// 4 RoIs, 3x3 bins, 2048 x 2048 samples per bin on a 480-byte input ran in
// 1 GB per thread before (all of a RoI's samples at once); now one row of a
// bin's samples per thread, under a 1 GiB address-space limit.
TEST(Limits, PsroiScratchDoesNotGrowWithSamplesSquared) {
#ifdef DCN_SANITIZED
    GTEST_SKIP() << "sanitizer build: the address-space limit does not apply";
#endif
    const std::string dir = scratch_dir();
    const std::string x = path_in(dir, "x.npy"), rois = path_in(dir, "rois.npy"), y = path_in(dir, "y.npy"),
                      c = path_in(dir, "count.npy");
    const std::vector<float> xv(120, 0.25f), rv{0, 0, 0, 5, 3, 0, 1, 1, 4, 2, 0, 2, 0, 5, 3, 0, 0, 1, 3, 2};
    dcn_npy::write_npy(x, {1, 2, 6, 10}, xv.data(), xv.size());
    dcn_npy::write_npy(rois, {4, 5}, rv.data(), rv.size());
    const dcn_test::CliResult r = run_cli_in_1gib({"deform-psroi-pool", "--input", x, "--rois", rois, "--output-dim", "2",
                                                   "--group-size", "1", "--pooled-size", "3", "--sample-per-part", "2048",
                                                   "--output", y, "--count", c},
                                                  dir);
    ASSERT_EQ(r.exit_code, 0) << dcn_test::describe(r);
    const std::vector<float> out = dcn_npy::read_npy(y).to_vector<float>(), count = dcn_npy::read_npy(c).to_vector<float>();
    ASSERT_EQ(out.size(), 4u * 2 * 3 * 3);
    int64_t bins_with_samples = 0;
    for (size_t i = 0; i < out.size(); i++) {
        // A constant input: every bin with samples inside averages to it (up
        // to float32 sums of up to 4 M terms: a few percent at worst).
        if (count[i] > 0) {
            EXPECT_NEAR(out[i], 0.25f, 0.25f * 0.05f) << i;
            bins_with_samples++;
        }
        EXPECT_LE(count[i], 2048.0f * 2048.0f);
    }
    EXPECT_GT(bins_with_samples, 0);
}

// The same for deform_psroi_pool's backward (grad_input's scatter and
// grad_trans's sums): one row of a bin's samples per task, not the bin's
// sample_per_part^2 (at 4096, 470 MB a thread). 1 RoI, 1 bin, 4096 x 4096
// samples, under a 1 GiB address-space limit.
TEST(Limits, PsroiBackwardScratchDoesNotGrowWithSamplesSquared) {
#ifdef DCN_SANITIZED
    GTEST_SKIP() << "sanitizer build: the address-space limit does not apply";
#endif
    const std::string dir = scratch_dir();
    const std::string x = path_in(dir, "x.npy"), rois = path_in(dir, "rois.npy"), tr = path_in(dir, "trans.npy"),
                      gy = path_in(dir, "gy.npy"), gx = path_in(dir, "gx.npy"), gt = path_in(dir, "gt.npy");
    const std::vector<float> xv(120, 0.25f), rv{0, 1, 1, 8, 4}, tv{0.1f, -0.2f}, gv{1.0f, -1.0f};
    dcn_npy::write_npy(x, {1, 2, 6, 10}, xv.data(), xv.size());
    dcn_npy::write_npy(rois, {1, 5}, rv.data(), rv.size());
    dcn_npy::write_npy(tr, {1, 2, 1, 1}, tv.data(), tv.size());
    dcn_npy::write_npy(gy, {1, 2, 1, 1}, gv.data(), gv.size());
    const dcn_test::CliResult r =
        run_cli_in_1gib({"deform-psroi-pool", "--input", x, "--rois", rois, "--trans", tr, "--trans-std", "0.1",
                         "--output-dim", "2", "--group-size", "1", "--pooled-size", "1", "--sample-per-part", "4096",
                         "--grad-output", gy, "--grad-input", gx, "--grad-trans", gt},
                        dir);
    ASSERT_EQ(r.exit_code, 0) << dcn_test::describe(r);
    // grad_input sums to what the bin passed on: grad_output (1 and -1 for
    // the two channels) spread over the samples inside.
    const std::vector<float> g = dcn_npy::read_npy(gx).to_vector<float>();
    ASSERT_EQ(g.size(), 120u);
    double sum0 = 0, sum1 = 0;
    for (size_t i = 0; i < 60; i++) sum0 += g[i], sum1 += g[60 + i];
    EXPECT_NEAR(sum0, 1.0, 1e-3);
    EXPECT_NEAR(sum1, -1.0, 1e-3);
    // A constant input has no gradient along the trans.
    for (float v : dcn_npy::read_npy(gt).to_vector<float>()) EXPECT_NEAR(v, 0.0f, 1e-4f);
}

}  // namespace
