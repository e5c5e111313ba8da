#include "cublaslt.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "cuda_driver.h"

namespace dcn::detail {
namespace {

using namespace cublaslt;

// cuBLASLt's functions dcn calls (status as int, handles as void *).
struct Library {
    void *lib = nullptr;
    std::string tried;  // or the version loaded
    int (*create)(void **) = nullptr;
    size_t (*get_version)() = nullptr;
    int (*desc_create)(void **, int compute, int scale) = nullptr;
    int (*desc_destroy)(void *) = nullptr;
    int (*desc_set)(void *, int attr, const void *, size_t) = nullptr;
    int (*layout_create)(void **, int type, uint64_t rows, uint64_t cols, int64_t ld) = nullptr;
    int (*layout_destroy)(void *) = nullptr;
    int (*layout_set)(void *, int attr, const void *, size_t) = nullptr;
    int (*pref_create)(void **) = nullptr;
    int (*pref_destroy)(void *) = nullptr;
    int (*pref_set)(void *, int attr, const void *, size_t) = nullptr;
    int (*heuristic)(void *handle, void *desc, void *a, void *b, void *c, void *d, void *pref, int requested,
                     HeuristicResult *results, int *returned) = nullptr;
    int (*matmul)(void *handle, void *desc, const void *alpha, const void *a, void *adesc, const void *b, void *bdesc,
                  const void *beta, const void *c, void *cdesc, void *d, void *ddesc, const Algo *algo,
                  void *workspace, size_t workspace_bytes, void *stream) = nullptr;
    const char *(*status_name)(int) = nullptr;
};

template <typename F>
void bind(void *lib, F &f, const char *name, bool &ok) {
    f = reinterpret_cast<F>(dlsym(lib, name));
    ok = ok && f != nullptr;
}

const Library &library() {
    static Library L;
    static std::once_flag once;
    std::call_once(once, [] {
        if (const char *e = std::getenv("DCN_CUBLASLT"); e && std::string(e) == "0") {
            L.tried = "turned off by DCN_CUBLASLT=0";
            return;
        }
        for (const char *name : kCublasLtNames) {
            L.lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
            if (L.lib) break;
            const char *e = dlerror();
            L.tried += std::string(L.tried.empty() ? "tried " : "; ") + name + " (" + (e ? e : "not found") + ")";
        }
        if (!L.lib) return;
        bool ok = true;
        bind(L.lib, L.create, "cublasLtCreate", ok);
        bind(L.lib, L.get_version, "cublasLtGetVersion", ok);
        bind(L.lib, L.desc_create, "cublasLtMatmulDescCreate", ok);
        bind(L.lib, L.desc_destroy, "cublasLtMatmulDescDestroy", ok);
        bind(L.lib, L.desc_set, "cublasLtMatmulDescSetAttribute", ok);
        bind(L.lib, L.layout_create, "cublasLtMatrixLayoutCreate", ok);
        bind(L.lib, L.layout_destroy, "cublasLtMatrixLayoutDestroy", ok);
        bind(L.lib, L.layout_set, "cublasLtMatrixLayoutSetAttribute", ok);
        bind(L.lib, L.pref_create, "cublasLtMatmulPreferenceCreate", ok);
        bind(L.lib, L.pref_destroy, "cublasLtMatmulPreferenceDestroy", ok);
        bind(L.lib, L.pref_set, "cublasLtMatmulPreferenceSetAttribute", ok);
        bind(L.lib, L.heuristic, "cublasLtMatmulAlgoGetHeuristic", ok);
        bind(L.lib, L.matmul, "cublasLtMatmul", ok);
        L.status_name = reinterpret_cast<const char *(*)(int)>(dlsym(L.lib, "cublasLtGetStatusName"));
        if (!ok) {
            L.tried = "the cuBLASLt library loaded lacks a function dcn calls";
            L.lib = nullptr;
            return;
        }
        L.tried = "cuBLASLt " + std::to_string(L.get_version());
    });
    return L;
}

std::string status_str(const Library &L, int s) {
    const char *n = L.status_name ? L.status_name(s) : nullptr;
    return std::string(n ? n : "cuBLAS status") + " (" + std::to_string(s) + ")";
}

int data_type(DType t) {
    switch (t) {
    case DType::float32: return kDataF32;
    case DType::float16: return kDataF16;
    case DType::bfloat16: return kDataBf16;
    default: return -1;
    }
}

// The largest power of two (<= 256) dividing a matrix's address, its row
// pitch and its batch stride, in bytes.
uint32_t alignment(const void *p, int64_t ld, int64_t stride, DType t) {
    const uint64_t es = dtype_size(t);
    const uint64_t bits = reinterpret_cast<uintptr_t>(p) | (uint64_t(ld) * es) | (uint64_t(stride) * es) | 256;
    return static_cast<uint32_t>(bits & (~bits + 1));
}

// Descriptors freed on every path.
struct Descriptors {
    const Library &L;
    void *desc = nullptr, *a = nullptr, *b = nullptr, *d = nullptr, *pref = nullptr;
    explicit Descriptors(const Library &lib) : L(lib) {}
    ~Descriptors() {
        if (desc) L.desc_destroy(desc);
        for (void *l : {a, b, d})
            if (l) L.layout_destroy(l);
        if (pref) L.pref_destroy(pref);
    }
};

// The algorithm chosen for a GEMM shape, per handle: the heuristic query
// costs host time, and a warm call should cost none.
using AlgoKey = std::tuple<void *, int, bool, int64_t, int64_t, int64_t, int, int64_t, int64_t, bool, int64_t, int64_t,
                           bool, int64_t, int64_t, bool, bool, uint32_t, uint32_t, uint32_t, int>;
struct State {
    std::mutex mutex;
    std::map<void *, void *> handles;  // CUcontext -> cublasLtHandle_t
    std::map<AlgoKey, Algo> algos;
};
State &state() {
    static State *s = new State;  // never destroyed: used until exit
    return *s;
}

}  // namespace

bool cublaslt_available(std::string *why) {
    const Library &L = library();
    if (why) *why = L.lib ? L.tried : "no cuBLASLt: " + L.tried;
    return L.lib != nullptr;
}

bool cublaslt_gemm(const char *function, const GemmDesc &g, void *stream, void *workspace, size_t workspace_bytes,
                   std::string *why) {
    const Library &L = library();
    if (!L.lib) {
        if (why) *why = "no cuBLASLt: " + L.tried;
        return false;
    }
    const int type = data_type(g.dtype);
    if (type < 0) {
        if (why) *why = std::string("cuBLASLt is not used for ") + dtype_name(g.dtype);
        return false;
    }
    auto check = [&](int s, const char *what) {
        if (s != kStatusSuccess) throw Error(function, "cublasLt", std::string(what) + ": " + status_str(L, s));
    };

    // The handle of the current context.
    void *ctx = nullptr;
    using GetCurrent = int (*)(void **);
    if (auto get_current = reinterpret_cast<GetCurrent>(cuda_symbol("cuCtxGetCurrent"))) get_current(&ctx);
    State &st = state();
    std::unique_lock<std::mutex> lock(st.mutex);
    void *&handle = st.handles[ctx];
    if (!handle) check(L.create(&handle), "cublasLtCreate");

    Descriptors ds(L);
    const int compute = g.tf32 && g.dtype == DType::float32 ? kComputeF32FastTf32 : kComputeF32;
    check(L.desc_create(&ds.desc, compute, kDataF32), "cublasLtMatmulDescCreate");
    const int32_t ta = g.trans_a ? kOpT : kOpN, tb = g.trans_b ? kOpT : kOpN;
    check(L.desc_set(ds.desc, kDescTransA, &ta, sizeof ta), "TRANSA");
    check(L.desc_set(ds.desc, kDescTransB, &tb, sizeof tb), "TRANSB");
    const uint32_t epilogue = g.bias ? kEpilogueBias : kEpilogueDefault;
    check(L.desc_set(ds.desc, kDescEpilogue, &epilogue, sizeof epilogue), "EPILOGUE");
    if (g.bias) check(L.desc_set(ds.desc, kDescBiasPointer, &g.bias, sizeof g.bias), "BIAS_POINTER");

    // Layouts of the stored matrices, in row order.
    const DType d_type = g.d_dtype.value_or(g.dtype);
    if (data_type(d_type) < 0) {
        if (why) *why = std::string("cuBLASLt is not used for a ") + dtype_name(d_type) + " result";
        return false;
    }
    auto layout = [&](void *&l, int64_t rows, int64_t cols, int64_t ld, int64_t stride, const char *name,
                      int elem = -1) {
        check(L.layout_create(&l, elem < 0 ? type : elem, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols),
                              ld),
              name);
        const int32_t order = kOrderRow, count = g.batch;
        check(L.layout_set(l, kLayoutOrder, &order, sizeof order), name);
        if (g.batch > 1) {
            check(L.layout_set(l, kLayoutBatchCount, &count, sizeof count), name);
            check(L.layout_set(l, kLayoutBatchStride, &stride, sizeof stride), name);
        }
    };
    layout(ds.a, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda, g.stride_a, "layout of A");
    layout(ds.b, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb, g.stride_b, "layout of B");
    layout(ds.d, g.m, g.n, g.ldd, g.stride_d, "layout of D", data_type(d_type));

    const AlgoKey key{ctx,      static_cast<int>(g.dtype), g.tf32, g.m, g.n, g.k, g.batch, g.lda, g.stride_a,
                      g.trans_a, g.ldb, g.stride_b, g.trans_b, g.ldd, g.stride_d, g.bias != nullptr, g.beta != 0.0f,
                      alignment(g.a, g.lda, g.stride_a, g.dtype), alignment(g.b, g.ldb, g.stride_b, g.dtype),
                      alignment(g.d, g.ldd, g.stride_d, d_type), static_cast<int>(d_type)};
    auto it = st.algos.find(key);
    if (it == st.algos.end()) {
        check(L.pref_create(&ds.pref), "cublasLtMatmulPreferenceCreate");
        const uint64_t ws = workspace_bytes;
        check(L.pref_set(ds.pref, kPrefMaxWorkspace, &ws, sizeof ws), "MAX_WORKSPACE_BYTES");
        // The alignments the matrices really have (the default assumes 256
        // bytes, which a group's or an image's slice need not have).
        const uint32_t align[4] = {alignment(g.a, g.lda, g.stride_a, g.dtype), alignment(g.b, g.ldb, g.stride_b, g.dtype),
                                   alignment(g.d, g.ldd, g.stride_d, d_type), alignment(g.d, g.ldd, g.stride_d, d_type)};
        for (int i = 0; i < 4; i++)
            check(L.pref_set(ds.pref, kPrefMinAlignA + i, &align[i], sizeof align[i]), "MIN_ALIGNMENT_BYTES");
        HeuristicResult result{};
        int returned = 0;
        const int s = L.heuristic(handle, ds.desc, ds.a, ds.b, ds.d, ds.d, ds.pref, 1, &result, &returned);
        if (s != kStatusSuccess || returned == 0) {
            if (why)
                *why = "cuBLASLt has no algorithm for this GEMM (" +
                       (s != kStatusSuccess ? status_str(L, s) : std::string("none returned")) + ")";
            return false;
        }
        if (st.algos.size() > 1024) st.algos.clear();
        it = st.algos.emplace(key, result.algo).first;
    }
    const Algo algo = it->second;
    lock.unlock();
    const float alpha = 1.0f, beta = g.beta;
    check(L.matmul(handle, ds.desc, &alpha, g.a, ds.a, g.b, ds.b, &beta, g.d, ds.d, g.d, ds.d, &algo, workspace,
                   workspace_bytes, stream),
          "cublasLtMatmul");
    return true;
}

}  // namespace dcn::detail
