// Private helpers shared by the runtime's operator wrappers. Nothing here is
// installed: halide_buffer_t never reaches the public headers.
#pragma once

#include <HalideRuntime.h>

#include <deque>
#include <initializer_list>
#include <string>
#include <vector>

#include "cuda_driver.h"
#include "dcn/dcn.h"

namespace dcn::detail {

// "[1, 18, 50, 84]"
std::string shape_str(const std::vector<int64_t> &shape);

// A halide_buffer_t over a TensorView's host memory (dimensions reversed:
// Halide is innermost first). The view must have been validated.
struct HalideView {
    static constexpr int kMaxRank = 6;
    halide_buffer_t buf{};
    halide_dimension_t dims[kMaxRank]{};
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
// Every tensor of a call has the input's dtype.
void check_dtype(const char *function, const char *argument, const TensorView &t, DType expected);
// The device of the call: compiled in and usable on this machine.
void check_device(const char *function, Device device);

// Passed to GPU kernels as user_context: the caller's CUDA context/stream.
struct GpuUserContext {
    CudaContext cuda;
};

struct KernelEntry;

// One kernel call on one device: its buffers and scalars, named as the
// generators name their inputs and outputs, then the kernel chosen from the
// kernel table and run. For the CPU: host views. For a GPU: host tensors
// are marked for copying to the device (inputs) and copied back (outputs)
// by finish(); CUDA device tensors are wrapped in place. Device allocations
// made for the call are freed, wrapped pointers detached, in every case
// (also when the call throws).
class KernelCall {
public:
    KernelCall(const char *function, Device device, const CudaContext &cuda);
    ~KernelCall();
    KernelCall(const KernelCall &) = delete;
    KernelCall &operator=(const KernelCall &) = delete;

    void input(const char *name, const TensorView &t) { add(name, t, false); }
    void output(const char *name, const TensorView &t) { add(name, t, true); }
    // A scalar argument; named again, its value for the following runs.
    void scalar(const char *name, int32_t v);
    // A second name for a buffer of the call (a kernel that reads and
    // writes one buffer in place takes it as an input and an output).
    void alias(const char *name, const char *existing);
    void scalar(const char *name, float v);
    Device device() const { return device_; }
    // The call's shape features (schedules/cpu/tunables.cmake order), which
    // choose a tuned schedule class; with none set, the default schedule runs.
    void set_shape_features(std::initializer_list<int64_t> features) {
        num_features_ = 0;
        for (int64_t f : features)
            if (num_features_ < 4) features_[num_features_++] = f;
    }
    // Runs the kernel on the call's device: on the CPU the tuned class that
    // matches the call's path and shape, else the kernel of the best path
    // compiled for it (not above the selected one). Binds the arguments by
    // name from the kernel's metadata; returns Halide's status.
    int run(const KernelEntry &kernel);
    // Checks the kernel's status (throws dcn::Error with Halide's message),
    // then brings host outputs back from the device.
    void finish(int status);

    // Several kernels in one call (a GPU path of stages): a buffer that
    // lives on the call's device only, for one kernel to write and the next
    // to read (e.g. deform_conv2d's columns). Dense, C order, `shape` in
    // the TensorView order. Allocated now (on CUDA in the call's context:
    // add the call's tensors first), kept in Halide's device allocation
    // cache when released, so that a warm call allocates nothing.
    void scratch(const char *name, const std::vector<int64_t> &shape, DType dtype);
    // CUDA: the device address of a buffer of the call (a wrapped tensor's,
    // a scratch's, or a host tensor's device copy: an input copied there
    // now, an output allocated and marked as written on the device, so
    // that finish() copies it back). For work outside Halide's kernels
    // (cuBLASLt) between run()s.
    void *cuda_address(const char *name, bool written);
    // CUDA: the call's context (picked by the rule of pick_cuda_context) and
    // the caller's stream (nullptr: the context's default stream).
    void *cuda_context();
    void *cuda_stream() const { return context_.cuda.stream; }
    // Throws dcn::Error with Halide's message for a non-zero status.
    void check(int status) const;

private:
    struct Entry {
        HalideView view;
        bool output, wrapped;
        const char *name = nullptr;
    };
    struct Arg {
        const char *name;
        halide_buffer_t *buffer;  // nullptr for a scalar
        halide_type_t type;
        union {
            int32_t i32;
            float f32;
        } value;
    };
    void add(const char *name, const TensorView &t, bool output);
    Entry &entry(const char *name);
    Arg &new_arg(const char *name);
    Arg *find_arg(const char *name);
    bool shape_within(const int64_t (*ranges)[2]) const;
    void release() noexcept;

    const char *function_;
    Device device_;
    GpuUserContext context_;
    int cuda_ordinal_ = 0;        // the caller's options.cuda.ordinal
    bool context_picked_ = false;
    CudaCallMemory cuda_memory_;  // the call's CUDA tensors: one GPU
    void *user_context_ = &context_;  // argv passes a pointer to the pointer
    int isa_ = 0;
    int64_t features_[4] = {};
    int num_features_ = 0;
    std::deque<Entry> entries_;
    Arg args_[32];
    int num_args_ = 0;
};

// Installs the error handler, the CPU dispatch hook and the CUDA context
// hooks (once), resets the per-call error state.
void begin_kernel_call();
// Index of the CPU path (dcn::CpuIsa order, best first) a call takes: the
// best path the CPU supports, not above the cap. The question goes through
// halide_can_use_target_features, so the custom hook decides.
int select_cpu_variant();
// Records the CPU path a call ran, for dcn::last_cpu_isa().
void note_cpu_isa(int isa);
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
