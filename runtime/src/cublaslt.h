// cuBLASLt as dcn uses it: loaded at run time by name like libcuda (nothing
// of CUDA is needed to build or to run on a CPU), for deform_conv2d's GPU
// GEMMs on the caller's stream. A GEMM is stated in dcn's row-major terms
// and handed to cuBLASLt with every matrix in row order
// (CUBLASLT_ORDER_ROW), so that the output is written in NCHW and the bias
// (one value per output channel = per row of D) is added in the epilogue
// (CUBLASLT_EPILOGUE_BIAS). Where the library is missing or has no
// algorithm for a GEMM, the caller runs dcn's Halide GEMM instead and says
// so (gpu_gemm_backend()).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dcn/dcn.h"

namespace dcn::detail {

// The names tried, in order: CUDA 13's and 12's sonames (a process that
// already loaded one, PyTorch's wheel included, gets that one), then the
// development link name.
inline constexpr const char *kCublasLtNames[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};

// The values of cublasLt.h / cublas_api.h / library_types.h dcn uses (the
// headers are not included; tests/test_cublaslt.cpp checks them against the
// headers where the toolkit is installed).
namespace cublaslt {
constexpr int kStatusSuccess = 0;
constexpr int kComputeF32 = 68;            // CUBLAS_COMPUTE_32F
constexpr int kComputeF32FastTf32 = 77;    // CUBLAS_COMPUTE_32F_FAST_TF32
constexpr int kDataF32 = 0;                // CUDA_R_32F
constexpr int kDataF16 = 2;                // CUDA_R_16F
constexpr int kDataBf16 = 14;              // CUDA_R_16BF
constexpr int kOpN = 0, kOpT = 1;          // CUBLAS_OP_N / _T
constexpr int kOrderRow = 1;               // CUBLASLT_ORDER_ROW
constexpr int kLayoutOrder = 1;            // CUBLASLT_MATRIX_LAYOUT_ORDER (int32)
constexpr int kLayoutBatchCount = 5;       // CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT (int32)
constexpr int kLayoutBatchStride = 6;      // CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET (int64)
constexpr int kDescTransA = 3;             // CUBLASLT_MATMUL_DESC_TRANSA (int32)
constexpr int kDescTransB = 4;             // CUBLASLT_MATMUL_DESC_TRANSB (int32)
constexpr int kDescEpilogue = 7;           // CUBLASLT_MATMUL_DESC_EPILOGUE (uint32)
constexpr int kDescBiasPointer = 8;        // CUBLASLT_MATMUL_DESC_BIAS_POINTER (void *)
constexpr int kEpilogueDefault = 1;        // CUBLASLT_EPILOGUE_DEFAULT
constexpr int kEpilogueBias = 4;           // CUBLASLT_EPILOGUE_BIAS
constexpr int kPrefMaxWorkspace = 1;       // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES (uint64)
constexpr int kPrefMinAlignA = 5;          // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES (uint32); B, C, D: 6, 7, 8
// cublasLtMatmulAlgo_t and cublasLtMatmulHeuristicResult_t, by layout.
struct Algo {
    uint64_t data[8];
};
struct HeuristicResult {
    Algo algo;
    size_t workspace_size;
    int state;
    float waves_count;
    int reserved[4];
};
}  // namespace cublaslt

// One strided-batched GEMM in row-major terms: for b < batch,
//   D_b (m x n) = op(A_b) (m x k) * op(B_b) (k x n) [+ bias (m), per row]
// where A_b = a + b * stride_a elements, stored m x k (k x m when
// trans_a) with rows lda elements apart; B likewise (k x n, or n x k when
// trans_b); D_b = d + b * stride_d, rows ldd apart. beta = 1 adds to D
// (accumulating over calls), 0 overwrites it. Every pointer is device
// memory of the current context; the element type is `dtype` (float32,
// bfloat16, float16), the products summed in float32 (TF32 inputs when
// tf32).
struct GemmDesc {
    DType dtype = DType::float32;
    // D's element type when not `dtype`: float32 sums of 16-bit operands.
    std::optional<DType> d_dtype;
    bool tf32 = false;
    int64_t m = 0, n = 0, k = 0;
    int batch = 1;
    const void *a = nullptr;
    int64_t lda = 0, stride_a = 0;
    bool trans_a = false;
    const void *b = nullptr;
    int64_t ldb = 0, stride_b = 0;
    bool trans_b = false;
    void *d = nullptr;
    int64_t ldd = 0, stride_d = 0;
    float beta = 0.0f;
    const void *bias = nullptr;
};

// Whether cuBLASLt loaded (once per process); `why` says what was tried
// when not, or the library's version when it did. The environment
// variable DCN_CUBLASLT=0 turns it off (the Halide GEMM runs instead).
bool cublaslt_available(std::string *why = nullptr);

// Runs `g` with cuBLASLt in the current CUDA context on `stream` (a
// CUstream; nullptr: the default stream), using `workspace` (device memory,
// workspace_bytes). Returns true when it ran; false, with `why`, when the
// library is missing or offers no algorithm for this GEMM (the caller falls
// back); throws dcn::Error(function, "cublasLt", ...) when a call fails.
bool cublaslt_gemm(const char *function, const GemmDesc &g, void *stream, void *workspace, size_t workspace_bytes,
                   std::string *why);

// The workspace dcn gives cuBLASLt (NVIDIA's recommendation for Hopper).
inline constexpr size_t kCublasLtWorkspaceBytes = size_t(32) << 20;

}  // namespace dcn::detail
