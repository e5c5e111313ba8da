// deform_conv2d's data gradients: grad_input, grad_offset and (DCNv2)
// grad_mask from grad_output, exactly docs/operators.md (Gradients)
// (torchvision's backward). Only the algorithm lives here; schedules are in
// schedules/<backend>/deform_conv2d_backward.h.
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
#include "cuda/deform_conv2d_backward.h"
#include "deform_conv2d_backward_algorithm.h"
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
    Input<int> stride_y{"stride_y", 1, 1, 1 << 20};
    Input<int> stride_x{"stride_x", 1, 1, 1 << 20};
    Input<int> pad_top{"pad_top", 0, 0, 1 << 20};
    Input<int> pad_left{"pad_left", 0, 0, 1 << 20};
    Input<int> dilation_y{"dilation_y", 1, 1, 1 << 20};
    Input<int> dilation_x{"dilation_x", 1, 1, 1 << 20};
    Input<int> groups{"groups", 1, 1, 1 << 20};
    Input<int> offset_groups{"offset_groups", 1, 1, 1 << 20};
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
        Expr cpg = C / offset_groups;        // channels per offset group
        Expr Kg = K / groups;                // output channels per group

        Func input_zero = BoundaryConditions::constant_exterior(input, Internal::make_zero(st), {{0, W}, {0, H}});
        s.input_cl(c, x, y, n) = cast(t, input_zero(x, y, c, n));

        // A schedule may compute whole tiles past the last pixel: clamp p.
        Expr pc = clamp(p, 0, P - 1);
        Expr py = pc / oW, px = pc % oW;
        const bool gpu = get_target().has_gpu_feature();
        // The GEMM's operand type and pairing (bfloat16 pairs of output
        // channels on the AVX512-BF16 path: both operands are stored
        // inputs, so nothing is rounded).
        const Type gt = dcn::gemm_operand_type(get_target(), dtype, t);
        const int R = dcn::gemm_pair(gt);
        s.pair = R;
        const dcn::DeformConv2dBackwardDataTile tile =
            gpu ? dcn::DeformConv2dBackwardDataTile{1, 1}
                : dcn::deform_conv2d_backward_data_cpu_tile(get_target(), t, R);
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
            Expr grp_q = cq / Cg;
            Expr ow = R == 1 ? Expr(o) : o * R + ib % R;
            Expr v = cast(gt, weight(k % kW, k / kW, cq % Cg, clamp(grp_q * Kg + ow, 0, K - 1)));
            s.weight_t(ib, o, k, bk, g) = R == 1 ? v : select(ow < Kg, v, Internal::make_zero(gt));
        }

        Func offset_e = BoundaryConditions::repeat_edge(offset, {{0, oW}, {0, oH}});
        Func offset_c("offset_c");
        offset_c(x, y, c, n) = cast(t, offset_e(x, y, c, n));
        const dcn::DeformConv2dGeometry geo{stride_y, stride_x, pad_top, pad_left, dilation_y, dilation_x,
                                            H, W, kW, taps};
        const dcn::DeformSamplePoint sp = dcn::deform_conv2d_sample_point(geo, offset_c, py, px, k, g, n, t);
        Expr m = Internal::make_one(t);
        if (with_mask) {
            Func mask_c = BoundaryConditions::repeat_edge(*mask, {{0, oW}, {0, oH}});
            m = cast(t, mask_c(px, py, g * taps + k, n));
        }
        s.sample(p, k, g, n) = Tuple(sp.y0, sp.x0, sp.ly, sp.lx, m, sp.inside_closed);
        Expr y0 = s.sample(p, k, g, n)[0], x0 = s.sample(p, k, g, n)[1];
        Expr ly = s.sample(p, k, g, n)[2], lx = s.sample(p, k, g, n)[3];
        Expr hy = 1.0f - ly, hx = 1.0f - lx;

        // grad_columns: the group's output channels o = grp*Kg + r of input
        // channel c = g*cpg + ci (grp = c / Cg). A schedule may compute whole
        // register tiles past the group's last channel or the last pixel:
        // weight_t and gy clamp their reads.
        Expr grp = select(groups == 1, 0, clamp(g * cpg + ci, 0, C - 1) / Cg);
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

        // The coordinate and mask gradients: sums over the offset group's
        // channels of grad_columns x the derivatives of the sample.
        s.rc = RDom(0, cpg, "rc");
        Expr cc = g * cpg + s.rc;
        Expr v00 = s.input_cl(cc, x0, y0, n), v01 = s.input_cl(cc, x0 + 1, y0, n);
        Expr v10 = s.input_cl(cc, x0, y0 + 1, n), v11 = s.input_cl(cc, x0 + 1, y0 + 1, n);
        Expr gc = s.grad_columns(s.rc, g, k, p, n);
        s.coord_sums(p, k, g, n) = Tuple(zero, zero, zero);
        s.coord_sums(p, k, g, n) = Tuple(
            s.coord_sums(p, k, g, n)[0] + gc * (hx * (v10 - v00) + lx * (v11 - v01)),
            s.coord_sums(p, k, g, n)[1] + gc * (hy * (v01 - v00) + ly * (v11 - v10)),
            s.coord_sums(p, k, g, n)[2] + gc * (hy * (hx * v00 + lx * v01) + ly * (hx * v10 + lx * v11)));

        // grad_offset(x, y, ch, n): ch = g*2*taps + 2k (y) or + 1 (x).
        Expr ch_g = c / (2 * taps), ch_k = (c / 2) % taps;
        Expr q = y * oW + x;
        grad_offset(x, y, c, n) = cast(
            st, select(valid_at(s, q, ch_k, ch_g, n),
                       mask_at(s, q, ch_k, ch_g, n) *
                           select(c % 2 == 0, s.coord_sums(q, ch_k, ch_g, n)[0], s.coord_sums(q, ch_k, ch_g, n)[1]),
                       zero));
        s.grad_offset = grad_offset;
        if (with_mask) {
            // The mask's gradient is the sample's value, 0 outside the open
            // region -1 < y < H, -1 < x < W: on the line y = -1 (x = -1)
            // the corner inside has weight 0 and may hold NaN / Inf, so the
            // sum is dropped there too (row -1 with ly = 0: y = -1 exactly).
            Expr mg = c / taps, mk = c % taps;
            Tuple sm = s.sample(q, mk, mg, n);
            Expr open = sm[5] && (sm[0] > -1 || sm[2] > zero) && (sm[1] > -1 || sm[3] > zero);
            (*grad_mask)(x, y, c, n) = cast(st, select(open, s.coord_sums(q, mk, mg, n)[2], zero));
            s.grad_mask = *grad_mask;
        }

        // The scatter: for every channel, in the fixed order (pixel, tap,
        // corner), grad_columns x the corner's mask-scaled weight added to
        // the corner. Rows / columns -1 and H / W are the zero border,
        // dropped by the output.
        s.rs = RDom(0, 4, 0, taps, 0, P, "rs");
        Expr rk = s.rs.y, rp = s.rs.z;
        Expr cy = s.rs.x / 2, cx = s.rs.x % 2;
        Expr sy0 = s.sample(rp, rk, g, n)[0], sx0 = s.sample(rp, rk, g, n)[1];
        Expr sly = s.sample(rp, rk, g, n)[2], slx = s.sample(rp, rk, g, n)[3];
        Expr wy = select(cy == 0, 1.0f - sly, sly), wx = select(cx == 0, 1.0f - slx, slx);
        Expr wgt = select(s.sample(rp, rk, g, n)[5], s.sample(rp, rk, g, n)[4] * wy * wx, zero);
        s.grad_input_cl(ci, x, y, g, n) = zero;
        s.grad_input_cl(ci, sx0 + cx, sy0 + cy, g, n) += wgt * s.grad_columns(ci, g, rk, rp, n);
        grad_input(x, y, ci, g, n) = cast(st, s.grad_input_cl(ci, x, y, g, n));
        s.grad_input = grad_input;

        s.groups = groups;
        s.offset_groups = offset_groups;

        if (get_target().has_gpu_feature()) {
            dcn::schedule_deform_conv2d_backward_data_gpu(s, get_target());
        } else {
            dcn::schedule_deform_conv2d_backward_data_cpu(s, get_target());
        }
    }

private:
    static Expr valid_at(dcn::DeformConv2dBackwardDataStages &s, Expr q, Expr k, Expr g, Expr n) {
        return s.sample(q, k, g, n)[5];
    }
    static Expr mask_at(dcn::DeformConv2dBackwardDataStages &s, Expr q, Expr k, Expr g, Expr n) {
        return s.sample(q, k, g, n)[4];
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dBackwardDataGenerator, deform_conv2d_backward_data)
