// deform_conv2d on a GPU: per chunk of images, the deformable columns
// (deform_conv2d_columns, a Halide kernel) into device scratch, then per
// group one strided-batched GEMM output = weight x columns + bias:
// cuBLASLt on CUDA where it loads and has an algorithm, else (and on
// OpenCL) dcn's Halide GEMM (deform_conv2d_gemm). docs/guarantees.md
// ("GPUs") states what runs where.
#include "deform_conv2d_gpu.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "cublaslt.h"
#include "cuda_driver.h"
#include "kernel_table.h"

namespace dcn::detail {
namespace {

constexpr const char *kFn = "deform_conv2d";
// Columns per chunk of images at most (bytes; at least one image): c4
// (256 x 9 x 4200 float32) is 38.7 MB an image, so 6 images a chunk.
constexpr int64_t kColumnsBudget = int64_t(256) << 20;

// Images [n0, n0 + count) of a tensor whose first dimension is the batch.
TensorView images(const TensorView &t, int64_t n0, int64_t count) {
    TensorView v = t;
    v.strides = t.effective_strides();
    v.shape[0] = count;
    v.data = static_cast<unsigned char *>(t.data) + n0 * v.strides[0] * int64_t(dtype_size(t.dtype));
    return v;
}

// The current CUDA context for calls outside Halide (cuBLASLt), restored after.
class PushContext {
public:
    explicit PushContext(void *ctx) {
        using Push = int (*)(void *);
        if (auto push = reinterpret_cast<Push>(cuda_symbol("cuCtxPushCurrent_v2"))) pushed_ = push(ctx) == 0;
    }
    ~PushContext() {
        using Pop = int (*)(void **);
        void *ctx = nullptr;
        if (pushed_)
            if (auto pop = reinterpret_cast<Pop>(cuda_symbol("cuCtxPopCurrent_v2"))) pop(&ctx);
    }
    PushContext(const PushContext &) = delete;
    PushContext &operator=(const PushContext &) = delete;

private:
    bool pushed_ = false;
};

// The per-group GEMMs of one chunk on cuBLASLt; false (with why) when it
// cannot run them (no library, a layout it cannot take, no algorithm).
bool gemm_on_cublaslt(KernelCall &call, const DeformConv2dProblem &pr, const TensorView &w3,
                      const std::optional<TensorView> &bias, const TensorView &out, int64_t nc, DType dtype,
                      bool tf32, std::string *why) {
    if (!cublaslt_available(why)) return false;
    const std::vector<int64_t> ws = w3.effective_strides(), os = out.effective_strides();
    const int64_t taps = pr.taps(), P = pr.oH * pr.oW, Kg = pr.K / pr.groups, R = pr.Cg * taps;
    if (ws[2] != 1 || ws[1] != taps || os[2] != 1 || (bias && bias->effective_strides()[0] != 1)) {
        *why = "a weight, output or bias layout cuBLASLt cannot take";
        return false;
    }
    PushContext current(call.cuda_context());
    call.scratch("cublaslt_workspace", {int64_t(kCublasLtWorkspaceBytes / 4)}, DType::float32);
    auto *cols = static_cast<unsigned char *>(call.cuda_address("columns", false));
    auto *wp = static_cast<unsigned char *>(call.cuda_address("weight", false));
    auto *bp = bias ? static_cast<unsigned char *>(call.cuda_address("bias", false)) : nullptr;
    auto *op = static_cast<unsigned char *>(call.cuda_address("output", true));
    void *workspace = call.cuda_address("cublaslt_workspace", true);
    const int64_t es = int64_t(dtype_size(dtype));
    for (int64_t g = 0; g < pr.groups; g++) {
        GemmDesc d;
        d.dtype = dtype;
        d.tf32 = tf32;
        d.m = Kg;
        d.n = P;
        d.k = R;
        d.batch = static_cast<int>(nc);
        d.a = wp + g * Kg * ws[0] * es;  // weight rows of the group, shared by the images
        d.lda = ws[0];
        d.stride_a = 0;
        d.b = cols + g * R * P * es;  // the group's rows of each image's columns
        d.ldb = P;
        d.stride_b = pr.C * taps * P;
        d.d = op + g * Kg * os[1] * es;
        d.ldd = os[1];
        d.stride_d = os[0];
        d.bias = bp ? bp + g * Kg * es : nullptr;
        if (!cublaslt_gemm(kFn, d, call.cuda_stream(), workspace, kCublasLtWorkspaceBytes, why)) {
            if (g > 0) throw Error(kFn, "cublasLt", "internal error: a GEMM refused after others ran: " + *why);
            return false;
        }
    }
    return true;
}

}  // namespace

std::string gpu_gemm_backend(Device device) {
    if (device != Device::cuda) return std::string(device_name(device)) + ": Halide GEMM (deform_conv2d_gemm)";
    std::string why;
    if (cublaslt_available(&why)) return "cuda: " + why + " (else the Halide GEMM, for a GEMM it has no algorithm for)";
    return "cuda: Halide GEMM (deform_conv2d_gemm): " + why;
}

void deform_conv2d_gpu(const DeformConv2dProblem &pr, const TensorView &input, const TensorView &offset,
                       const TensorView &weight, const std::optional<TensorView> &mask,
                       const std::optional<TensorView> &bias, const TensorView &output,
                       const DeformConv2dOptions &opt) {
    const int64_t N = pr.N, C = pr.C, taps = pr.taps(), P = pr.oH * pr.oW, G = pr.offset_groups;
    const DType dtype = input.dtype;
    const int64_t per_image = C * taps * P;
    if (per_image > INT32_MAX)
        throw Error(kFn, "input",
                    "the GPU path's columns of one image (channels x taps x output pixels = " +
                        std::to_string(per_image) + " values) exceed 2^31-1");
    const int64_t per_image_bytes = per_image * int64_t(dtype_size(dtype));
    const int64_t chunk = std::clamp<int64_t>(kColumnsBudget / std::max<int64_t>(per_image_bytes, 1), 1, N);

    // The weight with its taps flattened: (K, C/groups, kH*kW).
    std::vector<unsigned char> weight_copy;
    TensorView w3 = weight;
    {
        const std::vector<int64_t> st = weight.effective_strides();
        if (pr.kH > 1 && pr.kW > 1 && st[2] != pr.kW * st[3]) {
            if (weight.device != Device::cpu)
                throw Error(kFn, "weight",
                            "on a GPU the kernel's rows must be back to back (strides [*, *, kW*s, s]), got strides " +
                                shape_str(st));
            weight_copy.resize(size_t(weight.numel()) * dtype_size(dtype));
            const size_t es = dtype_size(dtype);
            const auto *src = static_cast<const unsigned char *>(weight.data);
            unsigned char *dst = weight_copy.data();
            for (int64_t k = 0; k < pr.K; k++)
                for (int64_t c = 0; c < pr.Cg; c++)
                    for (int64_t i = 0; i < pr.kH; i++)
                        for (int64_t j = 0; j < pr.kW; j++, dst += es)
                            std::memcpy(dst, src + (k * st[0] + c * st[1] + i * st[2] + j * st[3]) * es, es);
            w3.data = weight_copy.data();
            w3.strides = {pr.Cg * taps, taps, 1};
        } else {
            w3.strides = {st[0], st[1], pr.kW > 1 ? st[3] : (pr.kH > 1 ? st[2] : 1)};
        }
        w3.shape = {pr.K, pr.Cg, taps};
    }

    using namespace flag;
    const KernelEntry &columns_kernel = require_kernel(kFn, Op::deform_conv2d_columns, Direction::forward, dtype,
                                                       mask ? deform_conv2d_columns_with_mask : 0);
    const KernelEntry &gemm_kernel = require_kernel(kFn, Op::deform_conv2d_gemm, Direction::forward, dtype,
                                                    bias ? deform_conv2d_gemm_with_bias : 0);
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        const int64_t nc = std::min(chunk, N - n0);
        KernelCall call(kFn, opt.device, opt.cuda);
        call.input("input", images(input, n0, nc));
        call.input("offset", images(offset, n0, nc));
        if (mask) call.input("mask", images(*mask, n0, nc));
        call.input("weight", w3);
        if (bias) call.input("bias", *bias);
        const TensorView out = images(output, n0, nc);
        call.output("output", out);
        call.scalar("kernel_h", static_cast<int32_t>(pr.kH));
        call.scalar("kernel_w", static_cast<int32_t>(pr.kW));
        add_geometry_scalars(call, pr, opt);
        call.scratch("columns", {nc, G, C / G, taps, P}, dtype);
        call.check(call.run(columns_kernel));
        std::string why;
        const bool on_cublaslt = opt.device == Device::cuda &&
                                 gemm_on_cublaslt(call, pr, w3, bias, out, nc, dtype, opt.cuda.allow_tf32, &why);
        call.finish(on_cublaslt ? 0 : call.run(gemm_kernel));
    }
}

}  // namespace dcn::detail
