#include "cuda_driver.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>

#include "dcn/dcn.h"

namespace dcn::detail {
namespace {

// The driver API's values dcn uses (cuda.h; not included: nothing of CUDA
// is needed to build).
constexpr int kCudaSuccess = 0;
constexpr int kCudaErrorStubLibrary = 34;
constexpr int kPointerAttributeContext = 1;        // CU_POINTER_ATTRIBUTE_CONTEXT
constexpr int kPointerAttributeDeviceOrdinal = 9;  // CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL

struct Driver {
    void *lib = nullptr;
    std::string tried;  // "libcuda.so.1 (<dlerror>); libcuda.so (...)"
};

const Driver &driver() {
    static Driver d;
    static std::once_flag once;
    std::call_once(once, [] {
        for (const char *name : kCudaDriverNames) {
            d.lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
            if (d.lib) return;
            const char *e = dlerror();
            d.tried += std::string(d.tried.empty() ? "" : "; ") + name + " (" + (e ? e : "not found") + ")";
        }
    });
    return d;
}

template <typename F>
F symbol(const char *name) {
    return reinterpret_cast<F>(cuda_symbol(name));
}

// "CUDA_ERROR_NO_DEVICE (100)", through cuGetErrorName when the driver has it.
std::string error_name(int code) {
    using GetErrorName = int (*)(int, const char **);
    const char *s = nullptr;
    if (auto f = symbol<GetErrorName>("cuGetErrorName")) f(code, &s);
    return std::string(s ? s : "CUDA error") + " (" + std::to_string(code) + ")";
}

// What a call through a symbol the driver lacks returns.
constexpr int kCudaErrorNotFound = 500;  // CUDA_ERROR_NOT_FOUND

}  // namespace

void *cuda_symbol(const char *name) {
    const Driver &d = driver();
    return d.lib ? dlsym(d.lib, name) : nullptr;
}

bool cuda_driver_usable(std::string *why) {
    auto fail = [&](const std::string &w) {
        if (why) *why = w;
        return false;
    };
    const Driver &d = driver();
    if (!d.lib) return fail("no CUDA driver library: tried " + d.tried);
    using Init = int (*)(unsigned);
    using GetCount = int (*)(int *);
    const auto init = symbol<Init>("cuInit");
    const auto count = symbol<GetCount>("cuDeviceGetCount");
    if (!init || !count) return fail("the CUDA driver library has no cuInit / cuDeviceGetCount");
    const int rc = init(0);
    if (rc == kCudaErrorStubLibrary)
        return fail("cuInit: " + error_name(rc) +
                    ": the library found is the CUDA toolkit's stub (stubs/libcuda.so), not a driver");
    if (rc != kCudaSuccess) return fail("cuInit: " + error_name(rc));
    int n = 0;
    const int rc2 = count(&n);
    if (rc2 != kCudaSuccess) return fail("cuDeviceGetCount: " + error_name(rc2));
    if (n <= 0) return fail("the CUDA driver reports no device");
    return true;
}

const CudaContextCalls &driver_context_calls() {
    static const CudaContextCalls calls = [] {
        using PointerGetAttribute = int (*)(void *, int, unsigned long long);
        using DeviceGet = int (*)(int *, int);
        using PrimaryCtxRetain = int (*)(void **, int);
        CudaContextCalls c;
        c.context_of = [](const void *ptr, void **ctx) {
            const auto f = symbol<PointerGetAttribute>("cuPointerGetAttribute");
            return f ? f(ctx, kPointerAttributeContext, reinterpret_cast<uintptr_t>(ptr)) : kCudaErrorNotFound;
        };
        c.ordinal_of = [](const void *ptr, int *ordinal) {
            const auto f = symbol<PointerGetAttribute>("cuPointerGetAttribute");
            return f ? f(ordinal, kPointerAttributeDeviceOrdinal, reinterpret_cast<uintptr_t>(ptr))
                     : kCudaErrorNotFound;
        };
        c.primary_context = [](int ordinal, void **ctx) {
            // Retained once per device for the process, like a CUDA runtime.
            static std::mutex m;
            static void *retained[64] = {};
            if (ordinal < 0 || ordinal >= 64) return 101;  // CUDA_ERROR_INVALID_DEVICE
            std::lock_guard<std::mutex> lock(m);
            if (!retained[ordinal]) {
                const auto get = symbol<DeviceGet>("cuDeviceGet");
                const auto retain = symbol<PrimaryCtxRetain>("cuDevicePrimaryCtxRetain");
                if (!get || !retain) return kCudaErrorNotFound;
                int dev = 0;
                int rc = get(&dev, ordinal);
                if (rc == kCudaSuccess) rc = retain(&retained[ordinal], dev);
                if (rc != kCudaSuccess) return rc;
            }
            *ctx = retained[ordinal];
            return kCudaSuccess;
        };
        return c;
    }();
    return calls;
}

void CudaCallMemory::add(const char *argument, const void *ptr) {
    int ordinal = -1;
    const int rc = calls_.ordinal_of ? calls_.ordinal_of(ptr, &ordinal) : kCudaErrorNotFound;
    if (rc != kCudaSuccess || ordinal < 0)
        throw Error(function_, argument,
                    "the pointer is not CUDA device memory the driver knows (cuPointerGetAttribute: " +
                        error_name(rc) + "); pass host memory, or device memory with device = cuda");
    if (!first_ptr_) {
        first_ptr_ = ptr;
        first_arg_ = argument;
        ordinal_ = ordinal;
        return;
    }
    if (ordinal != ordinal_)
        throw Error(function_, argument,
                    "expected memory on cuda:" + std::to_string(ordinal_) + " (the " + first_arg_ + "'s), got cuda:" +
                        std::to_string(ordinal) + ": all tensors of a call must be on one GPU");
}

void *pick_cuda_context(const CudaContextCalls &calls, const char *function, void *given,
                        const CudaCallMemory &memory, int ordinal) {
    if (given) return given;
    void *ctx = nullptr;
    if (memory.first_ptr()) {
        const int rc = calls.context_of ? calls.context_of(memory.first_ptr(), &ctx) : kCudaErrorNotFound;
        if (rc != kCudaSuccess || !ctx)
            throw Error(function, memory.first_argument(),
                        "cannot find the CUDA context that owns this memory (cuPointerGetAttribute: " +
                            error_name(rc) + "); pass options.cuda.context");
        return ctx;
    }
    const int rc = calls.primary_context ? calls.primary_context(ordinal, &ctx) : kCudaErrorNotFound;
    if (rc != kCudaSuccess || !ctx)
        throw Error(function, "cuda.ordinal",
                    "cannot use the primary context of cuda:" + std::to_string(ordinal) + " (" + error_name(rc) +
                        "): options.cuda.ordinal chooses the GPU of a call whose tensors are all host memory");
    return ctx;
}

namespace {
thread_local std::string t_launch_note;
constexpr unsigned kDefaultSharedBytes = 48 * 1024;
constexpr unsigned kMaxGridYZ = 65535;
constexpr int kCudaErrorInvalidValue = 1;
}  // namespace

std::string take_launch_note() {
    std::string n;
    n.swap(t_launch_note);
    return n;
}

int launch_checked(const CudaLaunchCalls &calls, const CudaLaunch &l) {
    if (l.grid[1] > kMaxGridYZ || l.grid[2] > kMaxGridYZ) {
        t_launch_note = "a grid of " + std::to_string(l.grid[0]) + " x " + std::to_string(l.grid[1]) + " x " +
                        std::to_string(l.grid[2]) + " blocks: CUDA allows at most 65535 in y and z (more RoIs or " +
                        "images than one call can hold on the GPU: split the call)";
        return kCudaErrorInvalidValue;
    }
    if (l.shared_bytes > kDefaultSharedBytes) {
        int max = 0;
        const int rc = calls.max_shared_optin ? calls.max_shared_optin(&max) : kCudaErrorNotFound;
        if (rc != kCudaSuccess) return rc;
        if (l.shared_bytes > static_cast<unsigned>(max)) {
            t_launch_note = "the kernel needs " + std::to_string(l.shared_bytes) +
                            " bytes of shared memory per block, the device allows " + std::to_string(max) +
                            " (smaller pooled sizes, sample_per_part or sampling_ratio)";
            return kCudaErrorInvalidValue;
        }
        const int rc2 = calls.set_dynamic_shared ? calls.set_dynamic_shared(l.function, static_cast<int>(l.shared_bytes))
                                                 : kCudaErrorNotFound;
        if (rc2 != kCudaSuccess) return rc2;
    }
    return calls.launch ? calls.launch(l) : kCudaErrorNotFound;
}

const CudaLaunchCalls &driver_launch_calls() {
    static const CudaLaunchCalls calls = [] {
        using Launch = int (*)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *,
                               void **, void **);
        using FuncSetAttribute = int (*)(void *, int, int);
        using CtxGetDevice = int (*)(int *);
        using DeviceGetAttribute = int (*)(int *, int, int);
        CudaLaunchCalls c;
        c.launch = [](const CudaLaunch &l) {
            const auto f = symbol<Launch>("cuLaunchKernel");
            return f ? f(l.function, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2],
                         l.shared_bytes, l.stream, l.params, l.extra)
                     : kCudaErrorNotFound;
        };
        c.set_dynamic_shared = [](void *function, int bytes) {
            const auto f = symbol<FuncSetAttribute>("cuFuncSetAttribute");
            return f ? f(function, 8 /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */, bytes) : kCudaErrorNotFound;
        };
        c.max_shared_optin = [](int *bytes) {
            const auto dev = symbol<CtxGetDevice>("cuCtxGetDevice");
            const auto attr = symbol<DeviceGetAttribute>("cuDeviceGetAttribute");
            if (!dev || !attr) return kCudaErrorNotFound;
            int d = 0;
            const int rc = dev(&d);
            if (rc != kCudaSuccess) return rc;
            return attr(bytes, 97 /* CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN */, d);
        };
        return c;
    }();
    return calls;
}

}  // namespace dcn::detail

// Halide's CUDA runtime finds the driver through this (a weak definition in
// the runtime tries "libcuda.so" only): the same library, by the same names,
// with cuLaunchKernel checked and its shared memory limit raised.
// cuLaunchKernel is dcn's launch_checked (cuda_driver.h).
extern "C" int dcn_cuda_launch_kernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                      unsigned bz, unsigned shared, void *stream, void **params, void **extra) {
    dcn::detail::CudaLaunch l;
    l.function = f;
    l.grid[0] = gx, l.grid[1] = gy, l.grid[2] = gz;
    l.block[0] = bx, l.block[1] = by, l.block[2] = bz;
    l.shared_bytes = shared;
    l.stream = stream;
    l.params = params;
    l.extra = extra;
    return dcn::detail::launch_checked(dcn::detail::driver_launch_calls(), l);
}

extern "C" void *halide_cuda_get_symbol(void *user_context, const char *name) {
    (void)user_context;
    if (std::strcmp(name, "cuLaunchKernel") == 0)
        return dcn::detail::cuda_symbol(name) ? reinterpret_cast<void *>(&dcn_cuda_launch_kernel) : nullptr;
    return dcn::detail::cuda_symbol(name);
}
