// deform_conv2d_grad_columns: the data gradients' GEMM of deform_conv2d's
// GPU path (a GPU stage, cmake/DcnRegistry.cmake) where cuBLASLt is not
// used (OpenCL, so that PoCL tests it; CUDA without cuBLASLt): per image
// and group, grad_columns (C/groups * taps, oH*oW) = weight^T x
// grad_output, in the compute type, read by deform_conv2d_col2im:
//   grad_columns[n, c, k, p] = sum_{o in c's group} weight[o, c', k] * grad_out[n, o, p]
// (c' = c % (C/groups)).
//
// Halide dimensions are innermost first: weight (k, c', o) (taps
// flattened), grad_output (p, o, n), grad_columns (p, k, ci, g, n) with
// c = g * C/G + ci.

#include "Halide.h"
#include "common.h"
#include "dcn/limits.h"
#include "storage16.h"
#include "cuda/deform_conv2d_gpu_gradients.h"

namespace {

using namespace Halide;

class DeformConv2dGradColumnsGenerator : public Generator<DeformConv2dGradColumnsGenerator> {
public:
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 3>> weight{"weight"};            // (taps, C/groups, K)
    Input<Buffer<void, 3>> grad_output{"grad_output"};  // (oH*oW, K, N)
    Input<int> groups{"groups", 1, 1, dcn::kMaxConvParameter};
    Output<Buffer<void, 5>> grad_columns{"grad_columns"};  // (oH*oW, taps, C/G, G, N), compute type

    void configure() {
        const Type t = dcn::compute_type(dtype, accum, true);
        weight.set_type(dtype);
        grad_output.set_type(dtype);
        grad_columns.set_type(t);
    }

    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        _halide_user_assert(get_target().has_gpu_feature()) << "deform_conv2d_grad_columns is a GPU stage";
        const Type t = dcn::compute_type(dtype, accum, true);
        dcn::GradColumnsStages s;
        const Var &p = s.p, &k = s.k, &ci = s.ci, &g = s.g, &n = s.n;
        Expr Cg = weight.dim(1).extent(), K = weight.dim(2).extent();
        Expr P = grad_output.dim(0).extent();
        Expr Cpg = grad_columns.dim(2).extent(), G = grad_columns.dim(3).extent();
        Expr C = Cpg * G, Kg = K / groups;
        // Whole thread tiles past the last pixel or channel: reads clamped.
        Expr c = clamp(g * Cpg + ci, 0, C - 1);
        Expr grp = select(groups == 1, 0, c / max(Cg, 1)), cw = select(groups == 1, c, c % max(Cg, 1));
        s.r = RDom(0, Kg, "r");
        Expr o = grp * Kg + s.r;
        s.sum(p, k, ci, g, n) = Internal::make_zero(t);
        s.sum(p, k, ci, g, n) += cast(t, weight(k, cw, o)) * cast(t, grad_output(clamp(p, 0, P - 1), o, n));
        grad_columns(p, k, ci, g, n) = s.sum(p, k, ci, g, n);
        s.output = grad_columns;
        s.groups = groups;
        dcn::schedule_grad_columns_gpu(s);
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dGradColumnsGenerator, deform_conv2d_grad_columns)
