// The CUDA driver as dcn uses it: loaded at run time by name (nothing of
// CUDA is needed to build or to run on a CPU), probed without creating a
// context, and the rule that picks the context a CUDA call runs in.
#pragma once

#include <functional>
#include <string>

namespace dcn::detail {

// libcuda's names, tried in order: the driver's soname first (all that many
// machines and containers have), then the development link name. A
// toolkit's stubs/libcuda.so on the library path is so only reached when no
// driver is installed, and then reported as the stub it is. Halide's own
// CUDA runtime, which tries "libcuda.so" alone, loads through this too
// (dcn defines halide_cuda_get_symbol).
inline constexpr const char *kCudaDriverNames[] = {"libcuda.so.1", "libcuda.so"};

// A symbol of the driver (nullptr when there is no driver or no such
// symbol). The library is opened once per process.
void *cuda_symbol(const char *name);

// Whether the driver loads, initialises and has a device; `why` (when not
// usable) says which step failed: the names tried, the stub library,
// cuInit's error name, no device. Creates no context.
bool cuda_driver_usable(std::string *why);

// The driver calls the context rule needs, as plain functions so that the
// rule is tested without a GPU. CUresult codes as int (0: success).
struct CudaContextCalls {
    // cuPointerGetAttribute(CU_POINTER_ATTRIBUTE_CONTEXT) and
    // (CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL) of a device pointer.
    std::function<int(const void *ptr, void **context)> context_of;
    std::function<int(const void *ptr, int *ordinal)> ordinal_of;
    // cuDevicePrimaryCtxRetain of device `ordinal` (kept for the process).
    std::function<int(int ordinal, void **context)> primary_context;
};

// The driver's functions (cuda_symbol), or calls that fail when a symbol is
// missing.
const CudaContextCalls &driver_context_calls();

// The device memory of one CUDA call: every CUDA tensor must be memory the
// driver knows, on one device. add() throws dcn::Error(function, argument)
// for a pointer the driver does not know as device memory, or one on
// another GPU than the first tensor's ("expected cuda:0 (the input's), got
// cuda:1").
class CudaCallMemory {
public:
    CudaCallMemory(const CudaContextCalls &calls, const char *function) : calls_(calls), function_(function) {}
    void add(const char *argument, const void *ptr);
    const void *first_ptr() const { return first_ptr_; }
    const char *first_argument() const { return first_arg_; }
    int ordinal() const { return ordinal_; }  // -1: no device memory yet

private:
    const CudaContextCalls &calls_;
    const char *function_;
    const void *first_ptr_ = nullptr;
    const char *first_arg_ = nullptr;
    int ordinal_ = -1;
};

// The context of a CUDA call, by the rule of docs/guarantees.md ("GPUs"):
//   1. the caller's context, when given (options.cuda.context);
//   2. else the context that owns the call's device memory (the first CUDA
//      tensor's), so that a caller's allocations are never used from
//      another context (a thread with no current context, autograd's
//      worker, included);
//   3. else (host tensors only) the primary context of device
//      options.cuda.ordinal.
// Never a new context. Throws dcn::Error(function, ...) when the driver
// cannot say.
void *pick_cuda_context(const CudaContextCalls &calls, const char *function, void *given,
                        const CudaCallMemory &memory, int ordinal);

// A kernel launch as Halide's CUDA runtime asks for it (cuLaunchKernel's
// arguments), and the driver calls dcn wraps it with. Halide 21's runtime
// never raises a kernel's dynamic shared memory limit above the default
// 48 KB, so a block needing more (deform_psroi_pool with 7x7 bins and
// sample_per_part >= 6; deform_roi_pool with an adaptive grid of 32 and
// more) would fail to launch; and grid y / z are limited to 65535 blocks
// (a RoI per block row). dcn gives Halide its own cuLaunchKernel
// (halide_cuda_get_symbol) that checks both first.
struct CudaLaunch {
    void *function = nullptr;  // CUfunction
    unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
    unsigned shared_bytes = 0;
    void *stream = nullptr;
    void **params = nullptr, **extra = nullptr;
};
struct CudaLaunchCalls {
    std::function<int(const CudaLaunch &)> launch;                     // cuLaunchKernel
    std::function<int(void *function, int bytes)> set_dynamic_shared;  // cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)
    std::function<int(int *bytes)> max_shared_optin;  // the current device's MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
};
const CudaLaunchCalls &driver_launch_calls();
// Launches `l`: a grid beyond 65535 blocks in y or z, or more shared
// memory than the device allows a block, is refused (CUDA_ERROR_INVALID_VALUE,
// with a launch note saying why); more than 48 KB raises the kernel's limit
// to what it needs first.
int launch_checked(const CudaLaunchCalls &calls, const CudaLaunch &l);
// Why the last launch on this thread was refused ("" if none); taken once.
std::string take_launch_note();

}  // namespace dcn::detail
