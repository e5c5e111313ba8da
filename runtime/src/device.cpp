// Devices: probing CUDA / OpenCL, the caller's CUDA context and stream
// (Halide's CUDA runtime asks for them through replaceable handlers), and
// the buffers of a kernel call on the CPU or a GPU.
#include <cstring>
#include <HalideRuntimeCuda.h>
#include <HalideRuntimeOpenCL.h>

#include <mutex>

#include "internal.h"
#include "kernel_table.h"

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
    if (d == Device::cuda) {
        // The driver only: no context is made (a caller's context, or the
        // one its memory lives in, is what a call uses).
        p.usable = detail::cuda_driver_usable(&p.why);
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
    // A freed device allocation is kept (per context and stream) for the
    // next call instead of cuMemFree, which synchronises the device: a warm
    // call allocates and frees nothing on the device (CUDA graph capture).
    // release_cached_memory() hands them back.
    halide_reuse_device_allocations(nullptr, true);
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
    : function_(function), device_(device), cuda_ordinal_(cuda.ordinal),
      cuda_memory_(driver_context_calls(), function) {
    check_device(function, device);
    context_.cuda = cuda;
    begin_kernel_call();
    if (device == Device::cpu) isa_ = select_cpu_variant();
}

KernelCall::~KernelCall() { release(); }

KernelCall::Arg &KernelCall::new_arg(const char *name) {
    if (num_args_ == static_cast<int>(sizeof args_ / sizeof args_[0]))
        throw Error(function_, "kernel", "internal error: too many kernel arguments");
    Arg &a = args_[num_args_++];
    a = Arg{};
    a.name = name;
    return a;
}

KernelCall::Arg *KernelCall::find_arg(const char *name) {
    for (int j = 0; j < num_args_; j++)
        if (std::strcmp(args_[j].name, name) == 0) return &args_[j];
    return nullptr;
}

void KernelCall::alias(const char *name, const char *existing) {
    const Arg *e = find_arg(existing);
    if (!e || !e->buffer) throw Error(function_, "kernel", std::string("internal error: no buffer '") + existing + "'");
    const Arg copy = *e;
    Arg &a = new_arg(name);
    a = copy;
    a.name = name;
}

void KernelCall::scalar(const char *name, int32_t v) {
    if (Arg *old = find_arg(name); old && !old->buffer) {  // a new value for the next run
        old->value.i32 = v;
        return;
    }
    Arg &a = new_arg(name);
    a.type = halide_type_t(halide_type_int, 32, 1);
    a.value.i32 = v;
}

void KernelCall::scalar(const char *name, float v) {
    Arg &a = new_arg(name);
    a.type = halide_type_t(halide_type_float, 32, 1);
    a.value.f32 = v;
}

void KernelCall::add(const char *name, const TensorView &t, bool output) {
    entries_.push_back(Entry{HalideView(t), output, false, name});
    Entry &e = entries_.back();
    if (device_ != Device::cpu) {
        if (t.device == Device::cuda) {
            // Device memory: wrap the caller's pointer, no copy. It must be
            // on the call's one GPU.
            try {
                cuda_memory_.add(name, t.data);
            } catch (...) {
                entries_.pop_back();
                throw;
            }
            e.view.buf.host = nullptr;
            const int rc = halide_cuda_wrap_device_ptr(&context_, e.view.get(), reinterpret_cast<uint64_t>(t.data));
            if (rc != 0) {
                entries_.pop_back();
                check_kernel_status(function_, rc);
            }
            e.wrapped = true;
        } else if (!output) {
            e.view.buf.flags |= halide_buffer_flag_host_dirty;  // copy in
        }
    }
    Arg &a = new_arg(name);
    a.buffer = e.view.get();
    a.type = e.view.buf.type;
}

bool KernelCall::shape_within(const int64_t (*ranges)[2]) const {
    if (num_features_ == 0) return false;
    for (int i = 0; i < num_features_; i++)
        if (features_[i] < ranges[i][0] || features_[i] > ranges[i][1]) return false;
    return true;
}

int KernelCall::run(const KernelEntry &k) {
    ArgvFn fn = nullptr;
    const halide_filter_metadata_t *meta = nullptr;
    if (device_ == Device::cpu) {
        const TunedKernel *tuned = nullptr;
        if (k.tuned && tuned_schedules_enabled())
            for (const TunedKernel *t = k.tuned; t->name && !tuned; ++t)
                if (t->isa == isa_ && shape_within(t->ranges)) tuned = t;
        if (tuned) {
            fn = tuned->fn;
            note_cpu_schedule(tuned->name);
            note_cpu_isa(isa_);
        } else {
            int path = isa_;
            while (path < kNumCpuPaths && !k.cpu[path]) path++;  // the baseline is always compiled
            fn = k.cpu[path];
            note_cpu_schedule(nullptr);
            note_cpu_isa(path);
        }
        meta = k.cpu_metadata();
    } else {
        if (device_ == Device::cuda) cuda_context();
        for (int d = 0; d < kNumGpuDevices; d++)
            if (kGpuDevices[d] == device_) fn = k.gpu[d];
        if (!fn || !k.gpu_metadata)
            throw Error(function_, "device",
                        std::string("this build has no ") + device_name(device_) + " kernel " + k.name);
        meta = k.gpu_metadata();
    }
    // Bind by name, in the kernel's argument order.
    void *argv[40];
    if (meta->num_arguments > static_cast<int>(sizeof argv / sizeof argv[0]))
        throw Error(function_, "kernel", std::string("internal error: ") + k.name + " has too many arguments");
    for (int i = 0; i < meta->num_arguments; i++) {
        const halide_filter_argument_t &m = meta->arguments[i];
        if (std::strcmp(m.name, "__user_context") == 0) {
            argv[i] = &user_context_;
            continue;
        }
        const Arg *a = nullptr;
        for (int j = 0; j < num_args_ && !a; j++)
            if (std::strcmp(args_[j].name, m.name) == 0) a = &args_[j];
        const bool is_buffer = m.kind != halide_argument_kind_input_scalar;
        if (!a || (a->buffer != nullptr) != is_buffer || a->type != m.type)
            throw Error(function_, "kernel",
                        std::string("internal error: ") + k.name + " expects argument '" + m.name +
                            (a ? "' of another kind or type" : "', which the runtime did not pass"));
        argv[i] = is_buffer ? static_cast<void *>(a->buffer) : const_cast<void *>(static_cast<const void *>(&a->value));
    }
    return fn(argv);
}

void *KernelCall::cuda_context() {
    if (device_ == Device::cuda && !context_picked_) {
        context_.cuda.context = pick_cuda_context(driver_context_calls(), function_, context_.cuda.context,
                                                  cuda_memory_, cuda_ordinal_);
        context_picked_ = true;
    }
    return context_.cuda.context;
}

void KernelCall::check(int status) const { check_kernel_status(function_, status); }

KernelCall::Entry &KernelCall::entry(const char *name) {
    for (Entry &e : entries_)
        if (e.name && std::strcmp(e.name, name) == 0) return e;
    throw Error(function_, "kernel", std::string("internal error: no buffer '") + name + "' in the call");
}

void KernelCall::scratch(const char *name, const std::vector<int64_t> &shape, DType dtype) {
    if (device_ == Device::cpu) throw Error(function_, "kernel", "internal error: device scratch on the CPU");
    TensorView v;
    v.shape = shape;
    v.dtype = dtype;
    v.device = device_;
    entries_.push_back(Entry{HalideView(v), false, false, name});
    Entry &e = entries_.back();
    cuda_context();
    const int rc = halide_device_malloc(&context_, e.view.get(), interface_of(device_));
    if (rc != 0) {
        entries_.pop_back();
        check(rc);
    }
    Arg &a = new_arg(name);
    a.buffer = e.view.get();
    a.type = e.view.buf.type;
}

void *KernelCall::cuda_address(const char *name, bool written) {
    if (device_ != Device::cuda) throw Error(function_, "kernel", "internal error: a CUDA address outside CUDA");
    Entry &e = entry(name);
    cuda_context();
    if (!e.wrapped && e.view.buf.host) {
        // A host tensor: its device copy (an input's data copied now).
        const halide_device_interface_t *di = interface_of(device_);
        const int rc = written ? halide_device_malloc(&context_, e.view.get(), di)
                               : halide_copy_to_device(&context_, e.view.get(), di);
        check(rc);
    }
    if (written) e.view.buf.flags |= halide_buffer_flag_device_dirty;
    return reinterpret_cast<void *>(static_cast<uintptr_t>(e.view.buf.device));
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
