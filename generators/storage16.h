// Conversions of 16-bit float storage that dcn does itself, as lowering
// passes, where Halide's own would be wrong or cannot be compiled:
//
// * GPU kernels. Halide's OpenCL backend prints every 16-bit float as
//   `half`, which OpenCL C accepts only with the cl_khr_fp16 extension
//   (Halide's CLHalf feature), and it has no bfloat16 type at all; its PTX
//   backend stops on an LLVM assertion (an invalid cast) for bfloat16.
//   dcn's 16-bit kernels only store in 16 bits: every value is converted to
//   float32 where it is read and back where it is written (generators:
//   `cast(t, ...)` / `cast(dtype, ...)`). So the kernels need no 16-bit
//   arithmetic, only the conversions, and BitsInGpuKernels rewrites each
//   GPU kernel (OpenCL and CUDA alike, so that PoCL tests the conversions
//   the CUDA kernels run) to hold its 16-bit values as their bits (uint16)
//   and to convert them with integer operations:
//     - loads, stores, lets, selects, shared allocations of float16 /
//       bfloat16 become uint16 of the same lanes;
//     - a cast from 16 bits to float32 becomes the exact widening;
//     - a cast to 16 bits is `narrow` below;
//     - any 16-bit arithmetic left is a generator error, not a miscompile.
//   Every step is integer arithmetic (but the exact m * 2^-24 of a float16
//   subnormal), so no compiler option (fast or relaxed math, denormals
//   flushed) changes a result. Host code is not touched: the kernel
//   receives the same memory, typed uint16.
// * float16 on x86 paths without F16C (sse41, baseline). Halide 21 narrows
//   float32 to float16 in software there (EmulateFloat16Math.cpp,
//   float32_to_float16), testing "is Inf" (>= 65536) before "is NaN", so a
//   NaN becomes Inf: NarrowFloat16 replaces those casts with `narrow`.
//   (Its widening is right, and the F16C paths use vcvtps2ph.)
//
// `narrow` rounds to nearest even, keeps Inf, overflows to Inf (float16:
// from 65520, halfway past the largest finite 65504), keeps NaN a quiet NaN
// of the same sign and rounds float16's subnormals exactly: what the F16C
// paths and the public dcn::float16_t / bfloat16_t conversions do
// (tests/test_storage16.cpp checks every pattern on every path and device).
#pragma once

#include <string>

#include "Halide.h"

namespace dcn {

namespace storage16_detail {

using namespace Halide;
using namespace Halide::Internal;

inline bool is_float16ish(const Type &t) { return t.is_float() && t.bits() == 16; }
inline Type bits_type(const Type &t) { return UInt(16, t.lanes()); }
inline Expr u32(const Expr &e, uint32_t v) { return make_const(UInt(32, e.type().lanes()), v); }

// The float32 a bfloat16 / float16 holds, from its bits (uint16 lanes).
inline Expr widen(const Expr &bits, const Type &from) {
    const int L = bits.type().lanes();
    const Expr h = cast(UInt(32, L), bits);
    if (from.is_bfloat()) return reinterpret(Float(32, L), h << u32(h, 16));
    // float16: sign, 5 exponent bits (bias 15), 10 mantissa bits.
    const Expr sign = (h & u32(h, 0x8000)) << u32(h, 16);
    const Expr e = (h >> u32(h, 10)) & u32(h, 0x1f);
    const Expr m = h & u32(h, 0x3ff);
    const Expr normal = ((e + u32(h, 127 - 15)) << u32(h, 23)) | (m << u32(h, 13));
    const Expr special = u32(h, 0x7f800000) | (m << u32(h, 13));  // Inf, NaN (payload kept)
    // Subnormal: m * 2^-24, exact in float32 (m < 2^10).
    const Expr sub = reinterpret(UInt(32, L), cast(Float(32, L), m) * make_const(Float(32, L), 1.0 / 16777216.0));
    const Expr mag = select(e == u32(h, 0), sub, select(e == u32(h, 31), special, normal));
    return reinterpret(Float(32, L), sign | mag);
}

// The bits of the 16-bit `to` nearest (ties to even) to float32 `f`.
inline Expr narrow(const Expr &f, const Type &to) {
    const int L = f.type().lanes();
    const Expr u = reinterpret(UInt(32, L), f);
    const Expr a = u & u32(u, 0x7fffffff);  // magnitude
    const Expr is_nan = a > u32(u, 0x7f800000);
    if (to.is_bfloat()) {
        const Expr rounded = (u + u32(u, 0x7fff) + ((u >> u32(u, 16)) & u32(u, 1))) >> u32(u, 16);
        const Expr quiet_nan = (u >> u32(u, 16)) | u32(u, 0x40);
        return cast(UInt(16, L), select(is_nan, quiet_nan, rounded));
    }
    const Expr sign = (u >> u32(u, 16)) & u32(u, 0x8000);
    // Normal float16 (|f| >= 2^-14): drop 13 mantissa bits, ties to even;
    // a carry out of the mantissa moves to the next binade (or to Inf),
    // which is the correct rounding.
    const Expr normal = (a - u32(u, (127 - 15) << 23) + u32(u, 0xfff) + ((a >> u32(u, 13)) & u32(u, 1))) >> u32(u, 13);
    // Subnormal float16 (|f| < 2^-14): the value in units of 2^-24 is
    // mantissa * 2^(e - 126), rounded to an integer, ties to even; a value
    // below 2^-25 (and every float32 subnormal) rounds to zero.
    const Expr e = a >> u32(u, 23);
    const Expr mant = (a & u32(u, 0x7fffff)) | u32(u, 0x800000);
    const Expr shift = u32(u, 126) - min(e, u32(u, 126));
    const Expr s = min(shift, u32(u, 25));  // 25: below half the smallest subnormal
    const Expr q = mant >> s;
    const Expr rem = mant & ((u32(u, 1) << s) - u32(u, 1));
    const Expr half = u32(u, 1) << (s - u32(u, 1));
    const Expr up = (rem > half) || (rem == half && (q & u32(u, 1)) == u32(u, 1));
    const Expr subnormal = select(shift > u32(u, 24), u32(u, 0), q + select(up, u32(u, 1), u32(u, 0)));
    // 0x477ff000 = 65520, halfway from 65504 (the largest float16) to 2^16:
    // it and everything above round to Inf.
    const Expr mag = select(is_nan, u32(u, 0x7e00),
                            select(a >= u32(u, 0x477ff000), u32(u, 0x7c00),
                                   select(a < u32(u, 0x38800000), subnormal, normal)));
    return cast(UInt(16, L), sign | mag);
}

class BitsInGpuKernels : public IRMutator {
    using IRMutator::visit;
    int in_kernel = 0;

    Stmt visit(const For *op) override {
        const bool kernel = op->device_api == DeviceAPI::OpenCL || op->device_api == DeviceAPI::CUDA;
        in_kernel += kernel;
        Stmt s = IRMutator::visit(op);
        in_kernel -= kernel;
        return s;
    }
    Expr visit(const Load *op) override {
        if (!in_kernel || !is_float16ish(op->type)) return IRMutator::visit(op);
        return Load::make(bits_type(op->type), op->name, mutate(op->index), op->image, op->param,
                          mutate(op->predicate), op->alignment);
    }
    Expr visit(const Variable *op) override {
        if (!in_kernel || !is_float16ish(op->type)) return op;
        return Variable::make(bits_type(op->type), op->name, op->image, op->param, op->reduction_domain);
    }
    Expr visit(const FloatImm *op) override {
        if (!in_kernel || !is_float16ish(op->type)) return op;
        const uint16_t b = op->type.is_bfloat() ? bfloat16_t(op->value).to_bits() : float16_t(op->value).to_bits();
        return make_const(UInt(16), b);
    }
    Expr visit(const Cast *op) override {
        const Type from = op->value.type(), to = op->type;
        if (!in_kernel || !(is_float16ish(from) || is_float16ish(to))) return IRMutator::visit(op);
        Expr v = mutate(op->value);
        if (is_float16ish(from)) {
            if (from == to) return v;
            v = widen(v, from);  // float32
        }
        if (!is_float16ish(to)) return v.type() == to ? v : Cast::make(to, v);
        if (v.type() != Float(32, to.lanes())) v = Cast::make(Float(32, to.lanes()), v);
        return narrow(v, to);
    }
    Expr visit(const Reinterpret *op) override {
        const Type from = op->value.type(), to = op->type;
        if (!in_kernel || !(is_float16ish(from) || is_float16ish(to))) return IRMutator::visit(op);
        const Expr v = mutate(op->value);  // bits when `from` was a 16-bit float
        const Type want = is_float16ish(to) ? bits_type(to) : to;
        return v.type() == want ? v : Reinterpret::make(want, v);
    }
    Expr visit(const Call *op) override {
        const bool result16 = is_float16ish(op->type);
        if (!in_kernel || !result16) return IRMutator::visit(op);
        // Intrinsics that only pass a value through keep working on bits.
        static const Call::IntrinsicOp passthrough[] = {Call::likely, Call::likely_if_innermost, Call::if_then_else,
                                                        Call::promise_clamped, Call::unsafe_promise_clamped,
                                                        Call::return_second};
        bool ok = false;
        for (Call::IntrinsicOp i : passthrough) ok = ok || op->is_intrinsic(i);
        _halide_user_assert(ok) << "dcn: a GPU kernel computes in 16-bit floats (" << Expr(op)
                        << "); dcn's kernels only store in 16 bits (generators/storage16.h)";
        std::vector<Expr> args;
        for (const Expr &a : op->args) args.push_back(mutate(a));
        return Call::make(bits_type(op->type), op->name, args, op->call_type, op->func, op->value_index,
                          op->image, op->param);
    }
    Stmt visit(const Allocate *op) override {
        if (!in_kernel || !is_float16ish(op->type)) return IRMutator::visit(op);
        std::vector<Expr> extents;
        for (const Expr &e : op->extents) extents.push_back(mutate(e));
        return Allocate::make(op->name, bits_type(op->type), op->memory_type, extents, mutate(op->condition),
                              mutate(op->body), op->new_expr.defined() ? mutate(op->new_expr) : Expr(),
                              op->free_function, op->padding);
    }

    // 16-bit arithmetic or comparisons would silently become integer ones.
    template<typename Op>
    Expr refuse_16bit(const Op *op) {
        _halide_user_assert(!in_kernel || !is_float16ish(op->a.type()))
            << "dcn: a GPU kernel computes in 16-bit floats (" << Expr(op)
            << "); dcn's kernels only store in 16 bits (generators/storage16.h)";
        return IRMutator::visit(op);
    }
    Expr visit(const Add *op) override { return refuse_16bit(op); }
    Expr visit(const Sub *op) override { return refuse_16bit(op); }
    Expr visit(const Mul *op) override { return refuse_16bit(op); }
    Expr visit(const Div *op) override { return refuse_16bit(op); }
    Expr visit(const Mod *op) override { return refuse_16bit(op); }
    Expr visit(const Min *op) override { return refuse_16bit(op); }
    Expr visit(const Max *op) override { return refuse_16bit(op); }
    Expr visit(const EQ *op) override { return refuse_16bit(op); }
    Expr visit(const NE *op) override { return refuse_16bit(op); }
    Expr visit(const LT *op) override { return refuse_16bit(op); }
    Expr visit(const LE *op) override { return refuse_16bit(op); }
    Expr visit(const GT *op) override { return refuse_16bit(op); }
    Expr visit(const GE *op) override { return refuse_16bit(op); }
};

// Casts to float16 on a CPU target without F16C, as `narrow` of float32.
class NarrowFloat16 : public IRMutator {
    using IRMutator::visit;
    Expr visit(const Cast *op) override {
        if (op->type.code() != Type::Float || op->type.bits() != 16) return IRMutator::visit(op);
        Expr v = mutate(op->value);
        const Type f32 = Float(32, op->type.lanes());
        if (v.type() != f32) v = Cast::make(f32, v);
        return Reinterpret::make(op->type, narrow(v, op->type));
    }
};

}  // namespace storage16_detail

// Adds the passes a 16-bit generator's pipeline needs on `target`: a GPU
// target (OpenCL with or without CLHalf, CUDA); float16 on an x86 target
// without F16C. Call it from the generator's schedule(): get_pipeline()
// exists from then on.
inline void add_storage16_passes(Halide::Pipeline pipeline, const Halide::Target &target, const Halide::Type &dtype) {
    if (dtype.bits() != 16) return;
    if (target.has_feature(Halide::Target::OpenCL) || target.has_feature(Halide::Target::CUDA))
        pipeline.add_custom_lowering_pass(new storage16_detail::BitsInGpuKernels);
    else if (dtype.code() == Halide::Type::Float && target.arch == Halide::Target::X86 &&
             !target.has_feature(Halide::Target::F16C))
        pipeline.add_custom_lowering_pass(new storage16_detail::NarrowFloat16);
}

}  // namespace dcn
