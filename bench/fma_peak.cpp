// The machine's FP32 FMA ceiling: independent FMA chains in registers on 1
// and on all threads (12 chains: enough to cover 4-cycle latency on 2 FMA
// ports). AVX-512 where the CPU has it, else AVX2. Prints GFLOP/s. Where the
// CPU has AVX512-BF16, also the bf16 dot-product ceiling (vdpbf16ps: 32
// bf16 products summed pairwise into 16 float32 lanes, 64 FLOPs per
// instruction), the bfloat16 kernels' peak.
//
//   build/bin/fma_peak [threads]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr int kChains = 12;

__attribute__((target("avx512f,fma"))) float chains_avx512(long iters) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; i++) acc[i] = _mm512_set1_ps(i * 1e-3f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < kChains; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    float s = 0;
    for (int i = 0; i < kChains; i++) s += _mm512_reduce_add_ps(acc[i]);
    return s;
}

__attribute__((target("avx512f,avx512bf16"))) float chains_bf16(long iters) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; i++) acc[i] = _mm512_set1_ps(i * 1e-3f);
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);  // 1, ~6e-8
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < kChains; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    float s = 0;
    for (int i = 0; i < kChains; i++) s += _mm512_reduce_add_ps(acc[i]);
    return s;
}

__attribute__((target("avx2,fma"))) float chains_avx2(long iters) {
    __m256 acc[kChains];
    for (int i = 0; i < kChains; i++) acc[i] = _mm256_set1_ps(i * 1e-3f);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < kChains; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    alignas(32) float lanes[8];
    float s = 0;
    for (int i = 0; i < kChains; i++) {
        _mm256_store_ps(lanes, acc[i]);
        for (float v : lanes) s += v;
    }
    return s;
}

enum class Kind { avx2, avx512, bf16 };

double gflops(int threads, Kind kind, long iters) {
    std::vector<std::thread> pool;
    std::vector<float> sink(threads);
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; t++)
        pool.emplace_back([&, t] {
            sink[t] = kind == Kind::bf16     ? chains_bf16(iters)
                      : kind == Kind::avx512 ? chains_avx512(iters)
                                             : chains_avx2(iters);
        });
    for (auto &t : pool) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    volatile float keep = sink[0];
    (void)keep;
    const int flops = kind == Kind::bf16 ? 64 : kind == Kind::avx512 ? 32 : 16;  // per instruction
    return threads * double(iters) * kChains * flops / s / 1e9;
}

}  // namespace

int main(int argc, char **argv) {
    const bool avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !__builtin_cpu_supports("avx2")) {
        std::fprintf(stderr, "fma_peak: needs AVX2+FMA or AVX-512\n");
        return 1;
    }
    const int all = argc > 1 ? std::atoi(argv[1]) : int(std::max(1u, std::thread::hardware_concurrency()));
    const long iters = 100000000;
    std::vector<std::pair<Kind, const char *>> kinds{{avx512 ? Kind::avx512 : Kind::avx2,
                                                      avx512 ? "AVX-512 FMA" : "AVX2 FMA"}};
    if (__builtin_cpu_supports("avx512bf16")) kinds.push_back({Kind::bf16, "AVX512-BF16 dot-product (vdpbf16ps)"});
    for (const auto &[kind, label] : kinds) {
        for (int threads : {1, all}) {
            std::vector<double> runs;
            for (int r = 0; r < 3; r++) runs.push_back(gflops(threads, kind, iters));
            std::sort(runs.begin(), runs.end());
            std::printf("%s peak, %d thread%s: %.1f GFLOP/s (median of 3)\n", label, threads,
                        threads == 1 ? "" : "s", runs[1]);
            if (all == 1) break;
        }
    }
    return 0;
}
