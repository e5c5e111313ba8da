// Shared helpers for the dcn GoogleTest suites (header-only).
//
//  * seeded random fillers (std::mt19937, reproducible across runs and
//    platforms: values are derived from raw 32-bit draws, never from
//    std::uniform_real_distribution whose output is implementation-defined);
//  * dyadic fillers (multiples of 1/2^k): with dyadic data, offsets and
//    masks, every bilinear weight and product is exact in float32, so results
//    can be compared tightly or exactly;
//  * a NaN "poison" filler for outputs, so elements a kernel never wrote are
//    caught (NaN never passes a comparison);
//  * matches_reference(): the tolerance test (relative L2 and a max-abs bound).
#pragma once

#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "reference/deform_conv2d_ref.h"

namespace dcn_test {

inline int64_t numel(const std::vector<int64_t> &shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

// "[1, 18, 50, 84]": the format dcn::Error messages use.
inline std::string shape_str(const std::vector<int64_t> &shape) {
    std::ostringstream s;
    s << '[';
    for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
    s << ']';
    return s.str();
}

// Multi-index of flat element `flat` of a C-contiguous tensor, as "[n, c, y, x]".
inline std::string index_str(const std::vector<int64_t> &shape, int64_t flat) {
    std::vector<int64_t> idx(shape.size());
    for (size_t d = shape.size(); d-- > 0;) {
        idx[d] = shape[d] ? flat % shape[d] : 0;
        flat = shape[d] ? flat / shape[d] : 0;
    }
    return shape_str(idx);
}

// ---- random fillers ---------------------------------------------------------

// Uniform in [lo, hi), reproducible: 24 random bits scaled (exact in float).
inline float uniform(std::mt19937 &rng, float lo, float hi) {
    const double u = static_cast<double>(rng() >> 8) / 16777216.0;  // [0, 1), 2^-24 steps
    return static_cast<float>(lo + (static_cast<double>(hi) - lo) * u);
}

// A uniformly chosen integer in [lo, hi].
inline int64_t uniform_int(std::mt19937 &rng, int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    const uint64_t r = (static_cast<uint64_t>(rng()) << 32) | rng();
    return lo + static_cast<int64_t>(r % span);
}

// Uniform in [lo, hi).
inline void fill_uniform(std::vector<float> &v, std::mt19937 &rng, float lo, float hi) {
    for (float &x : v) x = uniform(rng, lo, hi);
}

// Dyadic values: multiples of 1/denom (denom a power of two, e.g. 4 or 8) in
// [lo, hi] (lo and hi should themselves be multiples of 1/denom).
inline void fill_dyadic(std::vector<float> &v, std::mt19937 &rng, float lo, float hi, int denom) {
    const int64_t a = static_cast<int64_t>(std::ceil(static_cast<double>(lo) * denom));
    const int64_t b = static_cast<int64_t>(std::floor(static_cast<double>(hi) * denom));
    for (float &x : v) x = static_cast<float>(static_cast<double>(uniform_int(rng, a, b)) / denom);
}

// Small integers in [lo, hi] (exactly representable; small sums of their
// products are exact in float32).
inline void fill_integers(std::vector<float> &v, std::mt19937 &rng, int lo, int hi) {
    for (float &x : v) x = static_cast<float>(uniform_int(rng, lo, hi));
}

// Fill with quiet NaN: done to every output before a kernel runs, so an
// element the kernel fails to write is a NaN and fails the comparison.
inline void poison(std::vector<float> &v) {
    std::fill(v.begin(), v.end(), std::numeric_limits<float>::quiet_NaN());
}

// A float32 test tensor's values as float64 (exact), for the float64 kernels.
inline std::vector<double> to_f64(const std::vector<float> &v) { return std::vector<double>(v.begin(), v.end()); }

inline dcn_ref::Tensor zeros(const std::vector<int64_t> &shape) {
    return dcn_ref::Tensor{shape, std::vector<float>(static_cast<size_t>(numel(shape)), 0.0f)};
}

inline dcn_ref::Tensor random_tensor(const std::vector<int64_t> &shape, std::mt19937 &rng,
                                     float lo = -1.0f, float hi = 1.0f) {
    dcn_ref::Tensor t = zeros(shape);
    fill_uniform(t.data, rng, lo, hi);
    return t;
}

inline dcn_ref::Tensor dyadic_tensor(const std::vector<int64_t> &shape, std::mt19937 &rng,
                                     float lo, float hi, int denom) {
    dcn_ref::Tensor t = zeros(shape);
    fill_dyadic(t.data, rng, lo, hi, denom);
    return t;
}

inline dcn_ref::Tensor integer_tensor(const std::vector<int64_t> &shape, std::mt19937 &rng,
                                      int lo, int hi) {
    dcn_ref::Tensor t = zeros(shape);
    fill_integers(t.data, rng, lo, hi);
    return t;
}


// ---- strided views ------------------------------------------------------------

// A copy of `data` (C-contiguous in `shape`) inside a larger buffer of shape
// shape + extra filled with `fill`, so the view has non-trivial strides.
struct Strided {
    std::vector<float> buffer;
    std::vector<int64_t> shape, strides;
    dcn::TensorView view() { return dcn::TensorView(buffer.data(), shape, strides); }
    // Where element `flat` (C order in `shape`) lives in the buffer.
    int64_t offset_of(int64_t flat) const {
        int64_t off = 0;
        for (size_t d = shape.size(); d-- > 0;) {
            off += (flat % shape[d]) * strides[d];
            flat /= shape[d];
        }
        return off;
    }
    // The view's elements, C-contiguous.
    std::vector<float> gather() const {
        std::vector<float> r(static_cast<size_t>(numel(shape)));
        for (int64_t i = 0; i < numel(shape); ++i) r[static_cast<size_t>(i)] = buffer[static_cast<size_t>(offset_of(i))];
        return r;
    }
};

// `data` == nullptr: the view's elements are NaN (a poisoned output).
inline Strided embed(const std::vector<int64_t> &shape, const std::vector<int64_t> &extra,
                     const std::vector<float> *data, float fill) {
    Strided s;
    s.shape = shape;
    std::vector<int64_t> big(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) big[d] = shape[d] + extra[d];
    s.strides.assign(shape.size(), 1);
    for (size_t d = shape.size() - 1; d-- > 0;) s.strides[d] = s.strides[d + 1] * big[d + 1];
    s.buffer.assign(static_cast<size_t>(numel(big)), fill);
    for (int64_t i = 0; i < numel(shape); ++i)
        s.buffer[static_cast<size_t>(s.offset_of(i))] =
            data ? (*data)[static_cast<size_t>(i)] : std::numeric_limits<float>::quiet_NaN();
    return s;
}

inline std::vector<float> gather(const Strided &s) { return s.gather(); }

// Elements of the big buffer outside the view still hold `fill`.
inline ::testing::AssertionResult untouched_outside(const Strided &s, float fill) {
    std::vector<char> in_view(s.buffer.size(), 0);
    for (int64_t i = 0; i < numel(s.shape); ++i) in_view[static_cast<size_t>(s.offset_of(i))] = 1;
    for (size_t k = 0; k < s.buffer.size(); ++k)
        if (!in_view[k] && s.buffer[k] != fill)
            return ::testing::AssertionFailure() << "element " << k << " outside the view was written";
    return ::testing::AssertionSuccess();
}

// ---- comparison against the double reference ------------------------------

// Tolerances of matches_reference().
//
// A float32 result of a reduction of L terms (L = (C/groups)*kH*kW for
// deform_conv2d) carries rounding error from the products, the bilinear
// weights (sample coordinates rounded to float: |dy| <= ulp(|y|)/2) and the
// accumulation. Each is a relative error of a few u = 2^-24 ~ 6e-8 per term;
// with independent rounding these add up like a random walk, so the error of
// one output grows like u * sqrt(L) * (magnitude of the terms), and the
// magnitude of a sum of L random-signed terms is itself ~ sqrt(L) * term, i.e.
// bounded by max|ref|. Hence the per-element bound
//     |actual - ref| <= abs_floor + abs_per_sqrt_len * sqrt(L) * max|ref|
// with abs_per_sqrt_len = 1e-6 (~16 u: headroom for blocked / vector
// accumulation orders and FMA) and abs_floor = 1e-6 (for outputs that are ~0
// after cancellation or all samples outside). On top, the whole tensor must
// satisfy the relative L2 error ||actual - ref|| / ||ref|| <= 1e-5
// Setting all three to 0 demands exact equality.
//
// 16-bit storage (bfloat16, float16): the kernels compute in float32 (the
// bound above) and round each output once to the storage type, an error of
// at most u * |output| (u = 2^-8 for bfloat16, 2^-11 for float16: round to
// nearest), so each element also gets rel_per_element * |ref| and the
// relative L2 limit grows by u. (The inputs are rounded to the storage type
// before the reference sees them, so only the kernel's own error counts.)
//
// A GEMM on 16-bit operands (the avx512_bf16 path's bfloat16 GEMMs,
// vdpbf16ps) rounds the values the kernel computes for it (the sampled
// columns) to the storage type: each product w * v then carries an error of
// at most u * |w * v|, so an output also gets u * sum |w * v| over its
// reduction (term_sums: the same computation on absolute values, from the
// reference; with_term_sums).
struct Tolerance {
    double rel_l2 = 1e-5;
    double abs_per_sqrt_len = 1e-6;
    double abs_floor = 1e-6;
    double rel_per_element = 0.0;
    double rel_per_term_sum = 0.0;
    std::vector<double> term_sums;  // per element, when rel_per_term_sum > 0

    static Tolerance exact() { return Tolerance{0.0, 0.0, 0.0, 0.0}; }
    static Tolerance storage16(double u) { return Tolerance{}.with_rounding(u); }
    // This tolerance plus one rounding (unit roundoff u) of each result.
    Tolerance with_rounding(double u) const {
        Tolerance t = *this;
        t.rel_per_element = u;
        t.rel_l2 += u;
        return t;
    }
    // This tolerance plus u * sum |terms| per element (rounded GEMM
    // operands); the relative L2 limit grows by u * ||sums|| / ||ref||,
    // which matches_reference adds.
    Tolerance with_term_sums(double u, std::vector<double> sums) const {
        Tolerance t = *this;
        t.rel_per_term_sum = u;
        t.term_sums = std::move(sums);
        return t;
    }
    // float64 kernels: u = 2^-53 ~ 1.1e-16, the same reasoning scaled by
    // 2^-29: relative L2 <= 1e-12 (the float64 contract), per element
    // 1e-14 * sqrt(L) * max|ref| + 1e-14.
    static Tolerance float64() { return Tolerance{1e-12, 1e-14, 1e-14}; }
};

// Checks `actual` (float32 or float64, C-contiguous, `shape`) against the double
// reference: no NaN (and no Inf where the reference is finite), relative L2
// error and a per-element max-abs bound scaled by the reduction length (see
// Tolerance). On failure the message names the worst element (index, actual,
// expected, error, bound), the first NaN if any, and the relative L2 error.
template <typename T>
::testing::AssertionResult matches_reference(const T *actual,
                                                    const std::vector<double> &ref,
                                                    const std::vector<int64_t> &shape,
                                                    int64_t reduction_len,
                                                    const Tolerance &tol = Tolerance{}) {
    const int64_t n = numel(shape);
    if (static_cast<int64_t>(ref.size()) != n)
        return ::testing::AssertionFailure()
               << "reference has " << ref.size() << " elements, shape " << shape_str(shape)
               << " has " << n;
    if (tol.rel_per_term_sum > 0.0 && static_cast<int64_t>(tol.term_sums.size()) != n)
        return ::testing::AssertionFailure() << "tolerance has " << tol.term_sums.size() << " term sums for " << n
                                             << " elements";
    auto term_bound = [&](int64_t i) {
        return tol.rel_per_term_sum > 0.0 ? tol.rel_per_term_sum * tol.term_sums[static_cast<size_t>(i)] : 0.0;
    };
    double max_ref = 0.0, terms2 = 0.0;
    for (double r : ref) max_ref = std::max(max_ref, std::fabs(r));
    for (int64_t i = 0; i < n; ++i) terms2 += term_bound(i) * term_bound(i);
    const double bound =
        tol.abs_floor +
        tol.abs_per_sqrt_len * std::sqrt(static_cast<double>(std::max<int64_t>(reduction_len, 1))) *
            max_ref;

    int64_t nonfinite = 0, first_nonfinite = -1, over = 0, worst = -1;
    double worst_excess = -1.0, err2 = 0.0, ref2 = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double a = static_cast<double>(actual[i]), r = ref[static_cast<size_t>(i)];
        if (std::isnan(a) || (std::isinf(a) && std::isfinite(r))) {
            if (nonfinite++ == 0) first_nonfinite = i;
            continue;
        }
        const double e = (a == r) ? 0.0 : std::fabs(a - r);  // a == r also covers equal infinities
        err2 += e * e;
        ref2 += r * r;
        const double b = bound + tol.rel_per_element * std::fabs(r) + term_bound(i);
        if (e > b) ++over;
        if (e - b > worst_excess) {
            worst_excess = e - b;
            worst = i;
        }
    }
    const double rel = ref2 > 0.0 ? std::sqrt(err2 / ref2) : (err2 > 0.0 ? INFINITY : 0.0);
    const double rel_limit = tol.rel_l2 + (ref2 > 0.0 ? std::sqrt(terms2 / ref2) : 0.0);

    auto describe = [&](::testing::AssertionResult res) {
        res << "\n  shape " << shape_str(shape) << ", reduction length " << reduction_len
            << ", max|ref| = " << max_ref;
        if (nonfinite)
            res << "\n  " << nonfinite << " non-finite element(s); first at "
                << index_str(shape, first_nonfinite) << ": actual " << static_cast<double>(actual[first_nonfinite])
                << ", expected " << ref[static_cast<size_t>(first_nonfinite)];
        if (worst >= 0) {
            const double a = actual[worst], r = ref[static_cast<size_t>(worst)];
            res << "\n  worst element " << index_str(shape, worst) << ": actual " << a << ", expected "
                << ::testing::PrintToString(r) << ", |error| = " << std::fabs(a - r)
                << ", bound = " << bound + tol.rel_per_element * std::fabs(r) << " (" << over
                << " element(s) over the bound)";
        }
        res << "\n  relative L2 error = " << rel << " (limit " << rel_limit << ")";
        return res;
    };
    if (nonfinite > 0 || over > 0 || rel > rel_limit)
        return describe(::testing::AssertionFailure() << "result does not match the reference");
    return ::testing::AssertionSuccess();
}

template <typename T>
::testing::AssertionResult matches_reference(const std::vector<T> &actual,
                                                    const std::vector<double> &ref,
                                                    const std::vector<int64_t> &shape,
                                                    int64_t reduction_len,
                                                    const Tolerance &tol = Tolerance{}) {
    if (static_cast<int64_t>(actual.size()) != numel(shape))
        return ::testing::AssertionFailure()
               << "actual has " << actual.size() << " elements, shape " << shape_str(shape)
               << " has " << numel(shape);
    return matches_reference(actual.data(), ref, shape, reduction_len, tol);
}

// ---- the dtype as a test parameter -------------------------------------------
// A dtype-parameterised suite runs over all_dtypes() (the build's list,
// dcn/lists.inc): a dtype added to the list runs in every such suite with
// no test edits. Inputs are made as float32 values, rounded to the dtype
// (round_to) before the reference sees them; the tolerance follows the
// dtype (tolerance_for).

inline std::vector<dcn::DType> all_dtypes() {
    return {
#define DCN_DTYPE(name, ctype) dcn::DType::name,
#include "dcn/lists.inc"
#undef DCN_DTYPE
    };
}

// The unit roundoff of a dtype (round to nearest).
inline double unit_roundoff(dcn::DType t) {
    switch (t) {
    case dcn::DType::float32: return std::ldexp(1.0, -24);
    case dcn::DType::float64: return std::ldexp(1.0, -53);
    case dcn::DType::bfloat16: return std::ldexp(1.0, -8);
    case dcn::DType::float16: return std::ldexp(1.0, -11);
    }
    return 1.0;
}

inline bool is_storage16(dcn::DType t) { return t == dcn::DType::bfloat16 || t == dcn::DType::float16; }

// v as the dtype holds it (float32 and float64 hold every float exactly).
inline float round_to(dcn::DType t, float v) {
    if (t == dcn::DType::bfloat16) return dcn::bfloat16_t::from_float(v).to_float();
    if (t == dcn::DType::float16) return dcn::float16_t::from_float(v).to_float();
    return v;
}

// Whether T is a 16-bit storage type of the public API.
template <typename T>
constexpr bool is_storage16_v = std::is_same_v<T, dcn::bfloat16_t> || std::is_same_v<T, dcn::float16_t>;

// float32 data as T (a 16-bit T: rounded to nearest even).
template <typename T>
std::vector<T> as(const std::vector<float> &v) {
    if constexpr (is_storage16_v<T>) {
        std::vector<T> h(v.size());
        for (size_t i = 0; i < v.size(); ++i) h[i] = T::from_float(v[i]);
        return h;
    } else {
        return std::vector<T>(v.begin(), v.end());
    }
}

// v rounded to the 16-bit type H; a 16-bit vector as float (exact).
template <typename H>
float round_to(float v) {
    return H::from_float(v).to_float();
}

template <typename H>
std::vector<float> to_float(const std::vector<H> &h) {
    std::vector<float> f(h.size());
    for (size_t i = 0; i < h.size(); ++i) f[i] = h[i].to_float();
    return f;
}

// The tolerance of a result in dtype t, from the float32 tolerance of the
// case: float32 as is; float64 exact where float32 is, else
// Tolerance::float64(); 16-bit: the float32 bound plus the rounding of each
// result (Tolerance::storage16's reasoning).
inline Tolerance tolerance_for(dcn::DType t, const Tolerance &f32) {
    if (t == dcn::DType::float64) return f32.rel_l2 == 0.0 ? Tolerance::exact() : Tolerance::float64();
    if (!is_storage16(t)) return f32;
    return f32.with_rounding(unit_roundoff(t));
}

// Whether kernels on `isa` round the values they compute for a GEMM (the
// sampled columns) to `dtype`: bfloat16 on a path with the bf16
// dot-product instruction (Halide's avx512_zen4 / avx512_sapphirerapids
// features, dcn::gemm_operand_type in generators/common.h), read from the
// path's target.
inline bool rounds_gemm_operands(dcn::CpuIsa isa, dcn::DType dtype) {
    if (dtype != dcn::DType::bfloat16) return false;
    const std::vector<std::string> targets = dcn::build_info().cpu_targets;
    const std::string &t = targets.at(static_cast<size_t>(isa));
    return t.find("avx512_zen4") != std::string::npos || t.find("avx512_sapphirerapids") != std::string::npos;
}

// A tensor's data stored in a dtype.
struct Stored {
    dcn::DType dtype = dcn::DType::float32;
    std::vector<unsigned char> bytes;

    Stored() = default;
    Stored(const std::vector<float> &v, dcn::DType t) : dtype(t), bytes(std::max<size_t>(v.size(), 1) * dcn::dtype_size(t)) {
        for (size_t i = 0; i < v.size(); ++i) set(i, v[i]);
    }
    // n elements of NaN (so that an element a kernel does not write fails).
    static Stored poisoned(size_t n, dcn::DType t) {
        return Stored(std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()), t);
    }
    size_t size() const { return bytes.size() / dcn::dtype_size(dtype); }
    void set(size_t i, float v) {
        unsigned char *p = bytes.data() + i * dcn::dtype_size(dtype);
        dcn::visit_dtype(dtype, [&](auto t) {
            const auto e = dcn::element_from_float<decltype(t)>(v);
            std::memcpy(p, &e, sizeof e);
        });
    }
    double get(size_t i) const {
        const unsigned char *p = bytes.data() + i * dcn::dtype_size(dtype);
        return dcn::visit_dtype(dtype, [&](auto t) {
            std::memcpy(&t, p, sizeof t);
            return dcn::element_to_double(t);
        });
    }
    // The first n elements as double.
    std::vector<double> values(size_t n) const {
        std::vector<double> v(n);
        for (size_t i = 0; i < n; ++i) v[i] = get(i);
        return v;
    }
    dcn::TensorView view(const std::vector<int64_t> &shape) {
        dcn::TensorView t;
        t.data = bytes.data();
        t.shape = shape;
        t.dtype = dtype;
        return t;
    }
};

// Bitwise equality of two results (float32, or any dtype widened exactly
// to double; e.g. the same problem run with different thread counts); NaN
// never passes.
template <typename F>
::testing::AssertionResult bitwise_equal(const std::vector<F> &a, const std::vector<F> &b,
                                         const std::vector<int64_t> &shape) {
    static_assert(std::is_floating_point_v<F>);
    if (a.size() != b.size())
        return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
    int64_t diff = 0, first = -1;
    for (size_t i = 0; i < a.size(); ++i) {
        const bool same = !std::isnan(a[i]) && !std::isnan(b[i]) &&
                          std::memcmp(&a[i], &b[i], sizeof(F)) == 0;
        if (!same && diff++ == 0) first = static_cast<int64_t>(i);
    }
    if (diff == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << diff << " element(s) differ; first at " << index_str(shape, first) << ": "
           << ::testing::PrintToString(a[static_cast<size_t>(first)]) << " vs "
           << ::testing::PrintToString(b[static_cast<size_t>(first)]);
}

}  // namespace dcn_test
