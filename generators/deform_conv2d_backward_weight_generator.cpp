// deform_conv2d's weight gradients: grad_weight and grad_bias from
// grad_output, exactly docs/operators.md (Gradients) (torchvision's
// backward):
//   grad_weight[o, cw, k] = sum_{n, p} grad_out[n, o, p] * columns[n, c, k, p]
//   (c = (o / (K/groups)) * (C/groups) + cw, columns = the forward's
//   mask-scaled bilinear samples), grad_bias[o] = sum_{n, p} grad_out[n, o, p].
// The CPU kernel; only the algorithm lives here, the schedule is in
// schedules/cpu/deform_conv2d_backward.h. On a GPU the weight gradients
// are stages instead (deform_conv2d_columns, then a GEMM and
// deform_conv2d_grad_weight_finish).

#include "Halide.h"
#include "common.h"
#include "storage16.h"
#include "cpu/deform_conv2d_backward.h"
#include "stages/deform_conv2d_backward.h"
#include "deform_conv2d_inputs.h"
#include "deform_conv2d_sampling.h"

namespace {

using namespace Halide;

class DeformConv2dBackwardWeightGenerator : public Generator<DeformConv2dBackwardWeightGenerator> {
public:
    GeneratorParam<bool> with_mask{"with_mask", false};
    GeneratorParam<bool> with_bias{"with_bias", false};  // also grad_bias
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    // The type the kernel computes in (dcn::compute_type; the list's ACCUM).
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 4>> input{"input"};              // (W, H, C, N)
    Input<Buffer<void, 4>> offset{"offset"};            // (oW, oH, 2*G*kH*kW, N)
    Input<Buffer<void, 4>> grad_output{"grad_output"};  // (oW, oH, K, N)
    dcn::DeformConv2dKernelSizeInputs kernel;
    dcn::DeformConv2dGeometryInputs conv;  // stride, padding, dilation, groups, offset groups
    // (kW, kH, C/groups, K); a zero extent asks for none (grad_bias only).
    Output<Buffer<void, 4>> grad_weight{"grad_weight"};

    Input<Buffer<>> *mask = nullptr;        // (oW, oH, G*kH*kW, N)
    Output<Buffer<>> *grad_bias = nullptr;  // (K)

    void configure() {
        dcn::compute_type(dtype, accum, true);
        for (auto *b : {&input, &offset, &grad_output}) b->set_type(dtype);
        grad_weight.set_type(dtype);
        if (with_mask) mask = add_input<Buffer<>>("mask", dtype, 4);
        if (with_bias) grad_bias = add_output<Buffer<>>("grad_bias", dtype, 1);
    }

    // After generate(): dcn's own 16-bit conversions where Halide's fail (storage16.h).
    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        dcn::DeformConv2dBackwardWeightStages s;
        // Storage in `dtype`, arithmetic in t (float32 for 16-bit storage).
        const Type t = dcn::compute_type(dtype, accum, true);
        const Type st = dtype;
        s.type = t;
        s.with_bias = with_bias;
        const Var &p = s.p, &o = s.o, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &g = s.g, &ci = s.ci,
                  &cw = s.cw;
        const Expr zero = Internal::make_zero(t);

        Expr W = input.dim(0).extent(), H = input.dim(1).extent(), C = input.dim(2).extent();
        Expr N = input.dim(3).extent();
        Expr K = grad_output.dim(2).extent();
        Expr kW = kernel.kernel_w, taps = kernel.kernel_h * kernel.kernel_w;
        Expr oW = offset.dim(0).extent(), oH = offset.dim(1).extent();
        Expr P = oW * oH;
        Expr cpg = C / conv.offset_groups;
        Expr Cg = C / conv.groups, Kg = K / conv.groups;

        // Zero outside the image and past the last channel (a CPU schedule
        // computes whole blocks of channels with unclamped, dense loads).
        _halide_user_assert(!get_target().has_gpu_feature())
            << "deform_conv2d's GPU weight gradients are columns + grad_weight stages (cmake/DcnRegistry.cmake)";
        Func input_zero =
            BoundaryConditions::constant_exterior(input, Internal::make_zero(st), {{0, W}, {0, H}, {0, C}});
        s.input_cl(c, x, y, n) = cast(t, input_zero(x, y, c, n));

        Expr pc = clamp(p, 0, P - 1);
        s.gy(o, p, n) = cast(t, grad_output(pc % oW, pc / oW, clamp(o, 0, K - 1), n));
        s.pixel(p) = Tuple(pc / oW, pc % oW);
        Expr py = s.pixel(p)[0], px = s.pixel(p)[1];

        // The forward's samples and columns (its rule: a contribution only
        // for -1 < y < H, -1 < x < W).
        Func offset_c = dcn::deform_conv2d_per_pixel(offset, oW, oH, t, "offset_c");
        Func mask_c = with_mask ? dcn::deform_conv2d_per_pixel(*mask, oW, oH, t, "mask_c") : Func();
        s.sample(p, k, g, n) =
            dcn::deform_conv2d_forward_sample_of(conv.geometry(H, W, kW, taps), offset_c, mask_c, py, px, k, g, n, t);
        Expr c_in = g * cpg + ci;
        s.columns(ci, g, k, p, n) = dcn::deform_conv2d_column(s.sample(p, k, g, n), s.input_cl, c_in, n);

        // The GEMM's operand type and pairing (bfloat16 pairs of pixels on
        // the AVX512-BF16 path: the columns rounded to bfloat16 once,
        // grad_output exact).
        const Type gt = dcn::gemm_operand_type(get_target(), dtype, t);
        const int R = dcn::gemm_pair(gt);
        s.pair = R;
        Expr P_pairs = R == 1 ? P : (P + (R - 1)) / R;

        // The columns in blocks of B input channels. Input channel c is
        // (channel c % cpg of offset group c / cpg); one offset group:
        // (c, 0). A schedule may compute the last block whole. With pairs
        // the pair's pixel (2p + pl) is the innermost dimension, the padding
        // pixel 0: each pixel's channels are computed as dense vectors and
        // interleaved (a select on pl, not an index that depends on it).
        const int B = dcn::deform_conv2d_backward_weight_cpu_block(get_target(), t);
        Expr one_og = conv.offset_groups == 1;
        Expr cblk = s.cb * B + s.cb_i;
        auto col_at = [&](const Expr &pix) {
            return s.columns(select(one_og, cblk, cblk % cpg), select(one_og, 0, min(cblk / cpg, conv.offset_groups - 1)),
                             k, pix, n);
        };
        if (R == 1) {
            s.columns_blocked(s.cb_i, p, k, s.cb, n) = col_at(p);
        } else {
            Expr p0 = p * R, p1 = p * R + 1;
            s.columns_blocked(s.pl, s.cb_i, p, k, s.cb, n) =
                cast(gt, select(s.pl == 0, select(p0 < P, col_at(p0), zero), select(p1 < P, col_at(p1), zero)));
        }
        if (R > 1) {
            // (A schedule may compute whole tiles past either end: clamp.)
            Expr q = p * R + o % R, qc = clamp(q, 0, P - 1);
            s.gy_pairs(o, p, n) = select(q < P, cast(gt, grad_output(qc % oW, qc / oW, clamp(o / R, 0, K - 1), n)),
                                         Internal::make_zero(gt));
        }

        // grad_weight_sum(cw, k, o): over images and pixels, in that order;
        // weight channel cw of output channel o reads input channel
        // c = (o / Kg) * Cg + cw (cw with one group).
        s.rw = R == 1 ? RDom(0, P, 0, N, "rw") : RDom(0, R, 0, P_pairs, 0, N, "rw");
        {
            int d = 0;
            if (R > 1) s.rw_lane = s.rw[d++];
            s.rw_p = s.rw[d++];
            s.rw_n = s.rw[d++];
        }
        Expr c_of = select(conv.groups == 1, cw, min(o, K - 1) / Kg * Cg + cw);
        s.grad_weight_sum(cw, k, o) = zero;
        if (R == 1) {
            s.grad_weight_sum(cw, k, o) +=
                s.columns_blocked(c_of % B, s.rw_p, k, c_of / B, s.rw_n) * s.gy(o, s.rw_p, s.rw_n);
        } else {
            s.grad_weight_sum(cw, k, o) +=
                cast(t, s.columns_blocked(s.rw_lane, c_of % B, s.rw_p, k, c_of / B, s.rw_n)) *
                cast(t, s.gy_pairs(min(o, K - 1) * R + s.rw_lane, s.rw_p, s.rw_n));
        }
        grad_weight(x, y, cw, o) = cast(st, s.grad_weight_sum(cw, y * kW + x, o));
        s.grad_weight = grad_weight;

        if (with_bias) {
            s.rb = RDom(0, P, 0, N, "rb");
            s.grad_bias_sum(o) = zero;
            s.grad_bias_sum(o) += s.gy(o, s.rb.x, s.rb.y);
            (*grad_bias)(o) = cast(st, s.grad_bias_sum(o));
            s.grad_bias = *grad_bias;
        }

        s.groups = conv.groups;
        s.offset_groups = conv.offset_groups;
        // The runtime's views start at 0: with that known, a block of weight
        // channels is a whole block of the blocked columns (dense loads).
        for (int d = 0; d < 4; d++) grad_weight.dim(d).set_min(0);
        dcn::schedule_deform_conv2d_backward_weight_cpu(s, get_target());
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dBackwardWeightGenerator, deform_conv2d_backward_weight)
