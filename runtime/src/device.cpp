// Devices: probing CUDA / OpenCL, the caller's CUDA context and stream
// (Halide's CUDA runtime asks for them through replaceable handlers), and
// the buffers of a kernel call on the CPU or a GPU.
#include <HalideRuntimeCuda.h>
#include <HalideRuntimeOpenCL.h>

#include <mutex>

#include "internal.h"

namespace dcn {
namespace {

halide_cuda_acquire_context_t g_default_acquire = nullptr;
halide_cuda_release_context_t g_default_release = nullptr;
halide_cuda_get_stream_t g_default_get_stream = nullptr;

const CudaContext *caller_cuda(void *user_context) {
    const auto *uc = static_cast<const detail::GpuUserContext *>(user_context);
    return (uc && uc->cuda.context) ? &uc->cuda : nullptr;
}

extern "C" int dcn_cuda_acquire_context(void *user_context, void **ctx, bool create) {
    if (const CudaContext *c = caller_cuda(user_context)) {
        *ctx = c->context;
        return 0;
    }
    return g_default_acquire(user_context, ctx, create);
}

extern "C" int dcn_cuda_release_context(void *user_context) {
    if (caller_cuda(user_context)) return 0;
    return g_default_release(user_context);
}

extern "C" int dcn_cuda_get_stream(void *user_context, void *ctx, void **stream) {
    if (const CudaContext *c = caller_cuda(user_context)) {
        *stream = c->stream;  // nullptr = the context's default stream
        return 0;
    }
    return g_default_get_stream(user_context, ctx, stream);
}

const halide_device_interface_t *interface_of(Device d) {
    switch (d) {
    case Device::cuda: return halide_cuda_device_interface();
    case Device::opencl: return halide_opencl_device_interface();
    case Device::cpu: break;
    }
    return nullptr;
}

struct Probe {
    bool usable = false;
    std::string why;
};

Probe probe(Device d) {
    Probe p;
    if (d == Device::cpu) {
        p.usable = true;
        return p;
    }
    detail::begin_kernel_call();
    detail::GpuUserContext uc;
    // A one-float allocation exercises driver, platform, device and context.
    float host = 0.0f;
    TensorView one(&host, std::vector<int64_t>{1});
    detail::HalideView v(one);
    const halide_device_interface_t *di = interface_of(d);
    int rc = halide_device_malloc(&uc, v.get(), di);
    if (rc == 0) rc = halide_device_free(&uc, v.get());
    p.usable = rc == 0;
    if (!p.usable) {
        p.why = detail::last_halide_error();
        if (p.why.empty()) p.why = "Halide error code " + std::to_string(rc);
    }
    return p;
}

const Probe &cached_probe(Device d) {
    static std::once_flag once[3];
    static Probe probes[3];
    const int i = static_cast<int>(d);
    std::call_once(once[i], [&] { probes[i] = probe(d); });
    return probes[i];
}

}  // namespace

bool device_usable(Device d, std::string *why) {
    const Probe &p = cached_probe(d);
    if (why) *why = p.why;
    return p.usable;
}

std::vector<Device> usable_devices() {
    std::vector<Device> out;
    for (Device d : {Device::cpu, Device::cuda, Device::opencl})
        if (device_usable(d)) out.push_back(d);
    return out;
}

namespace detail {

void install_cuda_hooks() {
    g_default_acquire = halide_set_cuda_acquire_context(dcn_cuda_acquire_context);
    g_default_release = halide_set_cuda_release_context(dcn_cuda_release_context);
    g_default_get_stream = halide_set_cuda_get_stream(dcn_cuda_get_stream);
}

void check_device(const char *function, Device device) {
    if (device == Device::cpu) return;
    std::string why;
    if (!device_usable(device, &why)) {
        throw Error(function, "device",
                    std::string(device == Device::cuda ? "CUDA" : "OpenCL") +
                        " is not usable on this machine: " + why);
    }
}

KernelCall::KernelCall(const char *function, Device device, const CudaContext &cuda)
    : function_(function), device_(device) {
    check_device(function, device);
    context_.cuda = cuda;
    begin_kernel_call();
    if (device == Device::cpu) isa_ = select_cpu_variant();
}

KernelCall::~KernelCall() { release(); }

halide_buffer_t *KernelCall::add(const TensorView &t, bool output) {
    entries_.push_back(Entry{HalideView(t), output, false});
    Entry &e = entries_.back();
    if (device_ == Device::cpu) return e.view.get();
    if (t.device == Device::cuda) {
        // Device memory: wrap the caller's pointer, no copy.
        e.view.buf.host = nullptr;
        const int rc = halide_cuda_wrap_device_ptr(&context_, e.view.get(),
                                                   reinterpret_cast<uint64_t>(t.data));
        if (rc != 0) {
            entries_.pop_back();
            check_kernel_status(function_, rc);
        }
        e.wrapped = true;
    } else if (!output) {
        e.view.buf.flags |= halide_buffer_flag_host_dirty;  // copy in
    }
    return e.view.get();
}

void KernelCall::finish(int status) {
    check_kernel_status(function_, status);
    if (device_ == Device::cpu) return;
    for (Entry &e : entries_) {
        if (e.output && !e.wrapped) {
            const int rc = halide_copy_to_host(&context_, e.view.get());
            check_kernel_status(function_, rc);
        }
    }
}

void KernelCall::release() noexcept {
    if (device_ == Device::cpu) return;
    for (Entry &e : entries_) {
        if (e.wrapped) {
            halide_cuda_detach_device_ptr(&context_, e.view.get());
        } else if (e.view.buf.device) {
            halide_device_free(&context_, e.view.get());
        }
    }
    entries_.clear();
}

}  // namespace detail
}  // namespace dcn
