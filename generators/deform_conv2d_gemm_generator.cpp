// deform_conv2d_gemm: the GEMM of deform_conv2d's GPU path (a GPU stage,
// cmake/DcnRegistry.cmake) where cuBLASLt is not used: on OpenCL (so that
// PoCL tests every GPU kernel dcn writes), and on CUDA when cuBLASLt does
// not load. Per image and group: output (K/groups, oH*oW) = bias + weight
// (K/groups, C/groups * taps) x columns (C/groups * taps, oH*oW), the
// columns from deform_conv2d_columns.
//
// Halide dimensions are innermost first: columns (p, k, ci, g, n) as the
// columns stage writes them, weight (k, c, o) (the weight tensor with its
// kH x kW taps flattened), output (p, o, n) (pixels flattened).

#include "Halide.h"
#include "common.h"
#include "dcn/limits.h"
#include "storage16.h"
#include "cuda/deform_conv2d_gemm.h"

namespace {

using namespace Halide;

class DeformConv2dGemmGenerator : public Generator<DeformConv2dGemmGenerator> {
public:
    GeneratorParam<bool> with_bias{"with_bias", false};
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 5>> columns{"columns"};  // (oH*oW, taps, C/G, G, N)
    Input<Buffer<void, 3>> weight{"weight"};    // (taps, C/groups, K)
    Input<int> groups{"groups", 1, 1, dcn::kMaxConvParameter};
    Output<Buffer<void, 3>> output{"output"};   // (oH*oW, K, N)

    Input<Buffer<>> *bias = nullptr;  // 1-D (K)

    void configure() {
        dcn::compute_type(dtype, accum, true);
        columns.set_type(dtype);
        weight.set_type(dtype);
        output.set_type(dtype);
        if (with_bias) bias = add_input<Buffer<>>("bias", dtype, 1);
    }

    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        _halide_user_assert(get_target().has_gpu_feature())
            << "deform_conv2d_gemm is a GPU stage; the CPU kernel has its own GEMM";
        const Type t = dcn::compute_type(dtype, accum, true);
        dcn::DeformConv2dGemmStages s;
        const Var &p = s.p, &o = s.o, &n = s.n, &k = s.k, &c = s.c;

        Expr taps = weight.dim(0).extent(), Cg = weight.dim(1).extent(), K = weight.dim(2).extent();
        Expr Cpg = columns.dim(2).extent(), G = columns.dim(3).extent();
        Expr outputs_per_group = K / groups;
        Expr one_group = groups == 1;

        // The operands in the compute type, indices clamped: a schedule
        // computes whole tiles past the last pixel, channel or output.
        Expr pc = min(p, columns.dim(0).extent() - 1);
        s.column(p, k, c, s.g, n) = cast(t, columns(pc, k, min(c, Cpg - 1), s.g, n));
        s.weight(k, c, o) = cast(t, weight(k, min(c, Cg - 1), min(o, K - 1)));

        // The reduction over (input channel, tap). One group: over
        // (channel within the offset group, offset group, tap), no division.
        // Several groups: over the group's channels, each one's offset group
        // found by division (rare in practice).
        s.r = RDom({{0, select(one_group, Cpg, Cg)}, {0, select(one_group, G, 1)}, {0, taps}}, "r");
        s.r_ch = s.r[0];
        s.r_og = s.r[1];
        s.r_tap = s.r[2];
        Expr o_c = min(o, K - 1);
        Expr c_grouped = (o_c / max(outputs_per_group, 1)) * Cg + s.r_ch;  // input channel, several groups
        Expr col_ci = select(one_group, s.r_ch, c_grouped % max(Cpg, 1));
        Expr col_g = select(one_group, s.r_og, clamp(c_grouped / max(Cpg, 1), 0, G - 1));
        Expr w_c = select(one_group, s.r_og * Cpg + s.r_ch, s.r_ch);
        s.accum(o, p, n) = with_bias ? cast(t, (*bias)(o_c)) : Internal::make_zero(t);
        s.accum(o, p, n) += s.weight(s.r_tap, w_c, o) * s.column(p, s.r_tap, col_ci, col_g, n);
        output(p, o, n) = cast(Type(dtype), s.accum(o, p, n));
        s.output = output;
        s.groups = groups;
        s.offset_groups = G;
        dcn::schedule_deform_conv2d_gemm_gpu(s, dcn::deform_conv2d_gemm_gpu_params(dtype));
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dGemmGenerator, deform_conv2d_gemm)
