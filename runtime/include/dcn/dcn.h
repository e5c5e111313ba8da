// dcn: Deformable Convolutional Network operators (Halide AOT kernels).
//
// Public API. Only standard C++ here: the generated Halide headers and
// halide_buffer_t stay private to the library.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dcn {

// Where a tensor's memory lives. Only Device::cpu is implemented so far.
enum class Device { cpu, cuda, opencl };

const char *device_name(Device d);

// A non-owning view of a float32 tensor: pointer, shape, strides (in
// elements), device. The innermost (last) dimension must have stride 1; the
// other strides may be anything non-negative (a padded row pitch, a slice of
// a larger batch).
struct TensorView {
    float *data = nullptr;
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;  // empty = C-contiguous
    Device device = Device::cpu;

    TensorView() = default;
    // C-contiguous view.
    TensorView(float *data, std::vector<int64_t> shape, Device device = Device::cpu);
    // Read-only contiguous view (the library never writes through an input).
    TensorView(const float *data, std::vector<int64_t> shape, Device device = Device::cpu);
    // Explicit strides, in elements.
    TensorView(float *data, std::vector<int64_t> shape, std::vector<int64_t> strides,
               Device device = Device::cpu);
    TensorView(const float *data, std::vector<int64_t> shape, std::vector<int64_t> strides,
               Device device = Device::cpu);

    int rank() const { return static_cast<int>(shape.size()); }
    int64_t numel() const;
    // strides, or the C-contiguous strides when none were given.
    std::vector<int64_t> effective_strides() const;
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

// Options of deform_conv2d; torchvision's and ONNX DeformConv's attributes.
struct DeformConv2dOptions {
    std::array<int, 2> stride{1, 1};       // (sH, sW), each >= 1
    std::array<int, 4> padding{0, 0, 0, 0};  // (top, left, bottom, right), each >= 0
    std::array<int, 2> dilation{1, 1};     // (dH, dW), each >= 1
    int groups = 0;         // 0: inferred, C / weight.shape[1]
    int offset_groups = 0;  // 0: inferred, offset.shape[1] / (2*kH*kW)
    Device device = Device::cpu;

    // Symmetric padding (torchvision's (padH, padW)).
    DeformConv2dOptions &set_padding(int pad_h, int pad_w) {
        padding = {pad_h, pad_w, pad_h, pad_w};
        return *this;
    }
};

// Output shape (N, K, oH, oW) that deform_conv2d will require, from the
// input and weight shapes. Throws dcn::Error when it would be empty or the
// ranks are wrong.
std::vector<int64_t> deform_conv2d_output_shape(const std::vector<int64_t> &input_shape,
                                                const std::vector<int64_t> &weight_shape,
                                                const DeformConv2dOptions &options = {});

// Deformable convolution (DCNv1; DCNv2 when a mask is given), float32 NCHW,
// same semantics as torchvision.ops.deform_conv2d and ONNX DeformConv:
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

// Number of FLOPs deform_conv2d counts for a problem: 2*N*K*(C/groups)*kH*kW*oH*oW
// (weight.shape[1] is C/groups).
double deform_conv2d_flops(const std::vector<int64_t> &input_shape,
                           const std::vector<int64_t> &weight_shape,
                           const std::vector<int64_t> &output_shape);

// ---- CPU threads and instruction sets ---------------------------------------

// Worker threads of the CPU kernels (Halide's thread pool). n <= 0 restores
// the default (HL_NUM_THREADS, else the number of cores).
void set_num_threads(int n);
int num_threads();

// The CPU code paths every kernel is compiled for, best first. At run time
// each call takes the best one the CPU supports, up to a cap.
enum class CpuIsa { avx512_skylake, avx2_fma, sse41, baseline };
const char *cpu_isa_name(CpuIsa isa);
std::optional<CpuIsa> cpu_isa_from_name(const std::string &name);
// All compiled paths, best first.
std::vector<CpuIsa> compiled_cpu_isas();
// Whether this CPU can run the path.
bool cpu_supports(CpuIsa isa);
// Cap the path used (like ONEDNN_MAX_CPU_ISA): kernels use the best path that
// is <= cap and supported by the CPU. std::nullopt removes the cap. The
// environment variable DCN_MAX_CPU_ISA (a cpu_isa_name) sets the initial cap.
void set_max_cpu_isa(std::optional<CpuIsa> cap);
std::optional<CpuIsa> max_cpu_isa();
// The path the last CPU kernel call on this thread ran (for tests and logs).
CpuIsa last_cpu_isa();

// ---- build information ------------------------------------------------------

struct BuildInfo {
    std::string version;         // dcn version
    std::string halide_version;  // Halide used to generate the kernels
    std::vector<std::string> kernels;  // compiled kernel variants
    std::vector<std::string> cpu_targets;  // Halide target strings, best first
};
BuildInfo build_info();
// Devices usable on this machine now ("cpu" always).
std::vector<Device> usable_devices();

}  // namespace dcn
