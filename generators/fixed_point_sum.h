// Deterministic sums in any order: floating-point terms converted to
// fixed point in two int64 words, whose integer additions (GPU atomics) are
// exact, so a sum is the same bits whatever order the threads add in.
//
// The terms of one group of sums (deform_conv2d_col2im: a channel of an
// image), at most `terms` in any one sum, share a bound: |t| < 2^e (e the
// maximum over the group of a per-term bound, an integer: found exactly in
// any order). With F = 62 - bits(terms)
// fraction bits a word, a term x = t * 2^(F - e) (|x| < 2^F; exact: a power
// of two) is added as hi = floor(x) and lo = round((x - hi) * 2^F), both in
// [-2^F, 2^F]: no sum of `terms` of them leaves int64. A float32 term at
// most 2F - 24 binary orders below 2^e (the bound is within a factor 4 of
// the largest term: 2F - 26 below it, 62 for c4's 151200 terms a sum) is
// held exactly, so the sum is then the exact sum of the terms,
// rounded once at the end; smaller terms are rounded to 2^(e - 2F) each.
// Non-finite terms are counted apart (+Inf, -Inf, NaN) and give the IEEE
// result of a sum holding them (NaN for NaN or both infinities, else the
// infinity).
#pragma once

#include "Halide.h"

namespace dcn {

// 2^k as a double, exactly, for -1022 <= k <= 1023.
inline Halide::Expr pow2_double(const Halide::Expr &k) {
    using namespace Halide;
    return reinterpret<double>(cast<uint64_t>(k + 1023) << 52);
}

// The bound of a group without a finite term (the identity of the maximum).
inline Halide::Expr fixed_point_no_bound() { return Halide::Expr(-100000); }

// F: the fraction bits a word for sums of at most `terms` terms.
inline Halide::Expr fixed_point_fraction_bits(const Halide::Expr &terms) {
    using namespace Halide;
    return 62 - (64 - cast<int>(count_leading_zeros(cast<uint64_t>(max(terms, 1)))));
}

// E with |x| < 2^E for a finite float32 or float64 x (from its exponent
// bits: a normal x lies in [2^(b - bias), 2^(b - bias + 1)); a subnormal or
// 0 one below 2^(1 - bias)).
inline Halide::Expr exponent_bound(const Halide::Expr &x) {
    using namespace Halide;
    const bool wide = x.type().bits() == 64;
    const Type u = UInt(x.type().bits());
    Expr biased = cast<int>((reinterpret(u, x) >> (wide ? 52 : 23)) & Internal::make_const(u, wide ? 0x7ff : 0xff));
    return max(biased, 1) - (wide ? 1022 : 126);
}

// A term's bound as a power of two, 2^E > |a| * |b| (a term being
// a * (weights <= 1) * b, factors of the term's type): integers, so that
// their maximum over a group is exact and no product overflows. A term
// with a non-finite factor is counted apart: its bound is the smallest.
inline Halide::Expr fixed_point_term_bound(const Halide::Expr &a, const Halide::Expr &b) {
    using namespace Halide;
    return select(is_finite(a) && is_finite(b), exponent_bound(a) + exponent_bound(b), fixed_point_no_bound());
}

// The scales for a group of terms under 2^E (E: the maximum of their
// fixed_point_term_bound): (2^(F - e), 2^(e - F), 2^(e - 2F)) with e = E
// kept within [2F - 1000, 1025] (every power a normal double; a finite
// double is below 2^1024 anyway).
inline Halide::Tuple fixed_point_scale(const Halide::Expr &bound_exponent, const Halide::Expr &fraction_bits) {
    using namespace Halide;
    const Expr &F = fraction_bits;
    Expr e = clamp(bound_exponent, 2 * F - 1000, 1025);
    return Tuple(pow2_double(F - e), pow2_double(e - F), pow2_double(e - 2 * F));
}

// Word w (0: hi, 1: lo) of a term in fixed point (0 for a non-finite term);
// `up` = 2^(F - e).
inline Halide::Expr to_fixed_point(const Halide::Expr &term, const Halide::Expr &up, const Halide::Expr &fraction_bits,
                                   const Halide::Expr &w) {
    using namespace Halide;
    Expr x = select(is_finite(term), cast<double>(term), Internal::make_zero(Float(64))) * up;
    Expr hi = floor(x);
    return select(w == 0, cast<int64_t>(hi), cast<int64_t>(round((x - hi) * pow2_double(fraction_bits))));
}

// Which count a non-finite term adds to: 0 +Inf, 1 -Inf, 2 NaN (by the sign
// bit: fast-math code may assume no value is infinite).
inline Halide::Expr nonfinite_slot(const Halide::Expr &term) {
    using namespace Halide;
    const Type u = UInt(term.type().bits());
    Expr negative = (reinterpret(u, term) >> (term.type().bits() - 1)) != Internal::make_zero(u);
    return select(is_nan(term), 2, negative, 1, 0);
}

// The sum in type t (float32 or float64) from the words' sums, the scales
// 2^(e - F) and 2^(e - 2F), and the three counts. The infinities and NaN are
// chosen as bits (fast-math code may assume that no value is one).
inline Halide::Expr from_fixed_point(const Halide::Type &t, const Halide::Expr &hi, const Halide::Expr &lo,
                                     const Halide::Expr &fraction_bits, const Halide::Expr &down_hi,
                                     const Halide::Expr &down_lo, const Halide::Expr &pos_inf,
                                     const Halide::Expr &neg_inf, const Halide::Expr &nan) {
    using namespace Halide;
    // The lo words' carry into hi first (lo then in [0, 2^F)), so that each
    // word converts to double with at most one rounding.
    Expr f = cast<int64_t>(fraction_bits);
    Expr carry = lo >> f;
    Expr hi_n = hi + carry, lo_n = lo - (carry << f);
    Expr sum = cast<double>(hi_n) * down_hi + cast<double>(lo_n) * down_lo;
    const bool wide = t.bits() == 64;
    const Type u = UInt(t.bits());
    auto bits = [&](uint64_t b64, uint32_t b32) { return Internal::make_const(u, wide ? b64 : uint64_t(b32)); };
    Expr value = reinterpret(u, cast(t, sum));
    Expr chosen = select(nan != 0 || (pos_inf != 0 && neg_inf != 0), bits(0x7ff8000000000000ull, 0x7fc00000u),
                         pos_inf != 0, bits(0x7ff0000000000000ull, 0x7f800000u),
                         neg_inf != 0, bits(0xfff0000000000000ull, 0xff800000u), value);
    return reinterpret(t, chosen);
}

}  // namespace dcn
