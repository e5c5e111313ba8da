// The machine's FP32 FMA ceiling: independent FMA chains in registers on 1
// and on all threads (12 chains: enough to cover 4-cycle latency on 2 FMA
// ports). AVX-512 where the CPU has it, else AVX2. Prints GFLOP/s.
//
//   build/bin/fma_peak [threads]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
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

double gflops(int threads, bool avx512, long iters) {
    std::vector<std::thread> pool;
    std::vector<float> sink(threads);
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; t++)
        pool.emplace_back([&, t] { sink[t] = avx512 ? chains_avx512(iters) : chains_avx2(iters); });
    for (auto &t : pool) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    volatile float keep = sink[0];
    (void)keep;
    return threads * double(iters) * kChains * (avx512 ? 16 : 8) * 2 / s / 1e9;
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
    for (int threads : {1, all}) {
        std::vector<double> runs;
        for (int r = 0; r < 3; r++) runs.push_back(gflops(threads, avx512, iters));
        std::sort(runs.begin(), runs.end());
        std::printf("%s FMA peak, %d thread%s: %.1f GFLOP/s (median of 3)\n", avx512 ? "AVX-512" : "AVX2", threads,
                    threads == 1 ? "" : "s", runs[1]);
        if (all == 1) break;
    }
    return 0;
}
