// Private helpers shared by the runtime's operator wrappers. Nothing here is
// installed: halide_buffer_t never reaches the public headers.
#pragma once

#include <HalideRuntime.h>

#include <deque>
#include <initializer_list>
#include <string>
#include <vector>

#include "dcn/dcn.h"

namespace dcn::detail {

// "[1, 18, 50, 84]"
std::string shape_str(const std::vector<int64_t> &shape);

// A halide_buffer_t over a TensorView's host memory (dimensions reversed:
// Halide is innermost first). The view must have been validated.
struct HalideView {
    halide_buffer_t buf{};
    halide_dimension_t dims[4]{};
    explicit HalideView(const TensorView &t);
    // buf.dim points into this object: copies must re-point it.
    HalideView(const HalideView &other);
    HalideView &operator=(const HalideView &) = delete;
    halide_buffer_t *get() { return &buf; }
};

// Checks shared by every operator. `function` and `argument` name the call
// and the tensor in error messages. `device` is the device the call runs on:
// a tensor may be host memory, or device memory of that device (CUDA only).
void check_tensor(const char *function, const char *argument, const TensorView &t, int rank,
                  const char *layout, Device device = Device::cpu);
void check_shape(const char *function, const char *argument, const TensorView &t,
                 const std::vector<int64_t> &expected, const std::string &why);
// The device of the call: compiled in and usable on this machine.
void check_device(const char *function, Device device);

// Passed to GPU kernels as user_context: the caller's CUDA context/stream.
struct GpuUserContext {
    CudaContext cuda;
};

// The buffers of one kernel call on one device. For the CPU: host views.
// For a GPU: host tensors are marked for copying to the device (inputs) and
// copied back (outputs) by finish(); CUDA device tensors are wrapped in
// place. Device allocations made for the call are freed, wrapped pointers
// detached, in every case (also when the call throws).
class KernelCall {
public:
    KernelCall(const char *function, Device device, const CudaContext &cuda);
    ~KernelCall();
    KernelCall(const KernelCall &) = delete;
    KernelCall &operator=(const KernelCall &) = delete;

    halide_buffer_t *input(const TensorView &t) { return add(t, false); }
    halide_buffer_t *output(const TensorView &t) { return add(t, true); }
    void *user_context() { return &context_; }
    Device device() const { return device_; }
    // For CPU calls: index into a kernel's per-ISA table.
    int cpu_variant() const { return isa_; }
    // The call's shape features (tools/autotune/tunables.h order), which
    // choose a tuned schedule class; with none set, the default schedule runs.
    void set_shape_features(std::initializer_list<int64_t> features) {
        num_features_ = 0;
        for (int64_t f : features)
            if (num_features_ < 4) features_[num_features_++] = f;
    }
    // Whether every feature lies in its inclusive [lo, hi] range.
    bool shape_within(const int64_t (*ranges)[2]) const {
        if (num_features_ == 0) return false;
        for (int i = 0; i < num_features_; i++)
            if (features_[i] < ranges[i][0] || features_[i] > ranges[i][1]) return false;
        return true;
    }
    // Checks the kernel's status (throws dcn::Error with Halide's message),
    // then brings host outputs back from the device.
    void finish(int status);

private:
    struct Entry {
        HalideView view;
        bool output, wrapped;
    };
    halide_buffer_t *add(const TensorView &t, bool output);
    void release() noexcept;

    const char *function_;
    Device device_;
    GpuUserContext context_;
    int isa_ = 0;
    int64_t features_[4] = {};
    int num_features_ = 0;
    std::deque<Entry> entries_;
};

// Installs the error handler, the CPU dispatch hook and the CUDA context
// hooks (once), resets the per-call error state.
void begin_kernel_call();
// Index into a kernel's per-ISA table (cmake/DcnKernels.cmake, best first):
// the best path the CPU supports, not above the cap. The question goes
// through halide_can_use_target_features, so the custom hook decides.
int select_cpu_variant();
// Tuned schedule classes are used unless the environment says DCN_TUNED=0.
bool tuned_schedules_enabled();
// Records the schedule a CPU call ran (a tuned class name, or nullptr for
// the default) for dcn::last_cpu_schedule().
void note_cpu_schedule(const char *tuned_class);
// The last Halide error message of this call ("" if none).
std::string last_halide_error();
// Turns a non-zero kernel status into dcn::Error with Halide's message.
void check_kernel_status(const char *function, int status);

}  // namespace dcn::detail
