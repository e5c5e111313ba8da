// deform_conv2d_grad_weight: the weight gradient's GEMM of deform_conv2d's
// GPU path (a GPU stage, cmake/DcnRegistry.cmake) where cuBLASLt is not
// used: on OpenCL (so that PoCL tests it), and on CUDA when cuBLASLt does
// not load. For one chunk of images,
//   acc[o, c, k] (+)= sum_{n in the chunk, p} grad_out[n, o, p] * columns[n, c', k, p]
// (c' = (o / (K/groups)) * (C/groups) + c, columns from
// deform_conv2d_columns; the chunk's images are grad_output's
// [first_image, first_image + images)), in the compute type (float32 for 16-bit
// storage), added to the previous chunks' sum when `accumulate` is 1:
// chunks in order, each sum in a fixed order, so the result is
// deterministic. deform_conv2d_grad_weight_finish converts it.
//
// Halide dimensions are innermost first: columns (p, k, ci, g, n),
// grad_output (p, o, n), acc and prior (k, c, o).

#include "Halide.h"
#include "common.h"
#include "dcn/limits.h"
#include "storage16.h"
#include "cuda/deform_conv2d_gpu_gradients.h"

namespace {

using namespace Halide;

class DeformConv2dGradWeightGenerator : public Generator<DeformConv2dGradWeightGenerator> {
public:
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 5>> columns{"columns"};          // (oH*oW, taps, C/G, G, N)
    Input<Buffer<void, 3>> grad_output{"grad_output"};  // (oH*oW, K, N)
    Input<Buffer<void, 3>> prior{"grad_weight_prior"};  // (taps, C/groups, K), compute type
    Input<int> groups{"groups", 1, 1, dcn::kMaxConvParameter};
    Input<int> accumulate{"accumulate", 0, 0, 1};
    // The chunk: columns' images [0, images) are grad_output's images
    // [first_image, first_image + images).
    Input<int> first_image{"first_image", 0, 0, 1 << 30};
    Input<int> images{"images", 0, 0, 1 << 30};
    Output<Buffer<void, 3>> acc{"grad_weight_acc"};     // (taps, C/groups, K), compute type

    void configure() {
        const Type t = dcn::compute_type(dtype, accum, true);
        columns.set_type(dtype);
        grad_output.set_type(dtype);
        prior.set_type(t);
        acc.set_type(t);
    }

    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        _halide_user_assert(get_target().has_gpu_feature()) << "deform_conv2d_grad_weight is a GPU stage";
        const Type t = dcn::compute_type(dtype, accum, true);
        dcn::GradWeightStages s;
        const Var &k = s.k, &c = s.c, &o = s.o;
        Expr P = columns.dim(0).extent(), Cpg = columns.dim(2).extent(), G = columns.dim(3).extent();
        Expr Cg = acc.dim(1).extent(), K = acc.dim(2).extent();
        Expr Kg = K / groups;
        // The thread tiles may run past the last channel or output: clamped.
        Expr oc = min(o, K - 1);
        Expr c_in = select(groups == 1, 0, oc / max(Kg, 1)) * Cg + min(c, Cg - 1);  // input channel
        Expr ci = c_in % max(Cpg, 1), g = clamp(c_in / max(Cpg, 1), 0, G - 1);
        s.r = RDom({{0, P}, {0, images}}, "r");
        s.sum(k, c, o) = select(accumulate == 1, prior(k, min(c, Cg - 1), oc), Internal::make_zero(t));
        s.sum(k, c, o) += cast(t, grad_output(s.r.x, oc, s.r.y + first_image)) * cast(t, columns(s.r.x, k, ci, g, s.r.y));
        acc(k, c, o) = s.sum(k, c, o);
        s.output = acc;
        s.groups = groups;
        dcn::schedule_grad_weight_gpu(s);
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dGradWeightGenerator, deform_conv2d_grad_weight)
