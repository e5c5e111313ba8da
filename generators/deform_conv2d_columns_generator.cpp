// deform_conv2d_columns: the deformable columns of deform_conv2d's GPU path
// (a GPU stage, cmake/DcnRegistry.cmake): per image, output pixel p, tap k
// and input channel c, the input bilinearly sampled at tap k's deformed
// position, times the mask (docs/operators.md, deform_conv2d), the same
// sample as the CPU kernel's (deform_conv2d_sampling.h). The convolution
// is then a GEMM of the weights (K, C/groups * taps) with these columns
// (C * taps, oH*oW): cuBLASLt on CUDA, deform_conv2d_gemm elsewhere.
//
// Halide dimensions are innermost first. The output is 5-D,
// (p, k, ci, g, n) with c = g * C/offset_groups + ci: in memory exactly the
// (N, C * taps, oH*oW) matrix the GEMM reads (row c*taps + k), split so
// that one thread's channels share one offset group's sample.

#include "Halide.h"
#include "common.h"
#include "storage16.h"
#include "deform_conv2d_inputs.h"
#include "deform_conv2d_sampling.h"
#include "cuda/deform_conv2d_columns.h"

namespace {

using namespace Halide;

class DeformConv2dColumnsGenerator : public Generator<DeformConv2dColumnsGenerator> {
public:
    GeneratorParam<bool> with_mask{"with_mask", false};
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 4>> input{"input"};    // (W, H, C, N)
    Input<Buffer<void, 4>> offset{"offset"};  // (oW, oH, 2*G*kH*kW, N)
    dcn::DeformConv2dKernelSizeInputs kernel;
    dcn::DeformConv2dGeometryInputs conv;  // groups: the GEMM's (unused here)
    // The columns' image n is image first_image + n of the tensors
    // (clamped to the last: a chunk's scratch may hold more images than
    // are left).
    Input<int> first_image{"first_image", 0, 0, 1 << 30};
    // (oH*oW, kH*kW, C/G, G, N)
    Output<Buffer<void, 5>> columns{"columns"};

    Input<Buffer<>> *mask = nullptr;  // 4-D (oW, oH, G*kH*kW, N)

    void configure() {
        dcn::compute_type(dtype, accum, true);
        for (auto *b : {&input, &offset}) b->set_type(dtype);
        columns.set_type(dtype);
        if (with_mask) mask = add_input<Buffer<>>("mask", dtype, 4);
    }

    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        _halide_user_assert(get_target().has_gpu_feature())
            << "deform_conv2d_columns is a GPU stage; the CPU kernel computes its columns itself";
        const Type t = dcn::compute_type(dtype, accum, true);
        Var p("p"), k("k"), ci("ci"), g("g"), n("n");

        Expr W = input.dim(0).extent(), H = input.dim(1).extent(), C = input.dim(2).extent();
        Expr oW = offset.dim(0).extent(), oH = offset.dim(1).extent();
        Expr taps = kernel.kernel_h * kernel.kernel_w;
        Expr channels_per_og = C / conv.offset_groups;

        // Output pixel p is row p / oW, column p % oW (a tile may run past
        // the last pixel: clamped).
        Expr pc = clamp(p, 0, oH * oW - 1);
        Expr py = pc / oW, px = pc % oW;
        Func offset_c = dcn::deform_conv2d_per_pixel(offset, oW, oH, t, "offset_c");
        Func mask_c = with_mask ? dcn::deform_conv2d_per_pixel(*mask, oW, oH, t, "mask_c") : Func();
        // One sample per (pixel, tap, offset group): its corner and its four
        // mask-scaled weights, shared by the offset group's channels.
        Func sample("sample");
        sample(p, k, g, n) = dcn::deform_conv2d_forward_sample_of(conv.geometry(H, W, kernel.kernel_w, taps), offset_c,
                                                                  mask_c, py, px, k, g, n, t);

        // The input with a zero exterior: every corner the sample rule
        // produces lies in [-2, W] x [-2, H] (deform_conv2d_forward_sample).
        Func input_zero = BoundaryConditions::constant_exterior(input, Internal::make_zero(Type(dtype)),
                                                                {{0, W}, {0, H}});
        Func input_cl("input_cl");
        {
            Var x("x"), y("y"), c("c");
            input_cl(c, x, y, n) = cast(t, input_zero(x, y, c, n));
        }
        // A tile may run past the last channel of the offset group: clamped.
        Expr c_in = g * channels_per_og + min(ci, channels_per_og - 1);
        Func image_column("image_column");
        image_column(p, k, ci, g, n) = dcn::deform_conv2d_column(sample(p, k, g, n), input_cl, c_in, n);
        Expr n_in = min(n + first_image, input.dim(3).extent() - 1);
        columns(p, k, ci, g, n) = cast(Type(dtype), image_column(p, k, ci, g, n_in));

        dcn::DeformConv2dColumnsStages s{p, k, ci, g, n, sample, input_cl, offset_c, columns};
        dcn::schedule_deform_conv2d_columns_gpu(s);
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dColumnsGenerator, deform_conv2d_columns)
