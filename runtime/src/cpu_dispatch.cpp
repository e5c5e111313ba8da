// CPU code-path selection and the bridge from Halide's runtime hooks
// (error handler, target-feature queries) to dcn's API.
//
// Each kernel library holds one object per CPU target (cmake/DcnKernels.cmake).
// select_cpu_variant() asks halide_can_use_target_features about each target,
// best first, and the first accepted one runs (the baseline needs no
// question). The hook below accepts a target when the CPU supports it
// (Halide's own check) and it is not above the cap set by set_max_cpu_isa.
// (Halide's generated multi-target wrapper asks the same questions but
// caches its first answer for the life of the process, so it is not used.)
// Halide's check reads CPUID alone; the hook also asks the operating system
// (XCR0) whether it saves the AVX / AVX-512 registers: a hypervisor may
// report the instructions without enabling their state, and their code
// would then die with SIGILL.

#include <cpuid.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cstdlib>
#include <mutex>
#include <string>

#include "dcn_registry.h"
#include "internal.h"

namespace dcn {
namespace {

constexpr int kFeatureWords = (halide_target_feature_end + 63) / 64;

struct Features {
    uint64_t words[kFeatureWords] = {};
    void set(int f) { words[f >> 6] |= uint64_t{1} << (f & 63); }
    bool has(int f) const { return (words[f >> 6] >> (f & 63)) & 1; }
};

// The Halide target features of a CPU path (the registry's target string).
Features features_of(CpuIsa isa) {
    Features f;
    const detail::CpuPathInfo &p = detail::kCpuPaths[static_cast<int>(isa)];
    for (int i = 0; i < p.num_features; i++) f.set(p.features[i]);
    return f;
}

// The best path whose features are all in the asked set.
CpuIsa isa_of(int count, const uint64_t *words) {
    auto has = [&](int f) { return (f >> 6) < count && ((words[f >> 6] >> (f & 63)) & 1); };
    for (int i = 0; i < detail::kNumCpuPaths; i++) {
        const detail::CpuPathInfo &p = detail::kCpuPaths[i];
        bool all = true;
        for (int j = 0; j < p.num_features; j++) all = all && has(p.features[j]);
        if (all) return static_cast<CpuIsa>(i);
    }
    return static_cast<CpuIsa>(detail::kNumCpuPaths - 1);
}

// Whether the operating system saves the registers these Halide target
// features' instructions use: the AVX state (XCR0 bits 1-2) for AVX, AVX2,
// FMA and F16C (VEX encodings), also the AVX-512 state (bits 5-7) for the
// avx512 features.
bool os_saves_registers(int count, const char *const *feature_names) {
    bool avx = false, avx512 = false;
    for (int i = 0; i < count; i++) {
        const std::string n = feature_names[i];
        avx512 = avx512 || n.rfind("avx512", 0) == 0;
        avx = avx || n.rfind("avx", 0) == 0 || n == "fma" || n == "f16c";
    }
    if (!avx) return true;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    const uint64_t xcr0 = (uint64_t{hi} << 32) | lo;
    return (xcr0 & 0x6) == 0x6 && (!avx512 || (xcr0 & 0xe0) == 0xe0);
}

bool os_runs(CpuIsa isa) {
    const detail::CpuPathInfo &p = detail::kCpuPaths[static_cast<int>(isa)];
    return os_saves_registers(p.num_features, p.feature_names);
}

// Enum order is best first, so a larger value is a lower path.
constexpr int kNoCap = -1;
std::atomic<int> g_cap{kNoCap};
// An unknown DCN_MAX_CPU_ISA value, reported by every call until an explicit
// set_max_cpu_isa() replaces the environment's cap. Written once (inside
// install_hooks' call_once), then only read; the flag is what changes.
std::string g_bad_env_isa;
std::atomic<bool> g_env_isa_replaced{false};
thread_local CpuIsa t_last_isa = static_cast<CpuIsa>(detail::kNumCpuPaths - 1);
thread_local const char *t_last_schedule = "default";
std::atomic<bool> g_tuned_enabled{true};  // DCN_TUNED=0 turns tuned shape classes off

thread_local std::string t_error;
std::mutex g_error_mutex;
std::string g_error;  // errors raised on a worker thread

extern "C" void dcn_halide_error(void *, const char *msg) {
    std::string m(msg ? msg : "unknown Halide error");
    while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) m.pop_back();
    t_error = m;
    std::lock_guard<std::mutex> lock(g_error_mutex);
    g_error = m;
}

extern "C" int dcn_can_use_target_features(int count, const uint64_t *features) {
    const CpuIsa isa = isa_of(count, features);
    const int cap = g_cap.load();
    if (cap != kNoCap && static_cast<int>(isa) < cap) return 0;
    if (!os_runs(isa)) return 0;
    return halide_default_can_use_target_features(count, features);
}

}  // namespace
namespace detail {
void install_cuda_hooks();
void install_allocator();
}  // namespace detail
namespace {

void install_hooks() {
    static std::once_flag once;
    std::call_once(once, [] {
        halide_set_error_handler(dcn_halide_error);
        detail::install_allocator();
        detail::install_cuda_hooks();
        halide_set_custom_can_use_target_features(dcn_can_use_target_features);
        if (const char *env = std::getenv("DCN_TUNED")) g_tuned_enabled = std::string(env) != "0";
        if (const char *env = std::getenv("DCN_MAX_CPU_ISA")) {
            if (auto isa = cpu_isa_from_name(env)) {
                g_cap = static_cast<int>(*isa);
            } else if (*env) {
                g_bad_env_isa = env;
            }
        }
    });
}

}  // namespace

const char *cpu_isa_name(CpuIsa isa) {
    const int i = static_cast<int>(isa);
    return i >= 0 && i < detail::kNumCpuPaths ? detail::kCpuPaths[i].name : "unknown";
}

std::optional<CpuIsa> cpu_isa_from_name(const std::string &name) {
    for (CpuIsa isa : compiled_cpu_isas())
        if (name == cpu_isa_name(isa)) return isa;
    return std::nullopt;
}

std::vector<CpuIsa> compiled_cpu_isas() {
    std::vector<CpuIsa> out;
    for (int i = 0; i < detail::kNumCpuPaths; i++) out.push_back(static_cast<CpuIsa>(i));
    return out;
}

bool cpu_supports(CpuIsa isa) {
    if (static_cast<int>(isa) == detail::kNumCpuPaths - 1) return true;  // the baseline
    Features f = features_of(isa);
    return os_runs(isa) && halide_default_can_use_target_features(kFeatureWords, f.words) != 0;
}

void set_max_cpu_isa(std::optional<CpuIsa> cap) {
    install_hooks();  // so a later DCN_MAX_CPU_ISA read cannot override this
    g_cap = cap ? static_cast<int>(*cap) : kNoCap;
    g_env_isa_replaced = true;  // an explicit cap replaces the environment's
}

std::optional<CpuIsa> max_cpu_isa() {
    install_hooks();
    const int cap = g_cap.load();
    if (cap == kNoCap) return std::nullopt;
    return static_cast<CpuIsa>(cap);
}

std::vector<std::string> cpu_features() {
    std::vector<std::string> out;
    for (const detail::CpuPathInfo &p : detail::kCpuPaths) {
        for (int i = 0; i < p.num_features; i++) {
            const std::string name = p.feature_names[i];
            if (std::find(out.begin(), out.end(), name) != out.end()) continue;
            Features f;
            f.set(p.features[i]);
            if (os_saves_registers(1, &p.feature_names[i]) &&
                halide_default_can_use_target_features(kFeatureWords, f.words))
                out.push_back(name);
        }
    }
    return out;
}

CpuIsa last_cpu_isa() { return t_last_isa; }

const char *last_cpu_schedule() { return t_last_schedule; }

void set_num_threads(int n) {
    if (n < 0) throw Error("set_num_threads", "n", "expected >= 0 (0 = the default), got " + std::to_string(n));
    halide_set_num_threads(n);
}

int num_threads() {
    // Halide reports 0 until its pool has been sized; resolve the default
    // the way its runtime does (HL_NUM_THREADS, else the core count).
    int n = halide_get_num_threads();
    if (n > 0) return n;
    for (const char *var : {"HL_NUM_THREADS", "HL_NUMTHREADS"}) {
        if (const char *env = std::getenv(var)) {
            n = std::atoi(env);
            if (n > 0) return n;
        }
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

namespace detail {

void begin_kernel_call() {
    install_hooks();
    if (!g_env_isa_replaced.load() && !g_bad_env_isa.empty()) {
        std::string names;
        for (CpuIsa isa : compiled_cpu_isas()) names += std::string(names.empty() ? "" : ", ") + cpu_isa_name(isa);
        throw Error("dcn", "DCN_MAX_CPU_ISA", "unknown value '" + g_bad_env_isa + "', expected one of " + names);
    }
    t_error.clear();
    take_launch_note();
    {
        std::lock_guard<std::mutex> lock(g_error_mutex);
        g_error.clear();
    }
}

int select_cpu_variant() {
    install_hooks();
    for (int i = 0; i + 1 < kNumCpuPaths; i++) {
        Features f = features_of(static_cast<CpuIsa>(i));
        if (halide_can_use_target_features(kFeatureWords, f.words)) return i;
    }
    return kNumCpuPaths - 1;  // the baseline needs no question
}

void note_cpu_isa(int isa) { t_last_isa = static_cast<CpuIsa>(isa); }

bool tuned_schedules_enabled() {
    install_hooks();
    return g_tuned_enabled.load();
}

void note_cpu_schedule(const char *tuned_class) { t_last_schedule = tuned_class ? tuned_class : "default"; }

std::string last_halide_error() {
    if (!t_error.empty()) return t_error;
    std::lock_guard<std::mutex> lock(g_error_mutex);
    return g_error;
}

void check_kernel_status(const char *function, int status) {
    if (status == 0) return;
    std::string msg = last_halide_error();
    if (msg.empty()) msg = "Halide error code " + std::to_string(status);
    const std::string why = take_launch_note();  // a CUDA launch dcn refused (cuda_driver.h)
    if (!why.empty()) msg += ": " + why;
    throw Error(function, "kernel", msg);
}

}  // namespace detail
}  // namespace dcn
