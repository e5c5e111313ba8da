// deform_conv2d on a GPU: per chunk of images, the deformable columns
// (deform_conv2d_columns, a Halide kernel) into device scratch, then per
// group one strided-batched GEMM output = weight x columns + bias:
// cuBLASLt on CUDA where it loads and has an algorithm, else (and on
// OpenCL) dcn's Halide GEMM (deform_conv2d_gemm). docs/guarantees.md
// ("GPUs") states what runs where.
#include "deform_conv2d_gpu.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "cublaslt.h"
#include "cuda_driver.h"
#include "flat_views.h"
#include "gradients.h"
#include "kernel_table.h"

namespace dcn::detail {
namespace {

constexpr const char *kFn = "deform_conv2d";
// Columns per chunk of images at most (bytes; at least one image): c4
// (256 x 9 x 4200 float32) is 38.7 MB an image, so 6 images a chunk.
std::atomic<int64_t> g_columns_budget{int64_t(256) << 20};

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

// Images per chunk on the GPU: at most the budget's bytes of columns (and
// of the extra scratch a chunk's image needs), at least one.
int64_t images_per_chunk(const char *fn, const DeformConv2dProblem &pr, DType dtype, int64_t extra_per_image = 0) {
    return images_per_columns_chunk(fn, pr, dtype_size(dtype), g_columns_budget.load(), extra_per_image);
}

// grad_weight's GEMMs of one chunk on cuBLASLt, into the compute-type sum:
// per image and group, acc_g (Kg x R) (+)= grad_output_g (Kg x P) x
// columns_g^T, the first of the call overwriting (beta 0).
bool grad_weight_on_cublaslt(KernelCall &call, const DeformConv2dProblem &pr, const TensorView &gy, int64_t n0,
                             int64_t count, DType dtype, bool tf32, std::string *why) {
    if (!cublaslt_available(why)) return false;
    const std::vector<int64_t> gs = gy.effective_strides();
    const int64_t taps = pr.taps(), P = pr.oH * pr.oW, Kg = pr.K / pr.groups, R = pr.Cg * taps;
    PushContext current(call.cuda_context());
    auto *cols = static_cast<unsigned char *>(call.cuda_address("columns", false));
    auto *gp = static_cast<unsigned char *>(call.cuda_address("grad_output", false));
    auto *acc = static_cast<unsigned char *>(call.cuda_address("grad_weight_acc", true));
    void *workspace = call.cuda_address("cublaslt_workspace", true);
    const int64_t es = int64_t(dtype_size(dtype)), acc_es = 4;
    for (int64_t i = 0; i < count; i++)
        for (int64_t g = 0; g < pr.groups; g++) {
            GemmDesc d;
            d.dtype = dtype;
            d.d_dtype = DType::float32;
            d.tf32 = tf32;
            d.m = Kg;
            d.n = R;
            d.k = P;
            d.a = gp + ((n0 + i) * gs[0] + g * Kg * gs[1]) * es;
            d.lda = gs[1];
            d.b = cols + (i * pr.C * taps * P + g * R * P) * es;  // stored R x P: B^T
            d.ldb = P;
            d.trans_b = true;
            d.d = acc + g * Kg * R * acc_es;
            d.ldd = R;
            d.beta = (n0 + i) == 0 ? 0.0f : 1.0f;
            if (!cublaslt_gemm("deform_conv2d_backward", d, call.cuda_stream(), workspace, kCublasLtWorkspaceBytes,
                               why)) {
                if (n0 + i > 0 || g > 0)
                    throw Error("deform_conv2d_backward", "cublasLt",
                                "internal error: a GEMM refused after others ran: " + *why);
                return false;
            }
        }
    return true;
}

// grad_columns of one chunk on cuBLASLt: per group, for the chunk's
// images (a strided batch), grad_columns_g (R x P, float32) =
// weight_g^T (R x Kg) x grad_output_g (Kg x P).
bool grad_columns_on_cublaslt(KernelCall &call, const DeformConv2dProblem &pr, const TensorView &w3,
                              const TensorView &gy, int64_t count, DType dtype, bool tf32, std::string *why) {
    if (!cublaslt_available(why)) return false;
    const std::vector<int64_t> ws = w3.effective_strides(), gs = gy.effective_strides();
    const int64_t taps = pr.taps(), P = pr.oH * pr.oW, Kg = pr.K / pr.groups, R = pr.Cg * taps;
    if (ws[2] != 1 || ws[1] != taps || gs[2] != 1) {
        *why = "a weight or grad_output layout cuBLASLt cannot take";
        return false;
    }
    PushContext current(call.cuda_context());
    call.scratch("cublaslt_workspace", {int64_t(kCublasLtWorkspaceBytes / 4)}, DType::float32);
    auto *wp = static_cast<unsigned char *>(call.cuda_address("weight", false));
    auto *gp = static_cast<unsigned char *>(call.cuda_address("grad_output", false));
    auto *gc = static_cast<unsigned char *>(call.cuda_address("grad_columns", true));
    void *workspace = call.cuda_address("cublaslt_workspace", true);
    const int64_t es = int64_t(dtype_size(dtype)), gc_es = 4;
    for (int64_t g = 0; g < pr.groups; g++) {
        GemmDesc d;
        d.dtype = dtype;
        d.d_dtype = DType::float32;
        d.tf32 = tf32;
        d.m = R;
        d.n = P;
        d.k = Kg;
        d.batch = static_cast<int>(count);
        d.a = wp + g * Kg * ws[0] * es;  // stored Kg x R: A^T
        d.lda = ws[0];
        d.trans_a = true;
        d.b = gp + g * Kg * gs[1] * es;
        d.ldb = gs[1];
        d.stride_b = gs[0];
        d.d = gc + g * R * P * gc_es;
        d.ldd = P;
        d.stride_d = pr.C * taps * P;
        if (!cublaslt_gemm("deform_conv2d_backward", d, call.cuda_stream(), workspace, kCublasLtWorkspaceBytes, why)) {
            if (g > 0)
                throw Error("deform_conv2d_backward", "cublasLt", "internal error: a GEMM refused after others ran: " + *why);
            return false;
        }
    }
    return true;
}

}  // namespace

int64_t set_gpu_columns_budget(int64_t bytes) { return g_columns_budget.exchange(bytes); }

void deform_conv2d_gpu_data_gradients(const DeformConv2dProblem &pr, const TensorView &grad_output,
                                      const TensorView &input, const TensorView &offset, const TensorView &weight,
                                      const std::optional<TensorView> &mask, const DeformConv2dGradients &grads,
                                      const DeformConv2dOptions &opt) {
    const char *fn = "deform_conv2d_backward";
    if (pr.N == 0) return;  // no image: nothing to write
    const DType dtype = input.dtype;
    const DType compute = dtype == DType::float64 ? DType::float64 : DType::float32;
    const int64_t taps = pr.taps(), P = pr.oH * pr.oW, G = pr.offset_groups;
    // col2im's scratch per image: the fixed-point sums (2 x int64) and the
    // non-finite counts (3 x uint32) over the image and its zero border.
    const int64_t col2im_scratch = 28 * pr.C * (pr.H + 2) * (pr.W + 2);
    const int64_t chunk = images_per_chunk(fn, pr, compute, col2im_scratch);
    const FlatLastTwo w3(weight, FlatLastTwo::Use::input, fn, "weight");
    const FlatLastTwo gy(grad_output, FlatLastTwo::Use::input, fn, "grad_output");
    // Gradients not asked for: computed for one image into host scratch, dropped.
    const UnwantedGradient no_input(input.shape, dtype, true), no_offset(offset.shape, dtype, true),
        no_mask(pr.mask_shape(), dtype, true);
    using namespace flag;
    const KernelEntry &gemm_kernel =
        require_kernel(fn, Op::deform_conv2d_grad_columns, Direction::backward_data, dtype, 0);
    const KernelEntry &col2im_kernel = require_kernel(fn, Op::deform_conv2d_col2im, Direction::backward_data, dtype,
                                                      mask ? deform_conv2d_col2im_with_mask : 0);
    for (int64_t n0 = 0; n0 < pr.N; n0 += chunk) {
        const int64_t count = std::min(chunk, pr.N - n0);
        KernelCall call(fn, opt.device, opt.cuda);
        call.input("input", images(input, n0, count));
        call.input("offset", images(offset, n0, count));
        if (mask) call.input("mask", images(*mask, n0, count));
        call.input("weight", w3.view());
        const TensorView gy_chunk = images(gy.view(), n0, count);
        call.input("grad_output", gy_chunk);
        add_geometry_scalars(call, pr, opt);
        call.output("grad_input",
                    split_channels(grads.input ? images(*grads.input, n0, count) : no_input.view(), G));
        call.output("grad_offset", grads.offset ? images(*grads.offset, n0, count) : no_offset.view());
        if (mask) call.output("grad_mask", grads.mask ? images(*grads.mask, n0, count) : no_mask.view());
        call.scratch("grad_columns", {count, G, pr.C / G, taps, P}, compute);
        std::string why;
        const bool on_cublaslt = opt.device == Device::cuda && compute == DType::float32 &&
                                 grad_columns_on_cublaslt(call, pr, w3.view(), gy_chunk, count, dtype,
                                                          opt.cuda.allow_tf32, &why);
        if (!on_cublaslt) call.check(call.run(gemm_kernel));
        call.finish(call.run(col2im_kernel));
    }
}

void deform_conv2d_gpu_weight_gradients(const DeformConv2dProblem &problem, const TensorView &grad_output,
                                        const TensorView &input, const TensorView &offset,
                                        const std::optional<TensorView> &mask,
                                        const std::optional<TensorView> &grad_weight,
                                        const std::optional<TensorView> &grad_bias, const DeformConv2dOptions &opt) {
    const char *fn = "deform_conv2d_backward";
    const DType dtype = input.dtype;
    const DType compute = dtype == DType::float64 ? DType::float64 : DType::float32;
    // No image: the gradients of one zero image (zero grad_output), which are 0.
    DeformConv2dProblem pr = problem;
    std::optional<ScratchTensor> zero[4];
    auto one = [](std::vector<int64_t> s) {
        s[0] = 1;
        return s;
    };
    const TensorView *x = &input, *off = &offset, *gyv = &grad_output;
    const TensorView *m = mask ? &*mask : nullptr;
    if (pr.N == 0) {
        pr.N = 1;
        x = &zero[0].emplace(one(input.shape), dtype).view();
        off = &zero[1].emplace(one(offset.shape), dtype).view();
        gyv = &zero[2].emplace(one(grad_output.shape), dtype).view();
        if (m) m = &zero[3].emplace(one(mask->shape), dtype).view();
    }
    const int64_t N = pr.N, C = pr.C, taps = pr.taps(), P = pr.oH * pr.oW, G = pr.offset_groups;
    const int64_t chunk = images_per_chunk(fn, pr, dtype);
    const FlatLastTwo gy(*gyv, FlatLastTwo::Use::input, fn, "grad_output");

    using namespace flag;
    KernelCall call(fn, opt.device, opt.cuda);
    call.input("input", *x);
    call.input("offset", *off);
    if (m) call.input("mask", *m);
    call.input("grad_output", gy.view());
    add_geometry_scalars(call, pr, opt);

    std::optional<FlatLastTwo> gw;
    std::optional<UnwantedGradient> no_weight;
    std::optional<ScratchTensor> no_acc;
    if (grad_weight) {
        gw.emplace(*grad_weight, FlatLastTwo::Use::output, fn, "grad_weight");
        call.scratch("grad_weight_acc", {pr.K, pr.Cg, taps}, compute);
        call.alias("grad_weight_prior", "grad_weight_acc");
        call.scratch("columns", {chunk, G, C / G, taps, P}, dtype);
        const bool cuda = opt.device == Device::cuda;
        if (cuda) call.scratch("cublaslt_workspace", {int64_t(kCublasLtWorkspaceBytes / 4)}, DType::float32);
        const KernelEntry &columns_kernel = require_kernel(fn, Op::deform_conv2d_columns, Direction::forward, dtype,
                                                           m ? deform_conv2d_columns_with_mask : 0);
        const KernelEntry &gemm_kernel =
            require_kernel(fn, Op::deform_conv2d_grad_weight, Direction::backward_weight, dtype, 0);
        bool on_cublaslt = cuda && compute == DType::float32;
        for (int64_t n0 = 0; n0 < N; n0 += chunk) {
            const int64_t count = std::min(chunk, N - n0);
            call.scalar("first_image", static_cast<int32_t>(n0));
            call.scalar("images", static_cast<int32_t>(count));
            call.scalar("accumulate", n0 > 0 ? 1 : 0);
            call.check(call.run(columns_kernel));
            std::string why;
            if (on_cublaslt)
                on_cublaslt = grad_weight_on_cublaslt(call, pr, gy.view(), n0, count, dtype, opt.cuda.allow_tf32, &why);
            if (!on_cublaslt) call.check(call.run(gemm_kernel));
        }
        call.output("grad_weight", gw->view());
    } else {
        // grad_bias only: the finish stage converts one row of zeros.
        no_acc.emplace(std::vector<int64_t>{1, pr.Cg, taps}, compute);
        call.input("grad_weight_acc", no_acc->view());
        no_weight.emplace(std::vector<int64_t>{1, pr.Cg, taps}, dtype, true);
        call.output("grad_weight", no_weight->view());
    }
    if (grad_bias) call.output("grad_bias", *grad_bias);
    const KernelEntry &finish_kernel =
        require_kernel(fn, Op::deform_conv2d_grad_weight_finish, Direction::backward_weight, dtype,
                       grad_bias ? deform_conv2d_grad_weight_finish_with_bias : 0);
    call.finish(call.run(finish_kernel));
    if (gw) gw->finish();
}

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
    const int64_t chunk = images_per_chunk(kFn, pr, dtype);

    // The weight with its taps flattened: (K, C/groups, kH*kW).
    const FlatLastTwo w3(weight, FlatLastTwo::Use::input, kFn, "weight");

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
        call.input("weight", w3.view());
        if (bias) call.input("bias", *bias);
        const TensorView out = images(output, n0, nc);
        call.output("output", out);
        add_geometry_scalars(call, pr, opt);
        call.scalar("first_image", 0);
        call.scratch("columns", {nc, G, C / G, taps, P}, dtype);
        call.check(call.run(columns_kernel));
        std::string why;
        const bool on_cublaslt = opt.device == Device::cuda &&
                                 gemm_on_cublaslt(call, pr, w3.view(), bias, out, nc, dtype, opt.cuda.allow_tf32, &why);
        call.finish(on_cublaslt ? 0 : call.run(gemm_kernel));
    }
}

}  // namespace dcn::detail
