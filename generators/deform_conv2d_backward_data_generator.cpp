// deform_conv2d's data gradients on the CPU: grad_input, grad_offset and
// (DCNv2) grad_mask from grad_output, exactly docs/operators.md (Gradients)
// (torchvision's backward). Only the algorithm lives here; the schedule is
// in schedules/cpu/deform_conv2d_backward.h. On a GPU the data gradients
// are two stages instead: grad_columns (cuBLASLt, or
// deform_conv2d_grad_columns), then deform_conv2d_col2im.
//
// With value(c) the bilinear sample of channel c at the tap's point (y, x)
// and m the mask (1 without one), the forward is
//   out[o, p] = sum_{c in o's group, k} W[o, c, k] * m * value(c).
// So, with grad_columns[c, k, p] = sum_o W[o, c, k] * grad_out[o, p]:
//   grad_input   += m * (bilinear weight of each corner) * grad_columns
//                   (a scatter into the four corners),
//   grad_offset_y = m * sum_{c in the offset group} grad_columns * d value/dy
//   grad_offset_x = m * sum_c grad_columns * d value/dx,
//   grad_mask     =     sum_c grad_columns * value,
// where d value/dy is the derivative of the zero-exterior bilinear sample
// with floor() choosing the cell (one-sided from above at an integer y).
// It is non-zero only for -1 <= y < H and -1 <= x < W.
//
// The call covers whatever images its buffers hold; the runtime passes one
// image at a time (grad_columns, C*kH*kW*oH*oW values, is made per call).

#include "Halide.h"
#include "common.h"
#include "storage16.h"
#include "cpu/deform_conv2d_backward.h"
#include "stages/deform_conv2d_backward.h"
#include "deform_conv2d_data_gradients.h"
#include "deform_conv2d_inputs.h"
#include "deform_conv2d_sampling.h"

namespace {

using namespace Halide;

class DeformConv2dBackwardDataGenerator : public Generator<DeformConv2dBackwardDataGenerator> {
public:
    GeneratorParam<bool> with_mask{"with_mask", false};
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    // The type the kernel computes in (dcn::compute_type; the list's ACCUM).
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 4>> input{"input"};              // (W, H, C, N)
    Input<Buffer<void, 4>> offset{"offset"};            // (oW, oH, 2*G*kH*kW, N)
    Input<Buffer<void, 4>> weight{"weight"};            // (kW, kH, C/groups, K)
    Input<Buffer<void, 4>> grad_output{"grad_output"};  // (oW, oH, K, N)
    dcn::DeformConv2dGeometryInputs conv;  // stride, padding, dilation, groups, offset groups
    // (W, H, C/G, G, N): the NCHW gradient with its channels split by
    // offset group (each group's scatter shares its sample points). A
    // buffer with a zero extent asks for no grad_input.
    Output<Buffer<void, 5>> grad_input{"grad_input"};
    // (oW, oH, 2*G*kH*kW, N); a zero extent asks for none.
    Output<Buffer<void, 4>> grad_offset{"grad_offset"};

    Input<Buffer<>> *mask = nullptr;         // (oW, oH, G*kH*kW, N)
    Output<Buffer<>> *grad_mask = nullptr;   // (oW, oH, G*kH*kW, N)

    void configure() {
        dcn::compute_type(dtype, accum, true);
        for (auto *b : {&input, &offset, &weight, &grad_output}) b->set_type(dtype);
        grad_input.set_type(dtype);
        grad_offset.set_type(dtype);
        if (with_mask) {
            mask = add_input<Buffer<>>("mask", dtype, 4);
            grad_mask = add_output<Buffer<>>("grad_mask", dtype, 4);
        }
    }

    // After generate(): dcn's own 16-bit conversions where Halide's fail (storage16.h).
    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        dcn::DeformConv2dBackwardDataStages s;
        // Storage in `dtype`, arithmetic in t (float32 for 16-bit storage):
        // reads converted where staged, each gradient converted once.
        const Type t = dcn::compute_type(dtype, accum, true);
        const Type st = dtype;
        s.type = t;
        s.with_mask = with_mask;
        const Var &p = s.p, &o = s.o, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &g = s.g, &ci = s.ci,
                  &cw = s.cw;
        const Expr zero = Internal::make_zero(t);

        Expr W = input.dim(0).extent(), H = input.dim(1).extent(), C = input.dim(2).extent();
        Expr kW = weight.dim(0).extent(), kH = weight.dim(1).extent();
        Expr Cg = weight.dim(2).extent(), K = weight.dim(3).extent();
        Expr taps = kH * kW;
        Expr oW = offset.dim(0).extent(), oH = offset.dim(1).extent();
        Expr P = oW * oH;
        Expr cpg = C / conv.offset_groups;        // channels per offset group
        Expr Kg = K / conv.groups;                // output channels per group

        _halide_user_assert(!get_target().has_gpu_feature())
            << "deform_conv2d's GPU data gradients are grad_columns + deform_conv2d_col2im (cmake/DcnRegistry.cmake)";
        // The GEMM's operand type and pairing (bfloat16 pairs of output
        // channels on the AVX512-BF16 path: both operands are stored
        // inputs, so nothing is rounded).
        const Type gt = dcn::gemm_operand_type(get_target(), dtype, t);
        const int R = dcn::gemm_pair(gt);
        s.pair = R;
        const dcn::DeformConv2dBackwardDataTile tile = dcn::deform_conv2d_backward_data_cpu_tile(get_target(), t, R);
        Expr Kg_pairs = R == 1 ? Kg : (Kg + (R - 1)) / R;
        const Var &ib = s.in_blk, &bk = s.blk;
        {
            // gy(ib, o, bk, n): with pairs ib = 2*(pixel in block) + lane,
            // o = pair of the group-padded output channels, the padding 0.
            Expr pq = clamp(bk * tile.pixels + (R == 1 ? Expr(ib) : ib / R), 0, P - 1);
            Expr oq = clamp(o, 0, K - 1), real = Internal::const_true();
            if (R > 1) {
                Expr padded = o * R + ib % R, Kg_pad = Kg_pairs * R;
                real = padded % Kg_pad < Kg;
                oq = clamp((padded / Kg_pad) * Kg + padded % Kg_pad, 0, K - 1);
            }
            Expr v = cast(gt, grad_output(pq % oW, pq / oW, oq, n));
            s.gy(ib, o, bk, n) = R == 1 ? v : select(real, v, Internal::make_zero(gt));
        }
        {
            // weight_t(ib, o, k, bk, g): with pairs ib = 2*(channel in
            // block) + lane, o = pair of the group's output channels.
            Expr cq = clamp(g * cpg + bk * tile.channels + (R == 1 ? Expr(ib) : ib / R), 0, C - 1);
            // The channel's group and its channel within it, written so that
            // one group (Cg = C) needs no division (a vector division per
            // value made this packing 8x slower; the schedule specialises).
            Expr grp_q = select(conv.groups == 1, 0, cq / Cg);
            Expr cw_q = select(conv.groups == 1, cq, cq % Cg);
            Expr ow = R == 1 ? Expr(o) : o * R + ib % R;
            Expr v = cast(gt, weight(k % kW, k / kW, cw_q, clamp(grp_q * Kg + ow, 0, K - 1)));
            s.weight_t(ib, o, k, bk, g) = R == 1 ? v : select(ow < Kg, v, Internal::make_zero(gt));
        }

        // grad_columns: the group's output channels o = grp*Kg + r of input
        // channel c = g*cpg + ci (grp = c / Cg). A schedule may compute whole
        // register tiles past the group's last channel or the last pixel:
        // weight_t and gy clamp their reads.
        Expr grp = select(conv.groups == 1, 0, clamp(g * cpg + ci, 0, C - 1) / Cg);
        s.rg = R == 1 ? RDom(0, Kg, "rg") : RDom(0, R, 0, Kg_pairs, "rg");
        if (R > 1) s.rg_lane = s.rg.x;
        s.rg_o = R == 1 ? s.rg.x : s.rg.y;
        Expr w_lane = R == 1 ? ci % tile.channels : (ci % tile.channels) * R + s.rg_lane;
        Expr g_lane = R == 1 ? p % tile.pixels : (p % tile.pixels) * R + s.rg_lane;
        s.grad_columns_sum(ci, g, k, p, n) = zero;
        s.grad_columns_sum(ci, g, k, p, n) +=
            cast(t, s.weight_t(w_lane, s.rg_o, k, ci / tile.channels, g)) *
            cast(t, s.gy(g_lane, grp * Kg_pairs + s.rg_o, p / tile.pixels, n));
        s.grad_columns(ci, g, k, p, n) = s.grad_columns_sum(ci, g, k, p, n);

        // Everything from grad_columns on: deform_conv2d_data_gradients.h.
        dcn::DataGradientsIO io;
        io.input_zero = BoundaryConditions::constant_exterior(input, Internal::make_zero(st), {{0, W}, {0, H}});
        io.offset = dcn::deform_conv2d_per_pixel(offset, oW, oH, t, "offset_c");
        if (with_mask) io.mask = dcn::deform_conv2d_per_pixel(*mask, oW, oH, t, "mask_c");
        io.geo = conv.geometry(H, W, kW, taps);
        io.C = C;
        io.oW = oW;
        io.oH = oH;
        io.offset_groups = conv.offset_groups;
        io.storage = st;
        io.grad_input = grad_input;
        io.grad_offset = grad_offset;
        if (with_mask) io.grad_mask = *grad_mask;
        dcn::define_data_gradients(s, io);

        s.groups = conv.groups;
        s.offset_groups = conv.offset_groups;

        dcn::schedule_deform_conv2d_backward_data_cpu(s, get_target());
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dBackwardDataGenerator, deform_conv2d_backward_data)
