// Small helpers shared by the algorithms. Each one states a semantic rule
// of docs/operators.md once.
#pragma once

#include "Halide.h"

namespace dcn {

// The type a kernel computes and accumulates in: the list's ACCUM for its
// storage dtype (cmake/DcnRegistry.cmake: float32 for the 16-bit types, the
// type itself otherwise), passed as the generators' `accum` parameter.
// `converts`: whether the generator reads and writes storage in another
// type than it computes in (the others compute in their storage type).
inline Halide::Type compute_type(const Halide::Type &dtype, const Halide::Type &accum, bool converts) {
    _halide_user_assert(accum.is_float() && accum.bits() >= dtype.bits())
        << "accum=" << accum << " cannot hold dtype=" << dtype << " (cmake/DcnRegistry.cmake's ACCUM)";
    _halide_user_assert(converts || accum == dtype)
        << "this generator computes in its storage type: dtype=" << dtype << " with accum=" << accum
        << " is not implemented";
    return accum;
}

// The type of a GEMM's operands on `target`: the storage type where the CPU
// multiplies it natively into float32 lanes (bfloat16 on AVX512-BF16,
// Halide's avx512_zen4 / avx512_sapphirerapids features: vdpbf16ps), else
// the compute type. The GEMM's own inputs stored in bfloat16 (weights,
// grad_output) are exact in it; values the kernel computes (the sampled
// columns) are rounded to it, once (docs/operators.md, "Precision of
// 16-bit storage").
inline Halide::Type gemm_operand_type(const Halide::Target &target, const Halide::Type &dtype,
                                      const Halide::Type &compute) {
    const bool bf16_dot = target.has_feature(Halide::Target::AVX512_Zen4) ||
                          target.has_feature(Halide::Target::AVX512_SapphireRapids);
    if (dtype.is_bfloat() && compute == Halide::Float(32) && bf16_dot && !target.has_gpu_feature()) return dtype;
    return compute;
}

// Reduction elements per float32 lane of the GEMM's dot product: 2 for
// bfloat16 operands (vdpbf16ps sums a pair of products into each lane, so
// the operands are laid out in pairs along the reduction and a reduction of
// odd length is padded with a zero), 1 for an FMA.
inline int gemm_pair(const Halide::Type &operand) { return operand.is_bfloat() ? 2 : 1; }

// C's round(): half away from zero (Halide's round() is half to even).
// x - trunc(x) is exact in float, so the comparison with 0.5 is exact.
inline Halide::Expr round_half_away(const Halide::Expr &x) {
    using Halide::Internal::make_const;
    Halide::Expr t = Halide::trunc(x);
    const Halide::Type ty = x.type();
    return t + Halide::select(Halide::abs(x - t) >= make_const(ty, 0.5),
                              Halide::select(x < make_const(ty, 0.0), make_const(ty, -1.0), make_const(ty, 1.0)),
                              make_const(ty, 0.0));
}

// A sample coordinate made safe for floor / float->int conversion (which
// are undefined for NaN, Inf and huge values, and which fast-math assumes
// away): finite values clamped to [lo, hi], anything else -> `outside`.
// is_finite is evaluated strictly even under fast-math.
inline Halide::Expr sanitize_coordinate(const Halide::Expr &v, const Halide::Expr &lo, const Halide::Expr &hi,
                                        const Halide::Expr &outside) {
    const Halide::Type t = v.type();
    return Halide::select(Halide::is_finite(v), Halide::clamp(v, Halide::cast(t, lo), Halide::cast(t, hi)),
                          Halide::cast(t, outside));
}

// The RoI's image: the batch index validated by the runtime, clamped again
// so that no RoI can address another buffer whatever it holds.
inline Halide::Expr roi_batch_index(const Halide::Expr &field, const Halide::Expr &batches) {
    using Halide::Internal::make_const;
    const Halide::Type t = field.type();
    Halide::Expr f = Halide::select(Halide::is_finite(field), Halide::clamp(field, make_const(t, 0.0), make_const(t, 1e6)),
                                    make_const(t, 0.0));
    return Halide::clamp(Halide::cast<int>(f), 0, batches - 1);
}

}  // namespace dcn
