// The `dcn` command-line tool end to end (docs/cli.md), and the
// .npy reader / writer it uses (tools/npy.h).
//
// Every CLI test writes its inputs with dcn_npy::write_npy into a scratch
// directory (DCN_TEST_TMPDIR), runs the binary (DCN_CLI_PATH) through the
// shell with stdout and stderr captured to files, and checks the exit status,
// the stderr lines and the output against the double reference.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include "npy.h"
#include "reference/deform_conv2d_ref.h"
#include "cli_harness.h"
#include "cpu_paths.h"
#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>


namespace {

namespace fs = std::filesystem;
using namespace dcn_test;


// ---- problems -------------------------------------------------------------------

struct Problem {
    dcn_ref::DeformConv2dParams params;  // groups / offset_groups explicit
    dcn_ref::Tensor input, offset, weight;
    std::optional<dcn_ref::Tensor> mask, bias;
};

// Random problem: offsets mostly within a few pixels, some far outside.
Problem make_problem(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t kH, int64_t kW,
                     const dcn_ref::DeformConv2dParams &p, bool with_mask, bool with_bias,
                     uint32_t seed) {
    std::mt19937 rng(seed);
    Problem pr;
    pr.params = p;
    pr.input = dcn_test::random_tensor({N, C, H, W}, rng, -1.0f, 1.0f);
    pr.weight = dcn_test::random_tensor({K, C / p.groups, kH, kW}, rng, -1.0f, 1.0f);
    const std::vector<int64_t> out = dcn_ref::deform_conv2d_output_shape({N, C, H, W}, {K, C / p.groups, kH, kW}, p);
    const int64_t G = p.offset_groups;
    pr.offset = dcn_test::random_tensor({N, 2 * G * kH * kW, out[2], out[3]}, rng, -2.5f, 2.5f);
    for (float &v : pr.offset.data) {
        if (dcn_test::uniform_int(rng, 0, 9) == 0) v *= 4.0f;  // ~10% land far away
    }
    if (with_mask) pr.mask = dcn_test::random_tensor({N, G * kH * kW, out[2], out[3]}, rng, 0.0f, 1.0f);
    if (with_bias) pr.bias = dcn_test::random_tensor({K}, rng, -1.0f, 1.0f);
    return pr;
}

void save(const std::string &path, const dcn_ref::Tensor &t) { dcn_npy::write_npy(path, t.shape, t.data.data(), t.data.size()); }

struct Files {
    std::string input, offset, weight, mask, bias, output;
};

// Writes the problem's arrays into `dir`.
Files save_problem(const Problem &pr, const std::string &dir) {
    Files f;
    f.input = path_in(dir, "x.npy");
    f.offset = path_in(dir, "offset.npy");
    f.weight = path_in(dir, "w.npy");
    f.output = path_in(dir, "y.npy");
    save(f.input, pr.input);
    save(f.offset, pr.offset);
    save(f.weight, pr.weight);
    if (pr.mask) {
        f.mask = path_in(dir, "mask.npy");
        save(f.mask, *pr.mask);
    }
    if (pr.bias) {
        f.bias = path_in(dir, "bias.npy");
        save(f.bias, *pr.bias);
    }
    return f;
}

std::vector<std::string> base_args(const Files &f) {
    std::vector<std::string> a = {"deform-conv2d", "--input", f.input, "--offset", f.offset,
                                  "--weight", f.weight, "--output", f.output};
    if (!f.mask.empty()) {
        a.push_back("--mask");
        a.push_back(f.mask);
    }
    if (!f.bias.empty()) {
        a.push_back("--bias");
        a.push_back(f.bias);
    }
    return a;
}


// The CLI's output file against the double reference (test_support.h tolerance
// tolerance: relative L2 <= 1e-5 and a max-abs bound scaled by the
// reduction length; NaN never passes).
void expect_output_matches(const Problem &pr, const std::string &output_path) {
    const std::vector<double> ref = dcn_ref::deform_conv2d(
        pr.input, pr.offset, pr.weight, pr.mask ? &*pr.mask : nullptr, pr.bias ? &*pr.bias : nullptr, pr.params);
    const std::vector<int64_t> shape = dcn_ref::deform_conv2d_output_shape(pr.input.shape, pr.weight.shape, pr.params);
    dcn_npy::Array y;
    ASSERT_NO_THROW(y = dcn_npy::read_npy(output_path));
    ASSERT_EQ(y.shape, shape);
    const int64_t reduction = pr.weight.shape[1] * pr.weight.shape[2] * pr.weight.shape[3];
    EXPECT_TRUE(dcn_test::matches_reference(y.to_vector<float>(), ref, shape, reduction));
}

// Runs the CLI on the problem with extra flags and checks the result.
void run_and_check(const Problem &pr, const std::vector<std::string> &extra) {
    const std::string dir = scratch_dir();
    const Files f = save_problem(pr, dir);
    const CliResult r = run_cli(concat(base_args(f), extra), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(r.err.empty()) << describe(r);
    expect_output_matches(pr, f.output);
}

dcn_ref::DeformConv2dParams params(int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw, int g = 1,
                                   int og = 1) {
    dcn_ref::DeformConv2dParams p;
    p.stride_h = sh;
    p.stride_w = sw;
    p.pad_top = pt;
    p.pad_left = pl;
    p.pad_bottom = pb;
    p.pad_right = pr;
    p.dilation_h = dh;
    p.dilation_w = dw;
    p.groups = g;
    p.offset_groups = og;
    return p;
}

// A small valid problem for the error tests.
Problem small_problem(uint32_t seed = 7) {
    return make_problem(1, 2, 5, 5, 3, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1), false, false, seed);
}

// ---- hand-made .npy bytes ------------------------------------------------------

// A .npy file with the given version and header dict text (padded as numpy
// does), followed by `data`.
// The message of the std::runtime_error that read_npy throws, or "" if none.
std::string read_error(const std::string &path) {
    try {
        dcn_npy::read_npy(path);
    } catch (const std::runtime_error &e) {
        return e.what();
    }
    return "";
}

}  // namespace

// =============================================================================
// dcn_npy
// =============================================================================

TEST(NpyTest, RoundTripScalar) {
    const std::string p = path_in(scratch_dir(), "scalar.npy");
    const dcn_npy::Array a = dcn_npy::Array::of<float>({}, {3.25f});
    dcn_npy::write_npy(p, a);
    const dcn_npy::Array b = dcn_npy::read_npy(p);
    EXPECT_TRUE(b.shape.empty());
    EXPECT_EQ(b.to_vector<float>(), a.to_vector<float>());
    EXPECT_NE(read_file(p).find("'shape': ()"), std::string::npos);
}

TEST(NpyTest, RoundTrip1D) {
    const std::string p = path_in(scratch_dir(), "vec.npy");
    const dcn_npy::Array a = dcn_npy::Array::of<float>({5}, {1.0f, -2.5f, 0.0f, 1e-30f, 7.0e30f});
    dcn_npy::write_npy(p, a);
    const dcn_npy::Array b = dcn_npy::read_npy(p);
    EXPECT_EQ(b.shape, (std::vector<int64_t>{5}));
    EXPECT_EQ(b.to_vector<float>(), a.to_vector<float>());
    EXPECT_NE(read_file(p).find("'shape': (5,)"), std::string::npos);
}

TEST(NpyTest, RoundTrip4D) {
    const std::string p = path_in(scratch_dir(), "t4.npy");
    std::vector<float> v;
    for (int i = 0; i < 120; ++i) v.push_back(static_cast<float>(i) * 0.5f - 17.0f);
    const dcn_npy::Array a = dcn_npy::Array::of<float>({2, 3, 4, 5}, v);
    dcn_npy::write_npy(p, a);
    const dcn_npy::Array b = dcn_npy::read_npy(p);
    EXPECT_EQ(b.shape, a.shape);
    EXPECT_EQ(b.to_vector<float>(), a.to_vector<float>());
    EXPECT_EQ(b.numel(), 120);
    EXPECT_NE(read_file(p).find("'shape': (2, 3, 4, 5)"), std::string::npos);
}

TEST(NpyTest, RoundTripEmpty) {
    const std::string p = path_in(scratch_dir(), "empty.npy");
    dcn_npy::write_npy(p, {0, 3}, nullptr, 0);
    const dcn_npy::Array b = dcn_npy::read_npy(p);
    EXPECT_EQ(b.shape, (std::vector<int64_t>{0, 3}));
    EXPECT_TRUE(b.bytes.empty());
}

TEST(NpyTest, WritesVersion1HeaderLikeNumpy) {
    const std::string p = path_in(scratch_dir(), "hdr.npy");
    dcn_npy::write_npy(p, {2, 3}, std::vector<float>(6, 1.0f).data(), 6);
    const std::string bytes = read_file(p);
    ASSERT_GE(bytes.size(), 10u);
    EXPECT_EQ(bytes.substr(0, 6), std::string("\x93NUMPY", 6));
    EXPECT_EQ(bytes[6], 1);
    EXPECT_EQ(bytes[7], 0);
    const size_t hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    EXPECT_EQ((10 + hlen) % 64, 0u);
    ASSERT_EQ(bytes.size(), 10 + hlen + 6 * sizeof(float));
    const std::string header = bytes.substr(10, hlen);
    EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u) << header;
    EXPECT_EQ(header.back(), '\n');
}

TEST(NpyTest, ReadsVersion2And3Headers) {
    const std::string dir = scratch_dir();
    const std::vector<float> v = {1.5f, -2.0f, 3.0f, 4.25f, 5.0f, 6.0f};
    for (int major : {2, 3}) {
        const std::string p = path_in(dir, "v" + std::to_string(major) + ".npy");
        write_file(p, npy_bytes(major, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                                float_bytes(v)));
        const dcn_npy::Array a = dcn_npy::read_npy(p);
        EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 2})) << "version " << major;
        EXPECT_EQ(a.to_vector<float>(), v) << "version " << major;
    }
}

// A shape with a 0 and huge other dimensions holds no elements (numpy allows
// it): numel() is 0, not an overflowing product (found by fuzz_npy under
// UBSan: 16973610941375 * 555563 * 0).
TEST(NpyTest, EmptyShapeWithHugeDimensionsHasNoElements) {
    const std::string p = path_in(scratch_dir(), "empty_huge.npy");
    write_file(p, npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (16973610941375, 555563, 0), }", ""));
    const dcn_npy::Array a = dcn_npy::read_npy(p);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{16973610941375, 555563, 0}));
    EXPECT_EQ(a.numel(), 0);
    EXPECT_TRUE(a.bytes.empty());
}

TEST(NpyTest, ParsesHeaderVariants) {
    // Key order, double quotes, a list shape, Python 2 longs, no trailing comma.
    const std::string p = path_in(scratch_dir(), "variant.npy");
    write_file(p, npy_bytes(1, "{\"shape\": [2L, 1], \"descr\": \"<f4\", \"fortran_order\": False}",
                            float_bytes({1.0f, 2.0f})));
    const dcn_npy::Array a = dcn_npy::read_npy(p);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 1}));
    EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1.0f, 2.0f}));
}

// float64 is read (issue 9: the dtype axis); values round trip exactly.
TEST(NpyTest, ReadsAndWritesFloat64) {
    const std::string p = path_in(scratch_dir(), "f8.npy");
    const double v[2] = {1.0 + std::ldexp(1.0, -40), -2.5};
    write_file(p, npy_bytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", double_bytes({v[0], v[1]})));
    const dcn_npy::Array a = dcn_npy::read_npy(p);
    EXPECT_EQ(a.dtype, dcn::DType::float64);
    EXPECT_TRUE(a.to_vector<float>().empty());
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
    EXPECT_EQ(a.to_vector<double>(), (std::vector<double>{v[0], v[1]}));
    const std::string q = path_in(scratch_dir(), "f8_out.npy");
    dcn_npy::write_npy(q, a);
    EXPECT_EQ(read_file(q), read_file(p));  // numpy.save's bytes
}

TEST(NpyTest, RejectsOtherDtypes) {
    const std::string dir = scratch_dir();
    const struct {
        const char *descr, *shown;
    } cases[] = {{">f4", "'>f4' (float32, big-endian)"},
                 {"<i4", "'<i4' (int32)"},
                 {">f2", "'>f2' (float16, big-endian)"},
                 {"<V4", "'<V4'"},
                 {"|u1", "'|u1' (uint8)"},
                 {"|O", "'|O' (Python object)"}};
    for (const auto &c : cases) {
        const std::string p = path_in(dir, "dtype.npy");
        write_file(p, npy_bytes(1, std::string("{'descr': '") + c.descr + "', 'fortran_order': False, 'shape': (1,), }",
                                std::string(4, '\0')));
        const std::string msg = read_error(p);
        EXPECT_NE(msg.find(c.shown), std::string::npos) << msg;
        EXPECT_NE(msg.find("expected '<f4' (float32)"), std::string::npos) << msg;
    }
    const std::string p = path_in(dir, "record.npy");
    write_file(p, npy_bytes(1, "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }",
                            std::string(8, '\0')));
    EXPECT_NE(read_error(p).find("structured dtype"), std::string::npos) << read_error(p);
}

// float16 ('<f2') and bfloat16 ('<V2', what numpy.save writes for an
// ml_dtypes.bfloat16 array) are read and written, bytes as numpy's.
TEST(NpyTest, ReadsAndWrites16BitFloats) {
    const std::string dir = scratch_dir();
    const std::vector<dcn::float16_t> h = {dcn::float16_t::from_float(1.5f), dcn::float16_t::from_float(-65504.0f)};
    const std::vector<dcn::bfloat16_t> b = {dcn::bfloat16_t::from_float(3.0e38f), dcn::bfloat16_t::from_float(-0.125f)};
    const std::string ph = path_in(dir, "f2.npy"), pb = path_in(dir, "v2.npy");
    write_file(ph, npy_bytes(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", raw_bytes(h)));
    write_file(pb, npy_bytes(1, "{'descr': '<V2', 'fortran_order': False, 'shape': (2,), }", raw_bytes(b)));
    const dcn_npy::Array ah = dcn_npy::read_npy(ph), ab = dcn_npy::read_npy(pb);
    EXPECT_EQ(ah.dtype, dcn::DType::float16);
    EXPECT_EQ(ab.dtype, dcn::DType::bfloat16);
    EXPECT_EQ(ah.values(), (std::vector<double>{1.5, -65504.0}));
    EXPECT_EQ(ab.values(), (std::vector<double>{double(b[0].to_float()), -0.125}));
    EXPECT_EQ(ah.dtype_str(), "'<f2' (float16)");
    const std::string qh = path_in(dir, "f2_out.npy"), qb = path_in(dir, "v2_out.npy");
    dcn_npy::write_npy(qh, ah);
    dcn_npy::write_npy(qb, ab);
    EXPECT_EQ(read_file(qh), read_file(ph));
    EXPECT_EQ(read_file(qb), read_file(pb));
}

TEST(NpyTest, RejectsFortranOrder) {
    const std::string p = path_in(scratch_dir(), "fortran.npy");
    write_file(p, npy_bytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", float_bytes({1, 2, 3, 4})));
    EXPECT_EQ(read_error(p).rfind(p + ": fortran_order arrays are not supported", 0), 0u) << read_error(p);
}

TEST(NpyTest, RejectsTruncatedAndTrailingData) {
    const std::string dir = scratch_dir();
    const std::string p = path_in(dir, "trunc.npy");
    write_file(p, npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 4, 4), }", std::string(100, '\0')));
    EXPECT_EQ(read_error(p), p + ": truncated: header says 1x3x4x4 = 48 float32 elements (192 bytes), file has 100 bytes of data");

    const std::string q = path_in(dir, "trailing.npy");
    write_file(q, npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", std::string(12, '\0')));
    EXPECT_NE(read_error(q).find("trailing"), std::string::npos) << read_error(q);

    // Ends inside the header.
    const std::string r = path_in(dir, "short_header.npy");
    const std::string full = npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "");
    write_file(r, full.substr(0, 30));
    EXPECT_EQ(read_error(r).rfind(r + ": truncated", 0), 0u) << read_error(r);

    // Ends inside the preamble.
    write_file(r, full.substr(0, 7));
    EXPECT_EQ(read_error(r).rfind(r + ": truncated", 0), 0u) << read_error(r);
}

TEST(NpyTest, RejectsNonNpyFiles) {
    const std::string dir = scratch_dir();
    const std::string p = path_in(dir, "text.npy");
    write_file(p, "this is not a numpy file, just text\n");
    EXPECT_EQ(read_error(p), p + ": not a .npy file (bad magic)");
    write_file(p, "");
    EXPECT_NE(read_error(p).find("not a .npy file"), std::string::npos) << read_error(p);
    const std::string missing = path_in(dir, "does_not_exist.npy");
    EXPECT_EQ(read_error(missing).rfind(missing + ": cannot open", 0), 0u) << read_error(missing);
    EXPECT_NE(read_error(dir).find("directory"), std::string::npos) << read_error(dir);
}

TEST(NpyTest, RejectsUnsupportedVersion) {
    const std::string p = path_in(scratch_dir(), "v9.npy");
    std::string bytes = npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'));
    bytes[6] = 9;
    write_file(p, bytes);
    EXPECT_NE(read_error(p).find("unsupported .npy format version 9.0"), std::string::npos) << read_error(p);
}

TEST(NpyTest, RejectsAbsurdHeaderLengthAndShapes) {
    const std::string dir = scratch_dir();
    const std::string p = path_in(dir, "absurd.npy");
    write_file(p, std::string("\x93NUMPY\x02\x00\xff\xff\xff\x7f{}", 14));
    EXPECT_NE(read_error(p).find("header length"), std::string::npos) << read_error(p);

    // Element count overflows int64 (and the byte count even more so).
    write_file(p, npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", ""));
    EXPECT_NE(read_error(p).find("too large"), std::string::npos) << read_error(p);
    write_file(p, npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", ""));
    EXPECT_NE(read_error(p).find("too large"), std::string::npos) << read_error(p);
    // Large but representable: must be reported as truncated, not allocated.
    write_file(p, npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000), }", ""));
    EXPECT_NE(read_error(p).find("truncated"), std::string::npos) << read_error(p);
    write_file(p, npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }", ""));
    EXPECT_NE(read_error(p).find("negative"), std::string::npos) << read_error(p);
    // Malformed dicts.
    for (const char *dict : {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
                             "{'descr': '<f4', 'fortran_order': False}",
                             "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }",
                             "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
                             "not a dict"}) {
        write_file(p, npy_bytes(1, dict, std::string(8, '\0')));
        EXPECT_NE(read_error(p).find("malformed .npy header"), std::string::npos) << dict << " -> " << read_error(p);
    }
}

TEST(NpyTest, WriteErrors) {
    const std::string dir = scratch_dir();
    const std::vector<float> v(5, 0.0f);
    EXPECT_THROW(dcn_npy::write_npy(path_in(dir, "bad.npy"), {2, 3}, v.data(), v.size()), std::runtime_error);
    const std::string unwritable = path_in(dir, "no_such_dir/y.npy");
    try {
        dcn_npy::write_npy(unwritable, {5}, v.data(), v.size());
        ADD_FAILURE() << "expected an exception";
    } catch (const std::runtime_error &e) {
        EXPECT_EQ(std::string(e.what()).rfind(unwritable + ": cannot write", 0), 0u) << e.what();
    }
}

// =============================================================================
// dcn CLI: correct results
// =============================================================================

TEST(CliTest, MaskAndBias) {
    const Problem pr = make_problem(2, 3, 7, 6, 4, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1), true, true, 11);
    run_and_check(pr, {"--padding", "1"});
}

TEST(CliTest, NoMaskNoBiasDefaults) {
    const Problem pr = make_problem(1, 3, 6, 5, 2, 3, 3, params(1, 1, 0, 0, 0, 0, 1, 1), false, false, 12);
    run_and_check(pr, {});
}

TEST(CliTest, AsymmetricPaddingTLBR) {
    const Problem pr = make_problem(1, 2, 5, 6, 3, 3, 2, params(1, 1, 2, 0, 1, 3, 1, 1), true, false, 13);
    run_and_check(pr, {"--padding", "2,0,1,3"});
}

TEST(CliTest, PaddingHW) {
    const Problem pr = make_problem(1, 2, 5, 6, 3, 3, 3, params(1, 1, 1, 2, 1, 2, 1, 1), false, true, 14);
    run_and_check(pr, {"--padding", "1,2"});
}

TEST(CliTest, StrideHW) {
    const Problem pr = make_problem(2, 3, 9, 8, 4, 3, 3, params(2, 1, 1, 1, 1, 1, 1, 1), true, true, 15);
    run_and_check(pr, {"--stride", "2,1", "--padding", "1"});
}

TEST(CliTest, StrideSingle) {
    const Problem pr = make_problem(1, 2, 9, 8, 3, 3, 3, params(2, 2, 0, 0, 0, 0, 1, 1), false, false, 16);
    run_and_check(pr, {"--stride", "2"});
}

TEST(CliTest, Dilation) {
    const Problem pr = make_problem(1, 3, 9, 10, 2, 3, 3, params(1, 1, 2, 2, 2, 2, 2, 2), true, false, 17);
    run_and_check(pr, {"--dilation", "2", "--padding", "2"});
}

TEST(CliTest, DilationHW) {
    const Problem pr = make_problem(1, 2, 9, 10, 2, 3, 3, params(1, 1, 0, 0, 0, 0, 2, 1), false, true, 18);
    run_and_check(pr, {"--dilation", "2,1"});
}

TEST(CliTest, GroupsAndOffsetGroupsExplicit) {
    const Problem pr = make_problem(2, 4, 6, 6, 6, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1, 2, 2), true, true, 19);
    run_and_check(pr, {"--padding", "1", "--groups", "2", "--offset-groups", "2"});
}

TEST(CliTest, GroupsAndOffsetGroupsInferred) {
    // Same shapes as above without the flags: the shapes imply groups = 2
    // (C = 4, weight.shape[1] = 2) and offset groups = 2 (offset has
    // 2*2*3*3 = 36 channels), as torchvision infers them.
    const Problem pr = make_problem(2, 4, 6, 6, 6, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1, 2, 2), true, true, 19);
    run_and_check(pr, {"--padding", "1"});
    // Offset groups alone (groups 1, G = 4).
    const Problem pr2 = make_problem(1, 4, 5, 5, 3, 2, 2, params(1, 1, 0, 0, 0, 0, 1, 1, 1, 4), false, false, 20);
    run_and_check(pr2, {});
}

TEST(CliTest, DeviceCpuExplicit) {
    const Problem pr = make_problem(1, 2, 5, 5, 2, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1), true, true, 21);
    run_and_check(pr, {"--padding", "1", "--device", "cpu"});
}

TEST(CliTest, Repeat) {
    const Problem pr = make_problem(1, 3, 8, 8, 4, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1), true, true, 22);
    const std::string dir = scratch_dir();
    const Files f = save_problem(pr, dir);
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1", "--repeat", "3"}), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_FALSE(r.err_lines.empty()) << describe(r);
    EXPECT_TRUE(std::regex_match(r.err_lines.back(), std::regex("^median_ms=[0-9.]+ gflops=[0-9.]+$")))
        << describe(r);
    expect_output_matches(pr, f.output);
}

TEST(CliTest, Info) {
    const std::string dir = scratch_dir();
    const CliResult r = run_cli({"info"}, dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    const dcn::BuildInfo bi = dcn::build_info();
    EXPECT_NE(r.out.find("dcn version: " + bi.version + "\n"), std::string::npos) << r.out;
    EXPECT_FALSE(bi.halide_version.empty());
    EXPECT_NE(r.out.find("halide version: " + bi.halide_version + "\n"), std::string::npos) << r.out;
    for (dcn::CpuIsa isa : dcn::compiled_cpu_isas()) {
        const std::string line = std::string("cpu target: ") + dcn::cpu_isa_name(isa) +
                                 " supported=" + (dcn::cpu_supports(isa) ? "yes" : "no");
        EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
    }
    for (const std::string &t : bi.cpu_targets) EXPECT_NE(r.out.find(t), std::string::npos) << t << "\n" << r.out;
    for (const std::string &k : bi.kernels) EXPECT_NE(r.out.find("kernel: " + k + "\n"), std::string::npos) << k;
    EXPECT_NE(r.out.find("cpu target used: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cpu features: "), std::string::npos) << r.out;
    // The kernels' worker-thread count: at least 1, even before any kernel ran.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("(^|\n)threads: ([0-9]+)\n"))) << r.out;
    EXPECT_GE(std::stoi(m[2].str()), 1) << "dcn::num_threads() as printed by `dcn info`\n" << r.out;
    EXPECT_NE(r.out.find("usable devices: cpu"), std::string::npos) << r.out;
    // Every line is "key: value".
    for (const std::string &line : split_lines(r.out)) EXPECT_NE(line.find(": "), std::string::npos) << line;
}

TEST(CliTest, Help) {
    const std::string dir = scratch_dir();
    CliResult r = run_cli({"--help"}, dir);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("deform-conv2d"), std::string::npos) << describe(r);
    EXPECT_TRUE(r.err.empty()) << describe(r);

    r = run_cli({"deform-conv2d", "--help"}, dir);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    for (const char *flag : {"--input", "--offset", "--weight", "--mask", "--bias", "--stride", "--padding",
                             "--dilation", "--groups", "--offset-groups", "--output", "--device", "--repeat"}) {
        EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << describe(r);
    }

    r = run_cli({"info", "--help"}, dir);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_FALSE(r.out.empty());

    r = run_cli({}, dir);  // no verb: usage on stderr, exit 2
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_TRUE(r.out.empty()) << describe(r);
    EXPECT_NE(r.err.find("usage"), std::string::npos) << describe(r);
}

// =============================================================================
// dcn CLI: errors. Each gives a non-zero exit status (2 usage, 1 otherwise)
// and exactly one line on stderr, "dcn: error: ...".
// =============================================================================

// The problem's tensors as T in .npy files named <tensor><suffix>.npy (f's
// inputs point at them); each tensor keeps the values its file holds
// (rounded to a 16-bit T), so that the reference sees what the CLI reads.
template <typename T>
void save_problem_as(Problem &pr, const std::string &dir, const std::string &suffix, Files &f) {
    auto save = [&](const std::string &name, dcn_ref::Tensor &t) {
        const std::vector<T> v = dcn_test::as<T>(t.data);
        if constexpr (dcn_test::is_storage16_v<T>) t.data = dcn_test::to_float(v);
        const std::string path = path_in(dir, name + suffix + ".npy");
        dcn_npy::write_npy(path, t.shape, v.data(), v.size());
        return path;
    };
    f.input = save("x", pr.input);
    f.offset = save("offset", pr.offset);
    f.weight = save("w", pr.weight);
    if (pr.mask) f.mask = save("mask", *pr.mask);
    if (pr.bias) f.bias = save("bias", *pr.bias);
}

// float64 .npy files in, float64 out, to the double reference's 1e-12.
TEST(CliTest, Float64InFloat64Out) {
    const std::string dir = scratch_dir();
    Problem pr = small_problem();
    Files f = save_problem(pr, dir);
    save_problem_as<double>(pr, dir, "8", f);
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1"}), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    const dcn_npy::Array y = dcn_npy::read_npy(f.output);
    ASSERT_EQ(y.dtype, dcn::DType::float64) << "the output has the inputs' dtype";
    const std::vector<double> ref = dcn_ref::deform_conv2d(pr.input, pr.offset, pr.weight, pr.mask ? &*pr.mask : nullptr,
                                                           pr.bias ? &*pr.bias : nullptr, pr.params);
    const int64_t reduction = pr.weight.shape[1] * pr.weight.shape[2] * pr.weight.shape[3];
    EXPECT_TRUE(dcn_test::matches_reference(y.to_vector<double>(), ref, y.shape, reduction, dcn_test::Tolerance::float64()));
}

// float16 and bfloat16 .npy files in, the same dtype out, at the 16-bit
// bound (docs/operators.md) of the double reference on the rounded inputs.
template <typename H>
void check_cli_16bit(dcn::DType dtype, double u) {
    const std::string dir = scratch_dir();
    Problem pr = small_problem();
    Files f = save_problem(pr, dir);
    save_problem_as<H>(pr, dir, "2", f);
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1"}), dir);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    const dcn_npy::Array y = dcn_npy::read_npy(f.output);
    ASSERT_EQ(y.dtype, dtype) << "the output has the inputs' dtype";
    const std::vector<double> ref = dcn_ref::deform_conv2d(pr.input, pr.offset, pr.weight, pr.mask ? &*pr.mask : nullptr,
                                                           pr.bias ? &*pr.bias : nullptr, pr.params);
    const int64_t reduction = pr.weight.shape[1] * pr.weight.shape[2] * pr.weight.shape[3];
    // The CLI runs the best path here; where it rounds the GEMM's operands
    // (bfloat16 on avx512_bf16) the bound adds u * sum |terms|
    // (Tolerance::with_term_sums).
    dcn_test::Tolerance tol = dcn_test::Tolerance::storage16(u);
    const dcn::CpuIsa ran = dcn::cpu_path_for("deform_conv2d", "forward", dtype, dcn_test::usable_isas().front());
    if (dcn_test::rounds_gemm_operands(ran, dtype))
        tol = tol.with_term_sums(u, dcn_ref::deform_conv2d_term_sums(pr.input, pr.offset, pr.weight,
                                                                     pr.mask ? &*pr.mask : nullptr, pr.params));
    EXPECT_TRUE(dcn_test::matches_reference(y.values(), ref, y.shape, reduction, tol));
}

TEST(CliTest, Float16InFloat16Out) { check_cli_16bit<dcn::float16_t>(dcn::DType::float16, 1.0 / 2048); }
TEST(CliTest, BFloat16InBFloat16Out) { check_cli_16bit<dcn::bfloat16_t>(dcn::DType::bfloat16, 1.0 / 256); }

// One call, one dtype: a float64 input with float32 offsets is refused,
// naming both files and both dtypes.
TEST(CliTest, ErrorMixedDtypes) {
    const std::string dir = scratch_dir();
    Files f = save_problem(small_problem(), dir);
    f.input = path_in(dir, "x_f8.npy");
    std::vector<double> v(1 * 2 * 5 * 5, 0.5);
    write_file(f.input, npy_bytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 5, 5), }", double_bytes(v)));
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1"}), dir);
    EXPECT_TRUE(fails_with(r, 1, {"x_f8.npy", "'<f8' (float64)", "float32"}));
    EXPECT_FALSE(fs::exists(f.output));
}

TEST(CliTest, ErrorTruncatedNpy) {
    const std::string dir = scratch_dir();
    Files f = save_problem(small_problem(), dir);
    const std::string full = read_file(f.weight);
    f.weight = path_in(dir, "w_trunc.npy");
    write_file(f.weight, full.substr(0, full.size() - 10));
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1"}), dir);
    EXPECT_TRUE(fails_with(r, 1, {"w_trunc.npy", "truncated"}));
    EXPECT_FALSE(fs::exists(f.output));
}

TEST(CliTest, ErrorNotNpyFile) {
    const std::string dir = scratch_dir();
    Files f = save_problem(small_problem(), dir);
    f.offset = path_in(dir, "offset.txt");
    write_file(f.offset, "0.5 0.25 0.125\n1 2 3\n");
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1"}), dir);
    EXPECT_TRUE(fails_with(r, 1, {"offset.txt", "not a .npy file"}));
}

TEST(CliTest, ErrorMissingFile) {
    const std::string dir = scratch_dir();
    Files f = save_problem(small_problem(), dir);
    f.input = path_in(dir, "nonexistent.npy");
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1"}), dir);
    EXPECT_TRUE(fails_with(r, 1, {"nonexistent.npy"}));
}

TEST(CliTest, ErrorUnwritableOutput) {
    const std::string dir = scratch_dir();
    Files f = save_problem(small_problem(), dir);
    f.output = path_in(dir, "no_such_dir/y.npy");
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1"}), dir);
    EXPECT_TRUE(fails_with(r, 1, {"no_such_dir/y.npy"}));
}

TEST(CliTest, ErrorUnknownFlag) {
    const std::string dir = scratch_dir();
    const Files f = save_problem(small_problem(), dir);
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1", "--frobnicate", "3"}), dir);
    EXPECT_TRUE(fails_with(r, 2, {"--frobnicate"}));
    EXPECT_FALSE(fs::exists(f.output));
}

TEST(CliTest, ErrorMissingRequiredFlag) {
    const std::string dir = scratch_dir();
    const Files f = save_problem(small_problem(), dir);
    const CliResult r = run_cli({"deform-conv2d", "--input", f.input, "--offset", f.offset, "--weight", f.weight}, dir);
    EXPECT_TRUE(fails_with(r, 2, {"--output"}));
    const CliResult r2 = run_cli({"deform-conv2d", "--input", f.input, "--weight", f.weight, "--output", f.output}, dir);
    EXPECT_TRUE(fails_with(r2, 2, {"--offset"}));
}

TEST(CliTest, ErrorFlagWithoutValue) {
    const std::string dir = scratch_dir();
    const Files f = save_problem(small_problem(), dir);
    EXPECT_TRUE(fails_with(run_cli(concat(base_args(f), {"--padding"}), dir), 2, {"--padding"}));
    EXPECT_TRUE(fails_with(run_cli(concat(base_args(f), {"--stride", "--padding", "1"}), dir), 2, {"--stride"}));
}

TEST(CliTest, ErrorMalformedNumbers) {
    const std::string dir = scratch_dir();
    const Files f = save_problem(small_problem(), dir);
    for (const std::vector<std::string> &extra : std::vector<std::vector<std::string>>{
             {"--stride", "1x"}, {"--stride", "1,2,3"}, {"--padding", "1,2,3"}, {"--padding", "a"},
             {"--dilation", "1.5"}, {"--groups", ""}, {"--repeat", "99999999999999"}, {"--padding", "1,,1"}}) {
        EXPECT_TRUE(fails_with(run_cli(concat(base_args(f), extra), dir), 2)) << extra[0] << " " << extra[1];
    }
}

TEST(CliTest, ErrorStrideZeroAndOtherRanges) {
    const std::string dir = scratch_dir();
    const Files f = save_problem(small_problem(), dir);
    const CliResult r = run_cli(concat(base_args(f), {"--stride", "0"}), dir);
    EXPECT_TRUE(fails_cleanly(r));
    EXPECT_NE(r.err.find("stride"), std::string::npos) << describe(r);
    for (const std::vector<std::string> &extra : std::vector<std::vector<std::string>>{
             {"--stride", "1,0"}, {"--dilation", "0"}, {"--padding", "-1"}, {"--repeat", "0"}, {"--groups", "-2"}}) {
        EXPECT_TRUE(fails_cleanly(run_cli(concat(base_args(f), extra), dir))) << extra[0] << " " << extra[1];
    }
    EXPECT_FALSE(fs::exists(f.output));
}

TEST(CliTest, ErrorWrongShapedOffset) {
    const std::string dir = scratch_dir();
    Problem pr = small_problem();
    // Output is 5x5 (3x3 kernel, padding 1); give a 5x4 offset.
    pr.offset = dcn_test::zeros({1, 18, 5, 4});
    const Files f = save_problem(pr, dir);
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1"}), dir);
    EXPECT_TRUE(fails_with(r, 1, {"offset"}));
    EXPECT_FALSE(fs::exists(f.output));
}

TEST(CliTest, ErrorGroupsContradictShapes) {
    const std::string dir = scratch_dir();
    const Problem pr = make_problem(1, 4, 5, 5, 4, 3, 3, params(1, 1, 1, 1, 1, 1, 1, 1, 2, 1), false, false, 23);
    const Files f = save_problem(pr, dir);
    // weight.shape[1] = 2 with C = 4 means groups = 2; 4 contradicts it.
    EXPECT_TRUE(fails_with(run_cli(concat(base_args(f), {"--padding", "1", "--groups", "4"}), dir), 1));
    // The offset has 2*1*9 channels: 2 offset groups contradict it.
    EXPECT_TRUE(fails_with(run_cli(concat(base_args(f), {"--padding", "1", "--offset-groups", "2"}), dir), 1));
    EXPECT_FALSE(fs::exists(f.output));
}

TEST(CliTest, ErrorDeviceCuda) {
    std::string why;
    if (dcn::device_usable(dcn::Device::cuda, &why)) GTEST_SKIP() << "CUDA is usable here";
    const std::string dir = scratch_dir();
    const Files f = save_problem(small_problem(), dir);
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1", "--device", "cuda"}), dir);
    EXPECT_TRUE(fails_with(r, 1, {"CUDA", "not usable"}));
    EXPECT_FALSE(fs::exists(f.output));
}

TEST(CliTest, DeviceOpenclMatchesReference) {
    std::string why;
    if (!dcn::device_usable(dcn::Device::opencl, &why)) GTEST_SKIP() << "OpenCL not usable here: " << why;
    run_and_check(small_problem(), {"--padding", "1", "--device", "opencl"});
}

TEST(CliTest, ErrorDeviceUnknown) {
    const std::string dir = scratch_dir();
    const Files f = save_problem(small_problem(), dir);
    const CliResult r = run_cli(concat(base_args(f), {"--padding", "1", "--device", "tpu"}), dir);
    EXPECT_TRUE(fails_with(r, 2, {"tpu"}));
}

TEST(CliTest, ErrorUnknownVerbAndStrayArguments) {
    const std::string dir = scratch_dir();
    EXPECT_TRUE(fails_with(run_cli({"deform-conv3d"}, dir), 2, {"deform-conv3d"}));
    EXPECT_TRUE(fails_with(run_cli({"info", "extra"}, dir), 2, {"extra"}));
    EXPECT_TRUE(fails_with(run_cli({"info", "--input", "x.npy"}, dir), 2, {"--input"}));
    const Files f = save_problem(small_problem(), dir);
    EXPECT_TRUE(fails_with(run_cli(concat(base_args(f), {"--input", f.input}), dir), 2, {"--input"}));
}
