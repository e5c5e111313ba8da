// Memory of the CPU kernels. A call's large scratch buffers (the repacked
// input and weights: megabytes) would otherwise go back to the operating
// system at the end of every call and be page-faulted in again by the next
// one (measured: 11% of a call of the classification-layer benchmark on a
// 2-core VM). Halide's heap allocations of at least kMinCached bytes
// therefore go through a small cache of freed blocks; smaller ones, and
// blocks the cache did not hand out, use Halide's default allocator.
#include <HalideRuntime.h>

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "internal.h"

namespace dcn {
namespace {

constexpr size_t kMinCached = size_t(64) << 10;
constexpr size_t kMaxCachedBytes = size_t(256) << 20;  // freed blocks kept at most

std::mutex g_mutex;
std::unordered_map<void *, size_t> g_live;  // handed out: capacity
std::vector<std::pair<size_t, void *>> g_free;  // cached (capacity, block), oldest first
size_t g_free_bytes = 0;

// Frees cached blocks, oldest first, until at most `keep` bytes remain.
void trim_locked(size_t keep) {
    size_t drop = 0;
    while (drop < g_free.size() && g_free_bytes > keep) {
        g_free_bytes -= g_free[drop].first;
        halide_default_free(nullptr, g_free[drop].second);
        drop++;
    }
    g_free.erase(g_free.begin(), g_free.begin() + static_cast<std::ptrdiff_t>(drop));
}

// At exit, the cached blocks are freed (otherwise they are still allocated
// when the globals above are destroyed, and leak checkers report them as
// lost). Declared after them, so destroyed before them.
struct FreeCacheAtExit {
    ~FreeCacheAtExit() {
        std::lock_guard<std::mutex> lock(g_mutex);
        trim_locked(0);
    }
} g_free_cache_at_exit;

extern "C" void *dcn_halide_malloc(void *user_context, size_t size) {
    if (size < kMinCached) return halide_default_malloc(user_context, size);
    {
        // The smallest cached block that fits without wasting more than half.
        std::lock_guard<std::mutex> lock(g_mutex);
        size_t best = g_free.size();
        for (size_t i = 0; i < g_free.size(); i++) {
            const size_t cap = g_free[i].first;
            if (cap >= size && cap / 2 <= size && (best == g_free.size() || cap < g_free[best].first)) best = i;
        }
        if (best != g_free.size()) {
            const auto [cap, block] = g_free[best];
            g_free.erase(g_free.begin() + static_cast<std::ptrdiff_t>(best));
            g_free_bytes -= cap;
            g_live.emplace(block, cap);
            return block;
        }
    }
    const size_t cap = (size + 4095) & ~size_t(4095);
    void *block = halide_default_malloc(user_context, cap);
    if (block) {
        std::lock_guard<std::mutex> lock(g_mutex);
        g_live.emplace(block, cap);
    }
    return block;
}

extern "C" void dcn_halide_free(void *user_context, void *block) {
    if (!block) return;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        auto it = g_live.find(block);
        if (it != g_live.end()) {
            g_free.emplace_back(it->second, block);
            g_free_bytes += it->second;
            g_live.erase(it);
            trim_locked(kMaxCachedBytes);
            return;
        }
    }
    halide_default_free(user_context, block);
}

}  // namespace

void release_cached_memory() {
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        trim_locked(0);
    }
    // The GPU allocations Halide's runtimes keep for reuse (device.cpp).
    halide_reuse_device_allocations(nullptr, false);
    halide_reuse_device_allocations(nullptr, true);
}

size_t cached_memory_bytes() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_free_bytes;
}

namespace detail {

void install_allocator() {
    halide_set_custom_malloc(dcn_halide_malloc);
    halide_set_custom_free(dcn_halide_free);
}

}  // namespace detail
}  // namespace dcn
