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
    Input<int> kernel_h{"kernel_h", 1, 1, 1 << 20};
    Input<int> kernel_w{"kernel_w", 1, 1, 1 << 20};
    Input<int> stride_y{"stride_y", 1, 1, 1 << 20};
    Input<int> stride_x{"stride_x", 1, 1, 1 << 20};
    Input<int> pad_top{"pad_top", 0, 0, 1 << 20};
    Input<int> pad_left{"pad_left", 0, 0, 1 << 20};
    Input<int> dilation_y{"dilation_y", 1, 1, 1 << 20};
    Input<int> dilation_x{"dilation_x", 1, 1, 1 << 20};
    Input<int> offset_groups{"offset_groups", 1, 1, 1 << 20};
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
        Expr taps = kernel_h * kernel_w;
        Expr channels_per_og = C / offset_groups;

        // Output pixel p is row p / oW, column p % oW (a tile may run past
        // the last pixel: clamped).
        Expr pc = clamp(p, 0, oH * oW - 1);
        Expr py = pc / oW, px = pc % oW;
        Func offset_e = BoundaryConditions::repeat_edge(offset, {{0, oW}, {0, oH}});
        Func offset_c("offset_c");
        {
            Var x("x"), y("y"), ch("ch");
            offset_c(x, y, ch, n) = cast(t, offset_e(x, y, ch, n));
        }
        const dcn::DeformConv2dGeometry geo{stride_y, stride_x, pad_top, pad_left, dilation_y, dilation_x,
                                            H, W, kernel_w, taps};
        const dcn::DeformSamplePoint sp = dcn::deform_conv2d_sample_point(geo, offset_c, py, px, k, g, n, t);
        Expr scale = Internal::make_one(t);
        if (with_mask) {
            Func mask_c = BoundaryConditions::repeat_edge(*mask, {{0, oW}, {0, oH}});
            scale = cast(t, mask_c(px, py, g * taps + k, n));
        }
        // One sample per (pixel, tap, offset group): its corner and its four
        // mask-scaled weights, shared by the offset group's channels.
        Func sample("sample");
        sample(p, k, g, n) = dcn::deform_conv2d_forward_sample(sp, scale);

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
