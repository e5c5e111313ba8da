// GPU schedules of the two deformable RoI pooling operators, for NVIDIA
// A100 / H100-class GPUs (CUDA; the same schedules compiled for OpenCL run
// on PoCL in the tests). gpu_blocks / gpu_threads only.
//
// Both: one block per (RoI, chunk of channels). The block first stages in
// shared memory the positions and bilinear weights of every sample of every
// bin of its RoI (output-indexed: they depend on the RoI, the bin and the
// offset / trans, never on the data), computed once by all its threads;
// then each thread reduces one (channel, bin) over its samples in a
// register, reading the input directly (a gather: its footprint depends on
// the RoI, so it is not staged). Bins are fewer than a tile (7x7 = 49), so
// every split guards its tail (GuardWithIf).
#pragma once

#include "Halide.h"
#include "gpu_common.h"
#include "stages/roi_pool.h"

namespace dcn {

// deform_psroi_pool: threads = 8 x 8 bins (49 used for 7x7) x 4 channels = 256.
// Shared memory per block: P*P*spp^2 samples x 6 values x classes in the
// chunk: 7x7 bins, spp 4, 1 class = 19 KB, and each bin's count of valid
// samples. Registers: one sum per thread plus addressing (ptxas: see
// README).
inline void schedule_deform_psroi_pool_gpu(DeformPsroiPoolStages &s, const Halide::Target &target) {
    using namespace Halide;
    (void)target;
    Var pwo("pwo"), pwi("pwi"), pho("pho"), phi("phi"), cto("cto"), cti("cti"), t("t");
    const int bin_tile = 8, channel_threads = 4;

    // Threads: 8 x 8 bins (49 used for 7x7) x 4 channels = 256.
    s.output.compute_root()
        .split(s.ct, cto, cti, channel_threads, TailStrategy::GuardWithIf)
        .split(s.pw, pwo, pwi, bin_tile, TailStrategy::GuardWithIf)
        .split(s.ph, pho, phi, bin_tile, TailStrategy::GuardWithIf)
        .reorder(pwi, phi, cti, pwo, pho, cto, s.r)
        .gpu_blocks(cto, s.r)
        .gpu_threads(pwi, phi, cti);
    // One sum per thread, in registers. The class and the
    // channel within it come from ct by a division that bounds inference
    // cannot see through, so the one-element extents are stated.
    s.pooled.compute_at(s.output, pwi)
        .bound_extent(s.cc, 1)
        .bound_extent(s.cls, 1)
        .bound_extent(s.pw, 1)
        .bound_extent(s.ph, 1)
        .bound_extent(s.r, 1)
        .store_in(MemoryType::Register);
    // The valid samples' count of each bin once per block, in shared
    // memory (per thread it took registers the 16-bit kernels lacked:
    // bfloat16 with trans spilled at 64).
    s.count.compute_at(s.output, cto);
    for (int u = -1; u < 1; u++) {
        Stage st = u < 0 ? Stage(s.count) : s.count.update();
        st.fuse(s.pw, s.ph, t).fuse(t, s.cls, t);
        spread_over_block(st, t, {bin_tile, bin_tile, channel_threads});
    }
    s.sample.compute_at(s.output, cto).fuse(s.iw, s.ih, t).fuse(t, s.pw, t).fuse(t, s.ph, t);
    spread_over_block(s.sample, t, {bin_tile, bin_tile, channel_threads});
    s.input_ps.compute_inline();
}

// deform_roi_pool: threads = 32 channels x 8 bin columns = 256; rows of
// bins serial per thread. Shared memory per block: the separable sample
// rows and columns, 2 x grid x PH x PW x 4 floats (3 KB for 7x7 bins and a
// 2x2 grid; an adaptive grid scales it: 64 KB at 16x16).
inline void schedule_deform_roi_pool_gpu(DeformRoiPoolStages &s, const Halide::Target &target) {
    using namespace Halide;
    (void)target;
    Var co("co"), ci("ci"), pwo("pwo"), pwi("pwi"), t("t");
    const int channel_threads = 32, bin_threads = 8;

    s.output.compute_root()
        .split(s.c, co, ci, channel_threads, TailStrategy::GuardWithIf)
        .split(s.pw, pwo, pwi, bin_threads, TailStrategy::GuardWithIf)
        .reorder(ci, pwi, s.ph, pwo, co, s.r)
        .gpu_blocks(co, s.r)
        .gpu_threads(ci, pwi);
    // One sum per thread, in registers: computed inside the innermost thread
    // loop (at pwi it would span the block's 32 channels, a per-thread
    // array in local memory: ptxas's stack frame).
    s.pooled.compute_at(s.output, ci).store_in(MemoryType::Register);
    for (Func f : {s.y_sample, s.x_sample}) {
        f.compute_at(s.output, co).fuse(s.i, s.pw, t).fuse(t, s.ph, t);
        spread_over_block(f, t, {channel_threads, bin_threads});
    }
    s.input_cl.compute_inline();
}

}  // namespace dcn
