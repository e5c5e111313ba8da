// The deformable convolution layers of real models that the benchmarks
// time (bench/RESULTS.md, the README's tables): 3x3 kernels, padding 1.
// Keep in sync with CONV_SHAPES in bench/peers.py.
#pragma once

#include <cstdint>

namespace dcn_bench {

struct ConvCase {
    const char *name;
    int64_t N, C, H, W, K;
    int stride;
    int offset_groups;
    bool mask;  // DCNv2
};

inline constexpr ConvCase kCases[] = {
    {"c3_1x128x100x168_k128_dcnv2", 1, 128, 100, 168, 128, 1, 1, true},
    {"c4_1x256x50x84_k256_dcnv2", 1, 256, 50, 84, 256, 1, 1, true},
    {"c5_1x512x25x42_k512_dcnv2", 1, 512, 25, 42, 512, 1, 1, true},
    {"c4entry_1x256x100x168_k256_s2_dcnv1", 1, 256, 100, 168, 256, 2, 1, false},
    {"cls_8x256x14x14_k256_og4_dcnv2", 8, 256, 14, 14, 256, 1, 4, true},
    {"small_1x64x56x56_k64_dcnv2", 1, 64, 56, 56, 64, 1, 1, true},
};

}  // namespace dcn_bench
