// Helpers shared by the GPU schedules.
#pragma once

#include <vector>

#include "Halide.h"

namespace dcn {

// Spreads the (fused) loop `v` of a stage computed at block level over the
// block's threads, in the block's own shape (innermost first). Halide sizes
// a block by the largest extent of each thread dimension over all the thread
// loops in it, so a staging loop shaped differently from the block's main
// loop would enlarge the block (e.g. 256 x 8 x 4 instead of 8 x 8 x 4).
inline void spread_over_block(Halide::Stage f, const Halide::Var &v, const std::vector<int> &block) {
    using namespace Halide;
    std::vector<VarOrRVar> thread_vars;
    Var rest = v;
    for (size_t d = 0; d < block.size(); d++) {
        Var inner("t" + std::to_string(d)), outer("o" + std::to_string(d));
        f.split(rest, outer, inner, block[d], TailStrategy::GuardWithIf);
        thread_vars.push_back(inner);
        rest = outer;
    }
    if (thread_vars.size() == 1) f.gpu_threads(thread_vars[0]);
    if (thread_vars.size() == 2) f.gpu_threads(thread_vars[0], thread_vars[1]);
    if (thread_vars.size() == 3) f.gpu_threads(thread_vars[0], thread_vars[1], thread_vars[2]);
}

}  // namespace dcn
