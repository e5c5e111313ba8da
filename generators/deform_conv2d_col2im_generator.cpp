// deform_conv2d_col2im: deform_conv2d's data gradients on a GPU after the
// grad_columns GEMM (a GPU stage, cmake/DcnRegistry.cmake): grad_input,
// grad_offset and (DCNv2) grad_mask from grad_columns, the same statement
// as the CPU kernel's (deform_conv2d_data_gradients.h).
//
// Halide dimensions are innermost first: grad_columns (p, k, ci, g, n) in
// the compute type (as cuBLASLt or deform_conv2d_grad_columns write it),
// grad_input (x, y, ci, g, n) (NCHW with the channels split by offset
// group), grad_offset / grad_mask (x, y, ch, n). A chunk's buffers hold its
// images.

#include "Halide.h"
#include "common.h"
#include "storage16.h"
#include "cuda/deform_conv2d_backward.h"
#include "deform_conv2d_data_gradients.h"
#include "deform_conv2d_inputs.h"

namespace {

using namespace Halide;

class DeformConv2dCol2imGenerator : public Generator<DeformConv2dCol2imGenerator> {
public:
    GeneratorParam<bool> with_mask{"with_mask", false};
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 5>> grad_columns{"grad_columns"};  // (oH*oW, taps, C/G, G, N), compute type
    Input<Buffer<void, 4>> input{"input"};                // (W, H, C, N)
    Input<Buffer<void, 4>> offset{"offset"};              // (oW, oH, 2*G*kH*kW, N)
    dcn::DeformConv2dKernelSizeInputs kernel;  // kernel_h: from grad_columns (unused here)
    dcn::DeformConv2dGeometryInputs conv;  // groups: the GEMM's (unused here)
    Output<Buffer<void, 5>> grad_input{"grad_input"};    // (W, H, C/G, G, N)
    Output<Buffer<void, 4>> grad_offset{"grad_offset"};  // (oW, oH, 2*G*kH*kW, N)

    Input<Buffer<>> *mask = nullptr;        // (oW, oH, G*kH*kW, N)
    Output<Buffer<>> *grad_mask = nullptr;  // (oW, oH, G*kH*kW, N)

    void configure() {
        const Type t = dcn::compute_type(dtype, accum, true);
        grad_columns.set_type(t);
        input.set_type(dtype);
        offset.set_type(dtype);
        grad_input.set_type(dtype);
        grad_offset.set_type(dtype);
        if (with_mask) {
            mask = add_input<Buffer<>>("mask", dtype, 4);
            grad_mask = add_output<Buffer<>>("grad_mask", dtype, 4);
        }
    }

    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        _halide_user_assert(get_target().has_gpu_feature()) << "deform_conv2d_col2im is a GPU stage";
        dcn::DeformConv2dBackwardDataStages s;
        const Type t = dcn::compute_type(dtype, accum, true);
        s.type = t;
        s.with_mask = with_mask;
        const Var &p = s.p, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &g = s.g, &ci = s.ci;
        Expr W = input.dim(0).extent(), H = input.dim(1).extent(), C = input.dim(2).extent();
        Expr oW = offset.dim(0).extent(), oH = offset.dim(1).extent();
        Expr taps = grad_columns.dim(1).extent();
        Expr cpg = grad_columns.dim(2).extent();

        // Reads past the last pixel or channel (whole tiles) clamped.
        s.grad_columns(ci, g, k, p, n) =
            grad_columns(clamp(p, 0, oW * oH - 1), k, clamp(ci, 0, cpg - 1), g, n);

        dcn::DataGradientsIO io;
        io.input_zero = BoundaryConditions::constant_exterior(input, Internal::make_zero(Type(dtype)), {{0, W}, {0, H}});
        io.offset = dcn::deform_conv2d_per_pixel(offset, oW, oH, t, "offset_c");
        if (with_mask) io.mask = dcn::deform_conv2d_per_pixel(*mask, oW, oH, t, "mask_c");
        io.geo = conv.geometry(H, W, kernel.kernel_w, taps);
        io.C = C;
        io.oW = oW;
        io.oH = oH;
        io.offset_groups = conv.offset_groups;
        io.storage = dtype;
        io.fixed_point_scatter = true;
        io.grad_input = grad_input;
        io.grad_offset = grad_offset;
        if (with_mask) io.grad_mask = *grad_mask;
        dcn::define_data_gradients(s, io);
        s.groups = Expr(1);
        s.offset_groups = conv.offset_groups;
        dcn::schedule_deform_conv2d_col2im_gpu(s);
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dCol2imGenerator, deform_conv2d_col2im)
