// Small helpers shared by the algorithms. Each one states a semantic rule
// of DESIGN.md section 3 once.
#pragma once

#include "Halide.h"

namespace dcn {

// C's round(): half away from zero (Halide's round() is half to even).
// x - trunc(x) is exact in float, so the comparison with 0.5 is exact.
inline Halide::Expr round_half_away(const Halide::Expr &x) {
    Halide::Expr t = Halide::trunc(x);
    return t + Halide::select(Halide::abs(x - t) >= 0.5f, Halide::select(x < 0.0f, -1.0f, 1.0f), 0.0f);
}

// A sample coordinate made safe for floor / float->int conversion (which
// are undefined for NaN, Inf and huge values, and which fast-math assumes
// away): finite values clamped to [lo, hi], anything else -> `outside`.
// is_finite is evaluated strictly even under fast-math.
inline Halide::Expr sanitize_coordinate(const Halide::Expr &v, const Halide::Expr &lo, const Halide::Expr &hi,
                                        const Halide::Expr &outside) {
    return Halide::select(Halide::is_finite(v), Halide::clamp(v, lo, hi), outside);
}

// The RoI's image: the batch index validated by the runtime, clamped again
// so that no RoI can address another buffer whatever it holds.
inline Halide::Expr roi_batch_index(const Halide::Expr &field, const Halide::Expr &batches) {
    Halide::Expr f = Halide::select(Halide::is_finite(field), Halide::clamp(field, 0.0f, 1e6f), 0.0f);
    return Halide::clamp(Halide::cast<int>(f), 0, batches - 1);
}

}  // namespace dcn
