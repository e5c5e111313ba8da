// dcn's cuBLASLt GEMMs (runtime/src/cublaslt.h) without a GPU: the
// constants it declares checked against the toolkit's headers (where they
// are installed), and the GEMMs as deform_conv2d's GPU path states them
// run through a fake cuBLASLt (tests/fake_cublaslt/: cuBLASLt's documented
// semantics on host memory) against a double-precision reference: the
// row-order layouts, leading dimensions, batch strides, transposes, the
// bias epilogue, beta, the TF32 compute type, the caller's stream and the
// alignments given to the heuristic.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cublaslt.h"
#include "dcn/dcn.h"

#ifdef DCN_TEST_CUBLASLT_HEADERS
#include <cublasLt.h>
namespace c = dcn::detail::cublaslt;
static_assert(c::kComputeF32 == CUBLAS_COMPUTE_32F && c::kComputeF32FastTf32 == CUBLAS_COMPUTE_32F_FAST_TF32);
static_assert(c::kDataF32 == CUDA_R_32F && c::kDataF16 == CUDA_R_16F && c::kDataBf16 == CUDA_R_16BF);
static_assert(c::kOpN == CUBLAS_OP_N && c::kOpT == CUBLAS_OP_T && c::kOrderRow == CUBLASLT_ORDER_ROW);
static_assert(c::kLayoutOrder == CUBLASLT_MATRIX_LAYOUT_ORDER && c::kLayoutBatchCount == CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT &&
              c::kLayoutBatchStride == CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET);
static_assert(c::kDescTransA == CUBLASLT_MATMUL_DESC_TRANSA && c::kDescTransB == CUBLASLT_MATMUL_DESC_TRANSB &&
              c::kDescEpilogue == CUBLASLT_MATMUL_DESC_EPILOGUE && c::kDescBiasPointer == CUBLASLT_MATMUL_DESC_BIAS_POINTER);
static_assert(c::kEpilogueDefault == CUBLASLT_EPILOGUE_DEFAULT && c::kEpilogueBias == CUBLASLT_EPILOGUE_BIAS);
static_assert(c::kPrefMaxWorkspace == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES &&
              c::kPrefMinAlignA == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES &&
              c::kPrefMinAlignA + 3 == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES);
static_assert(c::kStatusSuccess == CUBLAS_STATUS_SUCCESS);
static_assert(sizeof(c::Algo) == sizeof(cublasLtMatmulAlgo_t) &&
              sizeof(c::HeuristicResult) == sizeof(cublasLtMatmulHeuristicResult_t) &&
              offsetof(c::HeuristicResult, state) == offsetof(cublasLtMatmulHeuristicResult_t, state));
#endif

namespace {

using dcn::detail::GemmDesc;

bool with_fake() { return std::getenv("DCN_TEST_FAKE_CUBLASLT") != nullptr; }

template <typename T>
T *fake_symbol(const char *name) {
    void *lib = dlopen("libcublasLt.so.13", RTLD_NOW | RTLD_NOLOAD);
    return lib ? static_cast<T *>(dlsym(lib, name)) : nullptr;
}

// A matrix of `rows` x `cols` stored in row order with rows `ld` apart,
// `batch` of them `stride` apart; element values small integers (exact in
// every dtype), the padding NaN so that a read of it shows.
struct Stored {
    dcn::DType dtype;
    std::vector<uint16_t> bits16;
    std::vector<float> f32;
    Stored(dcn::DType t, size_t n) : dtype(t) {
        if (t == dcn::DType::float32) f32.assign(n, NAN);
        else bits16.assign(n, t == dcn::DType::bfloat16 ? dcn::bfloat16_t::from_float(NAN).bits : dcn::float16_t::from_float(NAN).bits);
    }
    void set(size_t i, float v) {
        if (dtype == dcn::DType::float32) f32[i] = v;
        else if (dtype == dcn::DType::bfloat16) bits16[i] = dcn::bfloat16_t::from_float(v).bits;
        else bits16[i] = dcn::float16_t::from_float(v).bits;
    }
    float get(size_t i) const {
        if (dtype == dcn::DType::float32) return f32[i];
        if (dtype == dcn::DType::bfloat16) return dcn::bfloat16_t{bits16[i]}.to_float();
        return dcn::float16_t{bits16[i]}.to_float();
    }
    void *data() { return dtype == dcn::DType::float32 ? static_cast<void *>(f32.data()) : bits16.data(); }
};

struct Case {
    dcn::DType dtype;
    bool trans_a, trans_b, bias, accumulate, tf32;
};

void run_case(const Case &cs) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> small(-3, 3);
    const int64_t m = 5, n = 7, k = 6;
    const int batch = 3;
    // Padded rows and batches, as a group's slice of deform_conv2d's tensors.
    const int64_t a_rows = cs.trans_a ? k : m, a_cols = cs.trans_a ? m : k;
    const int64_t b_rows = cs.trans_b ? n : k, b_cols = cs.trans_b ? k : n;
    const int64_t lda = a_cols + 2, ldb = b_cols + 1, ldd = n + 3;
    const int64_t sa = a_rows * lda + 4, sb = b_rows * ldb + 2, sd = m * ldd + 5;
    Stored A(cs.dtype, size_t(sa * batch)), B(cs.dtype, size_t(sb * batch)), D(cs.dtype, size_t(sd * batch)),
        bias(cs.dtype, size_t(m));
    std::vector<double> ref(size_t(batch * m * n));
    for (int bt = 0; bt < batch; bt++) {
        for (int64_t r = 0; r < a_rows; r++)
            for (int64_t c = 0; c < a_cols; c++) A.set(size_t(bt * sa + r * lda + c), float(small(rng)));
        for (int64_t r = 0; r < b_rows; r++)
            for (int64_t c = 0; c < b_cols; c++) B.set(size_t(bt * sb + r * ldb + c), float(small(rng)));
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) D.set(size_t(bt * sd + i * ldd + j), cs.accumulate ? float(small(rng)) : NAN);
    }
    for (int64_t i = 0; i < m; i++) bias.set(size_t(i), float(small(rng)));
    for (int bt = 0; bt < batch; bt++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = cs.accumulate ? D.get(size_t(bt * sd + i * ldd + j)) : 0.0;
                if (cs.bias) s += bias.get(size_t(i));
                for (int64_t q = 0; q < k; q++) {
                    const double a = A.get(size_t(bt * sa + (cs.trans_a ? q * lda + i : i * lda + q)));
                    const double b = B.get(size_t(bt * sb + (cs.trans_b ? j * ldb + q : q * ldb + j)));
                    s += a * b;
                }
                ref[size_t((bt * m + i) * n + j)] = s;
            }
    GemmDesc g;
    g.dtype = cs.dtype;
    g.tf32 = cs.tf32;
    g.m = m, g.n = n, g.k = k, g.batch = batch;
    g.a = A.data(), g.lda = lda, g.stride_a = sa, g.trans_a = cs.trans_a;
    g.b = B.data(), g.ldb = ldb, g.stride_b = sb, g.trans_b = cs.trans_b;
    g.d = D.data(), g.ldd = ldd, g.stride_d = sd;
    g.beta = cs.accumulate ? 1.0f : 0.0f;
    g.bias = cs.bias ? bias.data() : nullptr;
    int stream_token = 0;
    std::vector<float> workspace(64);
    std::string why;
    ASSERT_TRUE(dcn::detail::cublaslt_gemm("test", g, &stream_token, workspace.data(), 256, &why)) << why;
    for (int bt = 0; bt < batch; bt++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                EXPECT_EQ(D.get(size_t(bt * sd + i * ldd + j)), ref[size_t((bt * m + i) * n + j)])
                    << "batch " << bt << " (" << i << ", " << j << ")";
    EXPECT_EQ(*fake_symbol<void *>("fake_cublaslt_last_stream"), &stream_token);
    EXPECT_EQ(*fake_symbol<int>("fake_cublaslt_last_compute"),
              cs.tf32 && cs.dtype == dcn::DType::float32 ? dcn::detail::cublaslt::kComputeF32FastTf32
                                                          : dcn::detail::cublaslt::kComputeF32);
}

TEST(Cublaslt, GemmsMatchTheReferenceThroughTheFakeLibrary) {
    if (!with_fake()) GTEST_SKIP() << "run by ctest with the fake cuBLASLt (cublaslt.fake_library)";
    std::string why;
    ASSERT_TRUE(dcn::detail::cublaslt_available(&why)) << why;
    EXPECT_EQ(why, "cuBLASLt 999");
    for (dcn::DType t : {dcn::DType::float32, dcn::DType::bfloat16, dcn::DType::float16})
        for (bool ta : {false, true})
            for (bool tb : {false, true})
                for (bool bias : {false, true})
                    for (bool acc : {false, true}) {
                        SCOPED_TRACE(std::string(dcn::dtype_name(t)) + (ta ? " A^T" : "") + (tb ? " B^T" : "") +
                                     (bias ? " bias" : "") + (acc ? " beta=1" : ""));
                        run_case({t, ta, tb, bias, acc, t == dcn::DType::float32 && bias});
                    }
}

TEST(Cublaslt, SixteenBitOperandsSumIntoFloat32) {
    if (!with_fake()) GTEST_SKIP() << "run by ctest with the fake cuBLASLt";
    // As the weight gradient uses it: D (float32) += A (m x k) * B^T, B
    // stored n x k, bfloat16 operands.
    const int64_t m = 3, n = 4, k = 5;
    std::vector<uint16_t> A(size_t(m * k)), B(size_t(n * k));
    std::vector<float> D(size_t(m * n), 1.0f);
    std::vector<double> ref(size_t(m * n), 1.0);
    for (int64_t i = 0; i < m * k; i++) A[size_t(i)] = dcn::bfloat16_t::from_float(float(i % 7) - 3).bits;
    for (int64_t i = 0; i < n * k; i++) B[size_t(i)] = dcn::bfloat16_t::from_float(float(i % 5) - 2).bits;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t q = 0; q < k; q++)
                ref[size_t(i * n + j)] += double(dcn::bfloat16_t{A[size_t(i * k + q)]}.to_float()) *
                                          dcn::bfloat16_t{B[size_t(j * k + q)]}.to_float();
    GemmDesc g;
    g.dtype = dcn::DType::bfloat16;
    g.d_dtype = dcn::DType::float32;
    g.m = m, g.n = n, g.k = k;
    g.a = A.data(), g.lda = k, g.b = B.data(), g.ldb = k, g.trans_b = true, g.d = D.data(), g.ldd = n;
    g.beta = 1.0f;
    std::vector<float> ws(16);
    std::string why;
    ASSERT_TRUE(dcn::detail::cublaslt_gemm("test", g, nullptr, ws.data(), 64, &why)) << why;
    for (size_t i = 0; i < D.size(); i++) EXPECT_EQ(D[i], ref[i]) << i;
}

TEST(Cublaslt, AlignmentsGivenToTheHeuristicAreTheMatricesOwn) {
    if (!with_fake()) GTEST_SKIP() << "run by ctest with the fake cuBLASLt";
    alignas(256) static float A[64], B[64], D[64];
    GemmDesc g;
    g.m = 2, g.n = 2, g.k = 2;
    g.a = A + 1, g.lda = 2;    // 4-byte aligned
    g.b = B + 2, g.ldb = 2;    // 8
    g.d = D + 4, g.ldd = 4;    // 16
    std::vector<float> ws(16);
    std::string why;
    ASSERT_TRUE(dcn::detail::cublaslt_gemm("test", g, nullptr, ws.data(), 64, &why)) << why;
    const uint32_t *align = fake_symbol<uint32_t>("fake_cublaslt_last_align");
    EXPECT_EQ(align[0], 4u);
    EXPECT_EQ(align[1], 8u);
    EXPECT_EQ(align[2], 16u);
    EXPECT_EQ(align[3], 16u);
}

TEST(Cublaslt, NoAlgorithmIsAFallbackNotAnError) {
    if (!std::getenv("FAKE_CUBLASLT_NO_ALGO")) GTEST_SKIP() << "run by ctest (cublaslt.no_algorithm)";
    static float A[4], B[4], D[4];
    GemmDesc g;
    g.m = 2, g.n = 2, g.k = 2;
    g.a = A, g.lda = 2, g.b = B, g.ldb = 2, g.d = D, g.ldd = 2;
    std::string why;
    EXPECT_FALSE(dcn::detail::cublaslt_gemm("test", g, nullptr, nullptr, 0, &why));
    EXPECT_NE(why.find("no algorithm"), std::string::npos) << why;
}

TEST(Cublaslt, TurnedOffIsAFallbackThatSaysSo) {
    if (!std::getenv("DCN_CUBLASLT")) GTEST_SKIP() << "run by ctest with DCN_CUBLASLT=0 (cublaslt.turned_off)";
    std::string why;
    EXPECT_FALSE(dcn::detail::cublaslt_available(&why));
    EXPECT_NE(why.find("DCN_CUBLASLT=0"), std::string::npos) << why;
    // build_info names the fallback for CUDA.
    bool said = false;
    for (const std::string &s : dcn::build_info().gpu_gemm)
        if (s.rfind("cuda: Halide GEMM", 0) == 0 && s.find("DCN_CUBLASLT=0") != std::string::npos) said = true;
    EXPECT_TRUE(said);
}

}  // namespace
