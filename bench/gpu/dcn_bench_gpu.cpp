// dcn's deform_conv2d on an NVIDIA GPU, tensors resident in device memory,
// timed with CUDA events: part of the prepared GPU check (bench/gpu/check.sh).
//
//   build/bin/dcn_bench_gpu [--rounds N] [--json FILE]
//
// For each shape of the benchmark table (bench/conv_shapes.h) and each dtype
// (float32, bfloat16, float16): the first call (wall clock, synchronised,
// reported apart: module load and scratch allocation), then 10 warm-up
// calls, then N >= 100 calls each timed by a pair of CUDA events on the
// call's stream; the median and the spread. Forward, and forward + backward
// (every gradient). Prints a table; --json writes every number.
//
// The CUDA driver is opened by name (libcuda.so.1) like dcn does: nothing of
// CUDA is needed to build. Without a usable driver it prints one line saying
// what is missing and exits 2.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "../conv_shapes.h"
#include "dcn/dcn.h"

namespace {

// The driver calls the benchmark needs (CUresult as int).
struct Cuda {
    int (*cuInit)(unsigned);
    int (*cuDeviceGet)(int *, int);
    int (*cuDevicePrimaryCtxRetain)(void **, int);
    int (*cuCtxSetCurrent)(void *);
    int (*cuCtxSynchronize)();
    int (*cuMemAlloc)(unsigned long long *, size_t);
    int (*cuMemFree)(unsigned long long);
    int (*cuMemcpyHtoD)(unsigned long long, const void *, size_t);
    int (*cuEventCreate)(void **, unsigned);
    int (*cuEventRecord)(void *, void *);
    int (*cuEventSynchronize)(void *);
    int (*cuEventElapsedTime)(float *, void *, void *);
    int (*cuStreamCreate)(void **, unsigned);
};

[[noreturn]] void fail(const std::string &why) {
    std::fprintf(stderr, "dcn_bench_gpu: %s\n", why.c_str());
    std::exit(2);
}

void check(int rc, const char *what) {
    if (rc != 0) fail(std::string(what) + " failed with CUresult " + std::to_string(rc));
}

Cuda load_cuda() {
    std::string why;
    if (!dcn::device_usable(dcn::Device::cuda, &why)) fail("CUDA not usable: " + why);
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (!lib) fail("cannot open libcuda.so.1");
    Cuda c{};
    auto sym = [&](auto &fn, const char *name) {
        fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
        if (!fn) fail(std::string("the CUDA driver has no ") + name);
    };
    sym(c.cuInit, "cuInit");
    sym(c.cuDeviceGet, "cuDeviceGet");
    sym(c.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    sym(c.cuCtxSetCurrent, "cuCtxSetCurrent");
    sym(c.cuCtxSynchronize, "cuCtxSynchronize");
    sym(c.cuMemAlloc, "cuMemAlloc_v2");
    sym(c.cuMemFree, "cuMemFree_v2");
    sym(c.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
    sym(c.cuEventCreate, "cuEventCreate");
    sym(c.cuEventRecord, "cuEventRecord");
    sym(c.cuEventSynchronize, "cuEventSynchronize");
    sym(c.cuEventElapsedTime, "cuEventElapsedTime");
    sym(c.cuStreamCreate, "cuStreamCreate");
    return c;
}

// A device tensor holding `v` rounded to `dtype`.
struct DeviceTensor {
    unsigned long long ptr = 0;
    std::vector<int64_t> shape;
    dcn::DType dtype = dcn::DType::float32;
    dcn::TensorView view() const {
        dcn::TensorView t;
        t.data = reinterpret_cast<void *>(ptr);
        t.shape = shape;
        t.dtype = dtype;
        t.device = dcn::Device::cuda;
        return t;
    }
};

DeviceTensor upload(const Cuda &cu, const std::vector<float> &v, std::vector<int64_t> shape, dcn::DType dtype) {
    DeviceTensor t;
    t.shape = std::move(shape);
    t.dtype = dtype;
    std::vector<unsigned char> bytes(v.size() * dcn::dtype_size(dtype));
    dcn::visit_dtype(dtype, [&](auto e) {
        using T = decltype(e);
        for (size_t i = 0; i < v.size(); i++) {
            const T x = dcn::element_from_float<T>(v[i]);
            std::memcpy(bytes.data() + i * sizeof(T), &x, sizeof(T));
        }
    });
    check(cu.cuMemAlloc(&t.ptr, std::max<size_t>(bytes.size(), 4)), "cuMemAlloc");
    if (!bytes.empty()) check(cu.cuMemcpyHtoD(t.ptr, bytes.data(), bytes.size()), "cuMemcpyHtoD");
    return t;
}

std::vector<float> uniform(size_t n, float lo, float hi, std::mt19937 &rng) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float &x : v) x = d(rng);
    return v;
}

struct Timing {
    double first_ms = 0, median_ms = 0, min_ms = 0, max_ms = 0;
};

template <typename F>
Timing time_calls(const Cuda &cu, void *stream, int rounds, F &&call) {
    Timing t;
    const auto t0 = std::chrono::steady_clock::now();
    call();
    check(cu.cuCtxSynchronize(), "cuCtxSynchronize");
    t.first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    for (int i = 0; i < 10; i++) call();
    void *start = nullptr, *stop = nullptr;
    check(cu.cuEventCreate(&start, 0), "cuEventCreate");
    check(cu.cuEventCreate(&stop, 0), "cuEventCreate");
    std::vector<double> ms;
    for (int i = 0; i < rounds; i++) {
        check(cu.cuEventRecord(start, stream), "cuEventRecord");
        call();
        check(cu.cuEventRecord(stop, stream), "cuEventRecord");
        check(cu.cuEventSynchronize(stop), "cuEventSynchronize");
        float e = 0;
        check(cu.cuEventElapsedTime(&e, start, stop), "cuEventElapsedTime");
        ms.push_back(e);
    }
    std::sort(ms.begin(), ms.end());
    t.median_ms = ms[ms.size() / 2];
    t.min_ms = ms.front();
    t.max_ms = ms.back();
    return t;
}

}  // namespace

int main(int argc, char **argv) {
    int rounds = 100;
    std::string json;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--rounds" && i + 1 < argc) rounds = std::max(100, std::atoi(argv[++i]));
        else if (a == "--json" && i + 1 < argc) json = argv[++i];
        else fail("usage: dcn_bench_gpu [--rounds N >= 100] [--json FILE]");
    }
    const Cuda cu = load_cuda();
    check(cu.cuInit(0), "cuInit");
    int dev = 0;
    void *ctx = nullptr, *stream = nullptr;
    check(cu.cuDeviceGet(&dev, 0), "cuDeviceGet");
    check(cu.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
    check(cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
    check(cu.cuStreamCreate(&stream, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");

    std::string rows = "[";
    std::printf("| shape | dtype | pass | first call ms | median ms (min-max, %d calls) | GFLOP/s |\n", rounds);
    std::printf("| --- | --- | --- | ---: | ---: | ---: |\n");
    for (const dcn_bench::ConvCase &c : dcn_bench::kCases) {
        // float32 (TF32 off), float32 with TF32 GEMMs, bfloat16, float16.
        const std::pair<dcn::DType, bool> modes[] = {{dcn::DType::float32, false}, {dcn::DType::float32, true},
                                                     {dcn::DType::bfloat16, false}, {dcn::DType::float16, false}};
        for (const auto &[dtype, tf32] : modes) {
            dcn::DeformConv2dOptions opt;
            opt.cuda.allow_tf32 = tf32;
            opt.set_padding(1, 1);
            opt.stride = {c.stride, c.stride};
            opt.device = dcn::Device::cuda;
            opt.cuda.stream = stream;
            const std::vector<int64_t> in_shape{c.N, c.C, c.H, c.W}, w_shape{c.K, c.C, 3, 3};
            const std::vector<int64_t> out_shape = dcn::deform_conv2d_output_shape(in_shape, w_shape, opt);
            const int64_t oH = out_shape[2], oW = out_shape[3], G = c.offset_groups;
            std::mt19937 rng(42);
            auto n = [](const std::vector<int64_t> &s) {
                int64_t k = 1;
                for (int64_t d : s) k *= d;
                return static_cast<size_t>(k);
            };
            const std::vector<int64_t> off_shape{c.N, 2 * G * 9, oH, oW}, mask_shape{c.N, G * 9, oH, oW};
            const DeviceTensor x = upload(cu, uniform(n(in_shape), -1, 1, rng), in_shape, dtype);
            const float ws = 1.0f / std::sqrt(float(c.C * 9));
            const DeviceTensor w = upload(cu, uniform(n(w_shape), -ws, ws, rng), w_shape, dtype);
            const DeviceTensor off = upload(cu, uniform(n(off_shape), -2.5f, 2.5f, rng), off_shape, dtype);
            const DeviceTensor m = upload(cu, uniform(c.mask ? n(mask_shape) : 0, 0, 1, rng), mask_shape, dtype);
            const DeviceTensor y = upload(cu, std::vector<float>(n(out_shape)), out_shape, dtype);
            const DeviceTensor gy = upload(cu, uniform(n(out_shape), -1, 1, rng), out_shape, dtype);
            const DeviceTensor gx = upload(cu, std::vector<float>(n(in_shape)), in_shape, dtype);
            const DeviceTensor goff = upload(cu, std::vector<float>(n(off_shape)), off_shape, dtype);
            const DeviceTensor gm = upload(cu, std::vector<float>(c.mask ? n(mask_shape) : 0), mask_shape, dtype);
            const DeviceTensor gw = upload(cu, std::vector<float>(n(w_shape)), w_shape, dtype);
            std::optional<dcn::TensorView> mask;
            if (c.mask) mask = m.view();
            auto forward = [&] {
                dcn::deform_conv2d(x.view(), off.view(), w.view(), mask, std::nullopt, y.view(), opt);
            };
            auto step = [&] {
                forward();
                dcn::DeformConv2dGradients g;
                g.input = gx.view();
                g.offset = goff.view();
                if (c.mask) g.mask = gm.view();
                g.weight = gw.view();
                dcn::deform_conv2d_backward(gy.view(), x.view(), off.view(), w.view(), mask, g, opt);
            };
            const double gflop = dcn::deform_conv2d_flops(in_shape, w_shape, out_shape) * 1e-9;
            for (int pass = 0; pass < 2; pass++) {
                const Timing t = pass == 0 ? time_calls(cu, stream, rounds, forward) : time_calls(cu, stream, rounds, step);
                const double flops = pass == 0 ? gflop : 3 * gflop;  // forward + two backward GEMMs
                const char *pass_name = pass == 0 ? "forward" : "forward+backward";
                const std::string dt = std::string(dcn::dtype_name(dtype)) + (tf32 ? " (TF32)" : "");
                std::printf("| %s | %s | %s | %.3f | %.4f (%.4f-%.4f) | %.0f |\n", c.name, dt.c_str(), pass_name,
                            t.first_ms, t.median_ms, t.min_ms, t.max_ms, flops / (t.median_ms * 1e-3));
                char buf[512];
                std::snprintf(buf, sizeof buf,
                              "%s{\"shape\": \"%s\", \"dtype\": \"%s\", \"pass\": \"%s\", \"first_ms\": %.4f, "
                              "\"median_ms\": %.5f, \"min_ms\": %.5f, \"max_ms\": %.5f, \"rounds\": %d}",
                              rows.size() > 1 ? ", " : "", c.name, dt.c_str(), pass_name, t.first_ms,
                              t.median_ms, t.min_ms, t.max_ms, rounds);
                rows += buf;
            }
            for (const DeviceTensor *d : {&x, &w, &off, &m, &y, &gy, &gx, &goff, &gm, &gw}) cu.cuMemFree(d->ptr);
        }
    }
    rows += "]";
    if (!json.empty()) {
        FILE *f = std::fopen(json.c_str(), "w");
        std::string gemm = "[";
        for (const std::string &g : dcn::build_info().gpu_gemm) gemm += (gemm.size() > 1 ? ", \"" : "\"") + g + "\"";
        gemm += "]";
        if (!f || std::fprintf(f, "{\"dcn\": %s, \"gpu_gemm\": %s}\n", rows.c_str(), gemm.c_str()) < 0 ||
            std::fclose(f) != 0)
            fail("cannot write " + json);
    }
    return 0;
}
