// dcn: Deformable Convolutional Network operators (Halide AOT kernels).
//
// Public API. Only standard C++ here: the generated Halide headers and
// halide_buffer_t stay private to the library (dcn/lists.inc, generated
// from the build's list, names the CPU paths and element types).
//
// Semantics of every operator: docs/operators.md. Threads, determinism,
// limits, memory: docs/guarantees.md. In short: calls from several threads
// at once are safe; the settings below (threads, CPU path cap, scratch
// cache) are process-wide and may change while calls run; last_cpu_isa()
// and last_cpu_schedule() are per thread. Arguments come inputs first, then
// outputs; required before optional.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dcn/limits.h"

namespace dcn {

// Where an operator runs and where a tensor's memory lives.
//   cpu:    host memory, CPU kernels.
//   cuda:   NVIDIA GPU through the CUDA driver. A tensor may be host memory
//           (copied to the device and back for the call) or a CUDA device
//           pointer (TensorView::data holds the CUdeviceptr; used in place,
//           no copy).
//   opencl: an OpenCL device (the same GPU schedules; the tests run them on
//           PoCL). Tensors are host memory, copied in and out.
enum class Device { cpu, cuda, opencl };

// The CUDA context and stream of a Device::cuda call (a CUcontext and a
// CUstream, as void*). The call runs in that context (or the one its
// memory lives in) and on the stream, asynchronously when every tensor is
// device memory: synchronise the stream before reading the output.
struct CudaContext {
    // The CUcontext to run in; nullptr: the context that owns the call's
    // device memory, else (host tensors only) the primary context of
    // `ordinal`. Never a new context (docs/guarantees.md, "GPUs").
    void *context = nullptr;
    void *stream = nullptr;  // CUstream; nullptr: the context's default stream
    int ordinal = 0;         // the GPU of a call whose tensors are all host memory
    // float32 GEMMs (deform_conv2d on cuBLASLt) may round their inputs to
    // TF32 on tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32): faster, about 3
    // decimal digits. Off by default; dcn's Python ops follow
    // torch.backends.cuda.matmul.allow_tf32.
    bool allow_tf32 = false;
};

const char *device_name(Device d);

// 16-bit floating-point storage: the bits, as the tensors hold them. The
// kernels compute in float32 and round their outputs to nearest, ties to
// even. from_float() rounds the same way (NaN stays NaN); to_float() is
// exact.
struct bfloat16_t {
    uint16_t bits = 0;
    static bfloat16_t from_float(float f) {
        uint32_t u;
        std::memcpy(&u, &f, sizeof u);
        bfloat16_t b;
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            b.bits = static_cast<uint16_t>((u >> 16) | 0x40u);  // a quiet NaN
        } else {
            b.bits = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        }
        return b;
    }
    float to_float() const {
        const uint32_t u = uint32_t(bits) << 16;
        float f;
        std::memcpy(&f, &u, sizeof f);
        return f;
    }
};

struct float16_t {
    uint16_t bits = 0;
    static float16_t from_float(float f) {
        uint32_t u;
        std::memcpy(&u, &f, sizeof u);
        const uint32_t sign = (u >> 16) & 0x8000u;
        const uint32_t a = u & 0x7fffffffu;
        float16_t h;
        if (a > 0x7f800000u) {
            h.bits = static_cast<uint16_t>(sign | 0x7e00u);  // a quiet NaN
        } else if (a >= 0x477ff000u) {
            h.bits = static_cast<uint16_t>(sign | 0x7c00u);  // rounds to infinity (or is)
        } else if (a < 0x38800000u) {
            // Subnormal (or 0): scale to units of 2^-24, round to nearest even.
            float m;
            const uint32_t am = a;
            std::memcpy(&m, &am, sizeof m);
            const float scaled = m * 16777216.0f;  // exact: a power of two
            uint32_t q = static_cast<uint32_t>(scaled);
            const float rest = scaled - static_cast<float>(q);
            if (rest > 0.5f || (rest == 0.5f && (q & 1u))) q++;
            h.bits = static_cast<uint16_t>(sign | q);
        } else {
            const uint32_t r = a - 0x38000000u;  // rebias the exponent 127 -> 15
            h.bits = static_cast<uint16_t>(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
        }
        return h;
    }
    float to_float() const {
        const uint32_t sign = uint32_t(bits & 0x8000u) << 16;
        const uint32_t e = (bits >> 10) & 0x1fu, m = bits & 0x3ffu;
        uint32_t u;
        if (e == 0x1fu) {
            u = sign | 0x7f800000u | (m << 13);
        } else if (e != 0) {
            u = sign | ((e + 112u) << 23) | (m << 13);
        } else {
            const float f = static_cast<float>(m) * (1.0f / 16777216.0f);  // subnormal or 0: exact
            std::memcpy(&u, &f, sizeof u);
            u |= sign;
        }
        float f;
        std::memcpy(&f, &u, sizeof f);
        return f;
    }
};

// Element types (float32, float64, bfloat16, float16: the build's list,
// dcn/lists.inc).
enum class DType {
#define DCN_DTYPE(name, ctype) name,
#include "dcn/lists.inc"
#undef DCN_DTYPE
};
const char *dtype_name(DType t);
// Bytes per element.
size_t dtype_size(DType t);

// The DType of a C++ element type: dtype_of<float>::value == DType::float32.
template <typename T>
struct dtype_of;
#define DCN_DTYPE(name, ctype)                           \
    template <>                                          \
    struct dtype_of<ctype> {                             \
        static constexpr DType value = DType::name;      \
    };
#include "dcn/lists.inc"
#undef DCN_DTYPE

// Calls f(T{}) with T the C++ element type of `dtype` (the list's: float,
// double, dcn::bfloat16_t, dcn::float16_t) and returns what f returns, so
// that code over elements of a run-time dtype is written once:
//   double v = dcn::visit_dtype(view.dtype, [&](auto t) {
//       return dcn::element_to_double(static_cast<const decltype(t) *>(view.data)[i]); });
template <typename F>
decltype(auto) visit_dtype(DType dtype, F &&f) {
    switch (dtype) {
#define DCN_DTYPE(name, ctype) \
    case DType::name:          \
        return std::forward<F>(f)(ctype{});
#include "dcn/lists.inc"
#undef DCN_DTYPE
    }
    throw std::invalid_argument("dcn::visit_dtype: not a dcn::DType");
}

// An element of any listed type as double (exact), and the element of type
// T nearest to a float (round to nearest even for the 16-bit types).
template <typename T>
double element_to_double(T v) {
    if constexpr (std::is_floating_point_v<T>)
        return static_cast<double>(v);
    else
        return static_cast<double>(v.to_float());
}
template <typename T>
T element_from_float(float v) {
    if constexpr (std::is_floating_point_v<T>)
        return static_cast<T>(v);
    else
        return T::from_float(v);
}

// A non-owning view of a tensor: pointer, element type, shape, strides (in
// elements), device. The innermost (last) dimension must have stride 1; the
// other strides may be anything non-negative (a padded row pitch, a slice of
// a larger batch). The element type follows the pointer: a float* view is
// float32, a double* view float64, a dcn::bfloat16_t* / dcn::float16_t*
// view bfloat16 / float16 (or set `dtype` on a view of raw uint16_t bits).
// All tensors of one call have one dtype.
struct TensorView {
    void *data = nullptr;
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;  // empty = C-contiguous
    Device device = Device::cpu;
    DType dtype = DType::float32;

    TensorView() = default;
    // C-contiguous view (T const: read-only; the library never writes
    // through an input).
    template <typename T, typename = decltype(dtype_of<std::remove_const_t<T>>::value)>
    TensorView(T *data_, std::vector<int64_t> shape_, Device device_ = Device::cpu)
        : data(const_cast<std::remove_const_t<T> *>(data_)), shape(std::move(shape_)), device(device_),
          dtype(dtype_of<std::remove_const_t<T>>::value) {}
    // Explicit strides, in elements.
    template <typename T, typename = decltype(dtype_of<std::remove_const_t<T>>::value)>
    TensorView(T *data_, std::vector<int64_t> shape_, std::vector<int64_t> strides_, Device device_ = Device::cpu)
        : data(const_cast<std::remove_const_t<T> *>(data_)), shape(std::move(shape_)),
          strides(std::move(strides_)), device(device_), dtype(dtype_of<std::remove_const_t<T>>::value) {}

    int rank() const { return static_cast<int>(shape.size()); }
    int64_t numel() const;
    // strides, or the C-contiguous strides when none were given.
    std::vector<int64_t> effective_strides() const;
    // The data as T*, or nullptr when T is not the view's element type.
    template <typename T>
    T *data_as() const {
        return dtype_of<std::remove_const_t<T>>::value == dtype ? static_cast<T *>(data) : nullptr;
    }
};

// Thrown for every failure: bad arguments (before any kernel runs), a kernel
// error reported by the Halide runtime, an unavailable device.
// what() is one line: "<function>: <argument>: <problem>", e.g.
//   "deform_conv2d: offset: expected shape [1, 18, 50, 84], got [1, 18, 50, 83]"
class Error : public std::runtime_error {
public:
    Error(const std::string &function, const std::string &argument, const std::string &message);
    const std::string &function() const { return function_; }
    const std::string &argument() const { return argument_; }
    const std::string &detail() const { return detail_; }

private:
    std::string function_, argument_, detail_;
};

// Zero padding of deform_conv2d, (top, left, bottom, right), each >= 0.
// Written as torchvision and ONNX users expect:
//   opt.padding = 1;             all four sides
//   opt.padding = {1, 2};        (padH, padW): top = bottom = 1, left = right = 2 (torchvision)
//   opt.padding = {0, 1, 2, 3};  top, left, bottom, right (ONNX pads: begins, then ends)
// Three values do not compile.
struct Padding {
    std::array<int, 4> sides{0, 0, 0, 0};  // top, left, bottom, right

    Padding() = default;
    Padding(int all) : sides{all, all, all, all} {}
    Padding(int pad_h, int pad_w) : sides{pad_h, pad_w, pad_h, pad_w} {}
    Padding(int top, int left, int bottom, int right) : sides{top, left, bottom, right} {}

    int operator[](size_t i) const { return sides[i]; }
    int &operator[](size_t i) { return sides[i]; }
    const int *begin() const { return sides.data(); }
    const int *end() const { return sides.data() + 4; }
    bool operator==(const Padding &o) const { return sides == o.sides; }
};

// Options of deform_conv2d; torchvision's and ONNX DeformConv's attributes.
struct DeformConv2dOptions {
    std::array<int, 2> stride{1, 1};       // (sH, sW), each >= 1
    Padding padding;                       // (top, left, bottom, right), each >= 0
    std::array<int, 2> dilation{1, 1};     // (dH, dW), each >= 1
    int groups = 0;         // 0: inferred, C / weight.shape[1]
    int offset_groups = 0;  // 0: inferred, offset.shape[1] / (2*kH*kW)
    Device device = Device::cpu;
    CudaContext cuda;       // for Device::cuda

    // Symmetric padding (torchvision's (padH, padW)).
    DeformConv2dOptions &set_padding(int pad_h, int pad_w) {
        padding = Padding(pad_h, pad_w);
        return *this;
    }
    // Asymmetric padding (ONNX's pads: top, left, bottom, right).
    DeformConv2dOptions &set_padding(int top, int left, int bottom, int right) {
        padding = Padding(top, left, bottom, right);
        return *this;
    }
};

// Output shape (N, K, oH, oW) that deform_conv2d will require, from the
// input and weight shapes. Throws dcn::Error when it would be empty or the
// ranks are wrong.
std::vector<int64_t> deform_conv2d_output_shape(const std::vector<int64_t> &input_shape,
                                                const std::vector<int64_t> &weight_shape,
                                                const DeformConv2dOptions &options = {});

// Deformable convolution (DCNv1; DCNv2 when a mask is given), NCHW, float32
// or float64, same semantics as torchvision.ops.deform_conv2d and ONNX
// DeformConv (docs/operators.md):
//   input  (N, C, H, W)
//   offset (N, 2*G*kH*kW, oH, oW), (dy, dx) pairs per offset group and tap
//   weight (K, C/groups, kH, kW)
//   mask   (N, G*kH*kW, oH, oW) or absent
//   bias   (K) or absent
//   output (N, K, oH, oW), written
// A NaN, infinite or huge offset puts a sample outside the image (it adds
// 0); no kernel ever reads outside its buffers. Throws dcn::Error.
void deform_conv2d(const TensorView &input, const TensorView &offset, const TensorView &weight,
                   const std::optional<TensorView> &mask, const std::optional<TensorView> &bias,
                   const TensorView &output, const DeformConv2dOptions &options = {});

// Every check deform_conv2d makes before it allocates or runs anything
// (shapes, groups, options, dtypes, devices, limits), without running it:
// throws the same dcn::Error. Tensor data is not read, so a tool can check
// a call from shapes alone before it reads or allocates large arrays.
void deform_conv2d_validate(const TensorView &input, const TensorView &offset, const TensorView &weight,
                            const std::optional<TensorView> &mask, const std::optional<TensorView> &bias,
                            const TensorView &output, const DeformConv2dOptions &options = {});

// Gradients of deform_conv2d to compute: each one a tensor to write, of
// the shape (and dtype, device) of its input, or absent: a gradient not
// asked for is not computed (the weight gradients and the data gradients
// are separate kernels; grad_offset and grad_mask share one).
struct DeformConv2dGradients {
    std::optional<TensorView> input;   // (N, C, H, W)
    std::optional<TensorView> offset;  // (N, 2*G*kH*kW, oH, oW)
    std::optional<TensorView> mask;    // (N, G*kH*kW, oH, oW); only with a mask
    std::optional<TensorView> weight;  // (K, C/groups, kH, kW)
    std::optional<TensorView> bias;    // (K)
};

// Backward pass of deform_conv2d (docs/operators.md, Gradients): from
// grad_output (N, K, oH, oW) and the forward's inputs, the gradients asked
// for in `grads` (each overwritten). torchvision's semantics: at a sample on
// an integer coordinate the cell is floor()'s, so the offset gradient is
// the one-sided derivative from above; a sample with y < -1, y >= H,
// x < -1 or x >= W (or a NaN / infinite offset) has zero gradients.
// Deterministic: the same inputs give bitwise the same gradients on every
// run and for any thread count. The bias needs no input (its gradient is
// the sum of grad_output). Throws dcn::Error (as deform_conv2d) before
// anything runs; the gradients must not overlap each other or the inputs.
void deform_conv2d_backward(const TensorView &grad_output, const TensorView &input, const TensorView &offset,
                            const TensorView &weight, const std::optional<TensorView> &mask,
                            const DeformConv2dGradients &grads, const DeformConv2dOptions &options = {});

// Every check deform_conv2d_backward makes, without running it, from the
// shapes alone (tensor data is not read; the views may be placeholders, so
// the check that gradients do not overlap each other or the inputs in
// memory is left to deform_conv2d_backward).
void deform_conv2d_backward_validate(const TensorView &grad_output, const TensorView &input,
                                     const TensorView &offset, const TensorView &weight,
                                     const std::optional<TensorView> &mask, const DeformConv2dGradients &grads,
                                     const DeformConv2dOptions &options = {});

// Number of FLOPs deform_conv2d counts for a problem: 2*N*K*(C/groups)*kH*kW*oH*oW
// (weight.shape[1] is C/groups).
double deform_conv2d_flops(const std::vector<int64_t> &input_shape,
                           const std::vector<int64_t> &weight_shape,
                           const std::vector<int64_t> &output_shape);

// ---- deformable RoI pooling ---------------------------------------------------

// Options of deform_psroi_pool (docs/operators.md): the original MSRA DeformablePSROIPooling
// (Deformable-ConvNets, R-FCN). group_size = 1 and output_dim = C is the
// paper's plain deformable RoI pooling; group_size > 1 the position-sensitive
// variant.
struct DeformPsroiPoolOptions {
    float spatial_scale = 1.0f;  // > 0
    int output_dim = 0;          // required, >= 1; C must be output_dim * group_size^2
    int group_size = 1;          // >= 1
    int pooled_size = 7;         // >= 1 (square bins)
    int part_size = 0;           // 0 = pooled_size; else >= 1
    int sample_per_part = 4;     // >= 1 (samples per bin side)
    float trans_std = 0.0f;      // scale of trans; 0 (the default) turns a given trans off, as MSRA
    Device device = Device::cpu;
    CudaContext cuda;            // for Device::cuda
};

// (R, output_dim, pooled_size, pooled_size).
std::vector<int64_t> deform_psroi_pool_output_shape(const std::vector<int64_t> &input_shape,
                                                    const std::vector<int64_t> &rois_shape,
                                                    const DeformPsroiPoolOptions &options);

// Deformable (position-sensitive) RoI pooling, MSRA semantics (docs/operators.md):
//   input  (N, C, H, W), C = output_dim * group_size^2
//   rois   (R, 5) = [batch index, x1, y1, x2, y2] in input-image coordinates;
//          the batch index must be an integer in [0, N); coordinates must be
//          finite (a NaN or infinite coordinate is an error naming the RoI)
//   trans  (R, 2*num_classes, part, part) or absent (no_trans);
//          output_dim must be a multiple of num_classes
//   output (R, output_dim, P, P), written
//   count  (R, output_dim, P, P) or absent: the number of samples that fell
//          inside the image for each bin (what the backward pass divides by)
// R = 0 is valid (nothing to do). A NaN or infinite trans value moves that
// bin's samples outside the image: the bin is 0 with count 0.
void deform_psroi_pool(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &trans,
                       const TensorView &output, const std::optional<TensorView> &count,
                       const DeformPsroiPoolOptions &options);

// deform_psroi_pool's checks without running it (as deform_conv2d_validate;
// the RoI table's data is read, the other tensors' is not).
void deform_psroi_pool_validate(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &trans,
                                const TensorView &output, const std::optional<TensorView> &count,
                                const DeformPsroiPoolOptions &options);

// Options of deform_roi_pool: mmcv's DeformRoIPool (RoIAlign-style sampling).
struct DeformRoiPoolOptions {
    std::array<int, 2> output_size{7, 7};  // (PH, PW), each >= 1
    float spatial_scale = 1.0f;            // > 0
    int sampling_ratio = 0;                // samples per bin side; 0 = adaptive, ceil(roi / bins)
    float gamma = 0.1f;                    // scale of the offset
    Device device = Device::cpu;
    CudaContext cuda;                      // for Device::cuda
};

// (R, C, PH, PW).
std::vector<int64_t> deform_roi_pool_output_shape(const std::vector<int64_t> &input_shape,
                                                  const std::vector<int64_t> &rois_shape,
                                                  const DeformRoiPoolOptions &options);

// Deformable RoI pooling with RoIAlign sampling, mmcv semantics (docs/operators.md):
//   input  (N, C, H, W)
//   rois   (R, 5) as for deform_psroi_pool (same checks)
//   offset (R, 2, PH, PW) or absent; channel 0 = x, channel 1 = y
//   mask   (R, 1, PH, PW) or absent: the modulated variant (multiplies the
//          pooled output)
//   output (R, C, PH, PW), written
// A NaN or infinite offset moves that bin's samples outside the image: the
// bin is 0.
void deform_roi_pool(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &offset,
                     const std::optional<TensorView> &mask, const TensorView &output,
                     const DeformRoiPoolOptions &options);

// deform_roi_pool's checks without running it (the RoI table's data is read).
void deform_roi_pool_validate(const TensorView &input, const TensorView &rois, const std::optional<TensorView> &offset,
                              const std::optional<TensorView> &mask, const TensorView &output,
                              const DeformRoiPoolOptions &options);

// Gradients of deform_psroi_pool to compute (each of the shape, dtype and
// device of its input, or absent: not computed).
struct DeformPsroiPoolGradients {
    std::optional<TensorView> input;  // (N, C, H, W)
    std::optional<TensorView> trans;  // (R, 2*num_classes, part, part); only with trans
};

// Backward pass of deform_psroi_pool (docs/operators.md, Gradients), MSRA's
// rules: from grad_output (R, output_dim, P, P) and the forward's inputs,
// the gradients asked for (each overwritten). Each valid sample of a bin
// passes grad_output / count to its four corners; trans gets trans_std * the
// RoI's size * those shares * the bilinear derivative at the clamped
// coordinate, summed over the part cell's bins, the class's channels and
// the samples. Deterministic (bitwise, any thread count). Throws dcn::Error
// (as deform_psroi_pool) before anything runs; the gradients must not
// overlap each other or the inputs.
void deform_psroi_pool_backward(const TensorView &grad_output, const TensorView &input, const TensorView &rois,
                                const std::optional<TensorView> &trans, const DeformPsroiPoolGradients &grads,
                                const DeformPsroiPoolOptions &options);

// deform_psroi_pool_backward's checks without running it (the RoI table's
// data is read; the memory-overlap check is left to the call).
void deform_psroi_pool_backward_validate(const TensorView &grad_output, const TensorView &input,
                                         const TensorView &rois, const std::optional<TensorView> &trans,
                                         const DeformPsroiPoolGradients &grads, const DeformPsroiPoolOptions &options);

// Gradients of deform_roi_pool to compute (as DeformPsroiPoolGradients).
struct DeformRoiPoolGradients {
    std::optional<TensorView> input;   // (N, C, H, W)
    std::optional<TensorView> offset;  // (R, 2, PH, PW); only with an offset
    std::optional<TensorView> mask;    // (R, 1, PH, PW); only with a mask
};

// Backward pass of deform_roi_pool (docs/operators.md, Gradients), mmcv's
// rules: from grad_output (R, C, PH, PW) and the forward's inputs, the
// gradients asked for (each overwritten). Each sample inside [-1, H] x
// [-1, W] passes grad_output * mask / (samples of the bin) to its four
// RoIAlign corners; the offset gets gamma * the RoI's size * those shares *
// the bilinear derivative taken, as mmcv does, with the sample's unclamped
// coordinate (in the border band y < 0 or y > H - 1 that is not the true
// derivative); the mask gets the sum over channels of grad_output * the
// unmasked pooled value. Deterministic (bitwise, any thread count). Errors
// as deform_psroi_pool_backward.
void deform_roi_pool_backward(const TensorView &grad_output, const TensorView &input, const TensorView &rois,
                              const std::optional<TensorView> &offset, const std::optional<TensorView> &mask,
                              const DeformRoiPoolGradients &grads, const DeformRoiPoolOptions &options);

// deform_roi_pool_backward's checks without running it (as
// deform_psroi_pool_backward_validate).
void deform_roi_pool_backward_validate(const TensorView &grad_output, const TensorView &input, const TensorView &rois,
                                       const std::optional<TensorView> &offset, const std::optional<TensorView> &mask,
                                       const DeformRoiPoolGradients &grads, const DeformRoiPoolOptions &options);

// Bilinear samples a pooling call takes (for the CLI's gsamples figure):
// deform_psroi_pool: R * output_dim * P^2 * sample_per_part^2;
// deform_roi_pool: R * C * PH * PW * (its sampling grid per bin, summed over
// RoIs when adaptive).
double deform_psroi_pool_samples(const std::vector<int64_t> &output_shape, const DeformPsroiPoolOptions &options);
double deform_roi_pool_samples(const TensorView &rois, int64_t channels, const DeformRoiPoolOptions &options);

// ---- CPU threads and instruction sets ---------------------------------------

// Worker threads of the CPU kernels (Halide's thread pool). n = 0 restores
// the default (HL_NUM_THREADS, else the number of cores); n < 0 throws
// dcn::Error (argument "n").
void set_num_threads(int n);
int num_threads();

// The CPU kernels keep the large scratch buffers of finished calls (at most
// 256 MiB) for the next call, instead of returning them to the system and
// page-faulting them in again, and GPU calls keep their device scratch
// (per context and stream) instead of freeing it, which would synchronise
// the device. This frees both; cached_memory_bytes() tells how much host
// memory is held.
void release_cached_memory();
size_t cached_memory_bytes();

// The CPU code paths, best first. At run time each call takes the best one
// the CPU supports, up to a cap, that has the call's kernel (else the next
// one down). (The build's list of paths, dcn/lists.inc: avx512_bf16 (the
// convolution's bfloat16 kernels only: AVX512-BF16 GEMMs), avx512_skylake,
// avx2_fma, sse41, baseline.)
enum class CpuIsa {
#define DCN_CPU_PATH(name) name,
#include "dcn/lists.inc"
#undef DCN_CPU_PATH
};
const char *cpu_isa_name(CpuIsa isa);
std::optional<CpuIsa> cpu_isa_from_name(const std::string &name);
// All compiled paths, best first.
std::vector<CpuIsa> compiled_cpu_isas();
// Whether this CPU, and its operating system (which must save the
// registers of the path's AVX / AVX-512 instructions), can run the path.
bool cpu_supports(CpuIsa isa);
// The CPU path a call of `op` ("deform_conv2d", "deform_psroi_pool",
// "deform_roi_pool") in `direction` ("forward", "backward_data",
// "backward_weight") and `dtype` runs when `isa` is the best path allowed:
// `isa` where the build compiled that kernel for it, else the next path
// down that has it (a path may exist for some kernels only: avx512_bf16).
// An unknown operator or direction, or a combination this build has no
// kernel for, throws dcn::Error.
CpuIsa cpu_path_for(const std::string &op, const std::string &direction, DType dtype, CpuIsa isa);
// Cap the path used (like ONEDNN_MAX_CPU_ISA): kernels use the best path that
// is <= cap and supported by the CPU. std::nullopt removes the cap. The
// environment variable DCN_MAX_CPU_ISA (a cpu_isa_name) sets the initial cap.
void set_max_cpu_isa(std::optional<CpuIsa> cap);
std::optional<CpuIsa> max_cpu_isa();
// The Halide target features of this build's CPU paths that this CPU (and
// its operating system) supports, e.g. {"avx2", "fma", "f16c", "sse41"}.
std::vector<std::string> cpu_features();
// The path the last CPU kernel call on this thread ran (for tests and logs).
CpuIsa last_cpu_isa();
// The schedule the last CPU kernel call on this thread ran: "default", or
// the name of the tuned shape class (schedules/tuned/) chosen for its shape
// and path. The environment variable DCN_TUNED=0 turns tuned classes off.
const char *last_cpu_schedule();

// ---- build information ------------------------------------------------------

struct BuildInfo {
    std::string version;         // dcn version
    std::string halide_version;  // Halide used to generate the kernels
    std::vector<std::string> kernels;  // compiled kernel variants
    std::vector<std::string> cpu_targets;  // Halide target strings, best first
    // Per GPU device of this build, the GEMM of deform_conv2d's GPU path:
    // "cuda: cuBLASLt <version> (<library>)" or "cuda: Halide GEMM (<why
    // cuBLASLt is not used>)", "opencl: Halide GEMM". cuBLASLt is looked
    // for (loaded) when this is asked or at the first CUDA call.
    std::vector<std::string> gpu_gemm;
};
BuildInfo build_info();
// Devices usable on this machine now: cpu always; cuda when a CUDA driver
// and device answer; opencl when an OpenCL platform and device answer
// (HL_OCL_PLATFORM_NAME / HL_OCL_DEVICE_TYPE choose which). Probed once.
std::vector<Device> usable_devices();
// Whether `device` is usable; if not, `why` (when given) says why.
bool device_usable(Device device, std::string *why = nullptr);
// Whether this build has the kernels of `op` in `direction` and `dtype`
// for `device` (cpu: on some path; a GPU: the operator's kernels, or every
// GPU stage kernel of its path there; e.g. CUDA has no float64 kernels).
// An unknown operator or direction throws dcn::Error.
bool has_kernels(Device device, const std::string &op, const std::string &direction, DType dtype);

}  // namespace dcn
