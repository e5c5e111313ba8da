// deform_psroi_pool's gradients: grad_input and grad_trans from
// grad_output, exactly docs/operators.md (Gradients) (MSRA's
// DeformablePSROIPooling backward). Only the algorithm lives here;
// schedules are in schedules/<backend>/roi_pool_backward.h.
//
// With share = grad_output / count for an output (channel, bin) (0 for a bin
// with no sample inside):
//   grad_input += share * (bilinear weight of each corner), each valid
//                 sample, into input channel (ct*G + gh)*G + gw;
//   grad_trans  = trans_std * RoI size * sum over the part cell's bins, the
//                 class's channels and the valid samples of share * the
//                 bilinear derivative at the clamped coordinate (floor /
//                 ceil corners: 0 along an axis on an integer coordinate).
//
// Halide dimensions are innermost first: input (W, H, C, N), rois (5, R),
// trans and grad_trans (part, part, 2*num_classes, R), grad_output
// (P, P, output_dim, R); grad_input (W, H, G*G, per_class, num_classes, N)
// is the NCHW gradient with its channels split as the pooling reads them.
// An output with a zero extent is not asked for.

#include "Halide.h"
#include "common.h"
#include "storage16.h"
#include "cpu/roi_pool_backward.h"
#include "cuda/roi_pool_backward.h"
#include "stages/roi_pool_backward.h"
#include "roi_pool_inputs.h"
#include "roi_pool_sampling.h"

namespace {

using namespace Halide;

class DeformPsroiPoolBackwardDataGenerator : public Generator<DeformPsroiPoolBackwardDataGenerator> {
public:
    GeneratorParam<bool> with_trans{"with_trans", false};
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    // The type the kernel computes in (dcn::compute_type; the list's ACCUM).
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 4>> input{"input"};
    Input<Buffer<void, 2>> rois{"rois"};
    Input<Buffer<void, 4>> grad_output{"grad_output"};
    dcn::DeformPsroiPoolInputs par;  // spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part, trans_std
    Output<Buffer<void, 6>> grad_input{"grad_input"};

    Input<Buffer<>> *trans = nullptr;
    Output<Buffer<>> *grad_trans = nullptr;

    void configure() {
        dcn::compute_type(dtype, accum, true);
        input.set_type(dtype);
        rois.set_type(dtype);
        grad_output.set_type(dtype);
        grad_input.set_type(dtype);
        if (with_trans) {
            trans = add_input<Buffer<>>("trans", dtype, 4);
            grad_trans = add_output<Buffer<>>("grad_trans", dtype, 4);
        }
    }

    // After generate(): dcn's own 16-bit conversions where Halide's fail (storage16.h).
    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        dcn::DeformPsroiPoolBackwardStages s;
        // Storage in `dtype`, arithmetic in t (float32 for 16-bit storage):
        // reads converted where staged, outputs converted once.
        const Type t = dcn::compute_type(dtype, accum, true);
        Func rois_c("rois_c");
        rois_c(s.x, s.r) = cast(t, rois(s.x, s.r));
        s.type = t;
        const Expr zero = Internal::make_zero(t), one = Internal::make_one(t);
        const Var &pw = s.pw, &ph = s.ph, &cc = s.cc, &cls = s.cls, &r = s.r, &iw = s.iw, &ih = s.ih;
        const Var &x = s.x, &y = s.y, &n = s.n, &gi = s.gi, &px = s.px, &py = s.py, &k = s.k, &ct = s.ct;

        Expr W = input.dim(0).extent(), H = input.dim(1).extent(), N = input.dim(3).extent();
        Expr R = grad_output.dim(3).extent();
        Expr G = par.group_size, P = par.pooled_size, S = par.sample_per_part;
        Expr num_classes = with_trans ? max(trans->dim(2).extent() / 2, 1) : Expr(1);
        Expr per_class = max(par.output_dim / num_classes, 1);

        s.input_ps(ct, x, y, gi, n) = cast(t, input(x, y, ct * G * G + gi, n));

        const dcn::PsroiBox box = dcn::psroi_box(rois_c, r, N, par.spatial_scale, P, S, t, get_target());
        Expr trans_x = zero, trans_y = zero;
        if (with_trans) {
            Expr tx = dcn::psroi_part(pw, P, par.part_size), ty = dcn::psroi_part(ph, P, par.part_size);
            trans_x = cast(t, (*trans)(tx, ty, 2 * cls, r)) * cast(t, par.trans_std);  // x first
            trans_y = cast(t, (*trans)(tx, ty, 2 * cls + 1, r)) * cast(t, par.trans_std);
        }
        s.bin_start(pw, ph, cls, r) = Tuple(cast(t, pw) * box.bin_w + box.start_w + trans_x * box.roi_w,
                                            cast(t, ph) * box.bin_h + box.start_h + trans_y * box.roi_h,
                                            box.sub_w, box.sub_h);
        Tuple start = s.bin_start(pw, ph, cls, r);
        const dcn::PsroiSample sp =
            dcn::psroi_sample(start[0] + cast(t, iw) * start[2], start[1] + cast(t, ih) * start[3], W, H);
        s.sample(iw, ih, pw, ph, cls, r) = Tuple(sp.y1, sp.x1, sp.y2, sp.x2, sp.dy, sp.dx, select(sp.valid, one, zero));
        s.valid(iw, ih, pw, ph, cls, r) = select(sp.valid, one, zero);

        s.s = RDom(0, S, 0, S, "s");
        s.count(pw, ph, cls, r) = zero;
        s.count(pw, ph, cls, r) += s.valid(s.s.x, s.s.y, pw, ph, cls, r);
        Expr cnt = s.count(pw, ph, cls, r);
        s.share(cc, cls, pw, ph, r) =
            select(cnt > zero, cast(t, grad_output(pw, ph, clamp(cls * per_class + cc, 0, par.output_dim - 1), r)) / max(cnt, one),
                   zero);

        // Position-sensitive group of a bin.
        auto group_of = [&](const Expr &bx, const Expr &by) {
            return clamp(by * G / P, 0, G - 1) * G + clamp(bx * G / P, 0, G - 1);
        };

        if (with_trans) {
            // Per (channel, bin): the derivatives summed over the valid samples.
            Tuple smp = s.sample(s.s.x, s.s.y, pw, ph, cls, r);
            Expr y1 = smp[0], x1 = smp[1], y2 = smp[2], x2 = smp[3], dy = smp[4], dx = smp[5];
            Expr valid = smp[6] > zero;
            Expr c_out = cls * per_class + cc, g_idx = group_of(pw, ph), b = box.batch;
            Expr u00 = s.input_ps(c_out, x1, y1, g_idx, b), u01 = s.input_ps(c_out, x1, y2, g_idx, b);
            Expr u10 = s.input_ps(c_out, x2, y1, g_idx, b), u11 = s.input_ps(c_out, x2, y2, g_idx, b);
            s.tsums(cc, cls, pw, ph, r) = Tuple(zero, zero);
            s.tsums(cc, cls, pw, ph, r) =
                Tuple(s.tsums(cc, cls, pw, ph, r)[0] + select(valid, (u11 - u01) * dy + (u10 - u00) * (1.0f - dy), zero),
                      s.tsums(cc, cls, pw, ph, r)[1] + select(valid, (u11 - u10) * dx + (u01 - u00) * (1.0f - dx), zero));
            // Over the class's channels, weighted by the share.
            s.rc = RDom(0, per_class, "rc");
            Expr sh = s.share(s.rc, cls, pw, ph, r);
            s.bin_trans(pw, ph, cls, r) = Tuple(zero, zero);
            s.bin_trans(pw, ph, cls, r) = Tuple(s.bin_trans(pw, ph, cls, r)[0] + sh * s.tsums(s.rc, cls, pw, ph, r)[0],
                                                s.bin_trans(pw, ph, cls, r)[1] + sh * s.tsums(s.rc, cls, pw, ph, r)[1]);
            // Over the bins of each part cell; then trans_std * the RoI's size.
            s.rb = RDom(0, P, 0, P, "rb");
            s.rb.where(dcn::psroi_part(s.rb.x, P, par.part_size) == px && dcn::psroi_part(s.rb.y, P, par.part_size) == py);
            Func cell_sum("cell_sum");
            Expr kc = clamp(k / 2, 0, num_classes - 1);
            cell_sum(px, py, k, r) = zero;
            cell_sum(px, py, k, r) += select(k % 2 == 0, s.bin_trans(s.rb.x, s.rb.y, kc, r)[0],
                                             s.bin_trans(s.rb.x, s.rb.y, kc, r)[1]);
            (*grad_trans)(px, py, k, r) = cast(
                Type(dtype), cast(t, par.trans_std) * select(k % 2 == 0, box.roi_w, box.roi_h) * cell_sum(px, py, k, r));
            s.grad_trans = *grad_trans;
            s.cell_sum = cell_sum;
        }

        // The scatter: per (channel, group gi, class), every (RoI, bin of the
        // group, row sample, column sample, corner) in that fixed order
        // (outermost first) into the RoI's image. The bins of group
        // gw = gi % G along x are those pw with gw <= pw*G/P < gw + 1, that
        // is ceil(gw*P/G) <= pw < ceil((gw + 1)*P/G): at most ceil(P/G) of
        // them (one when G = P, as in R-FCN) from pw = ceil(gw*P/G) on.
        Expr span = (P + G - 1) / G;
        // No grad_input asked for (no images in its buffer): no scatter.
        Expr scattered_rois = select(grad_input.dim(5).extent() > 0, R, 0);
        s.rs = RDom({{0, 4}, {0, S}, {0, S}, {0, span}, {0, span}, {0, scattered_rois}}, "rs");
        {
            Expr cx = s.rs[0] % 2, cy = s.rs[0] / 2;
            Expr gw = gi % G, gh = gi / G;
            Expr bx = (gw * P + G - 1) / G + s.rs[3], by = (gh * P + G - 1) / G + s.rs[4], rr = s.rs[5];
            s.rs.where(bx < P && by < P && bx * G / P == gw && by * G / P == gh);
            // The where clause keeps bx, by < P; the clamps tell bounds
            // inference so (the stages they index are made for P bins only).
            bx = min(bx, P - 1);
            by = min(by, P - 1);
            Tuple smp = s.sample(s.rs[1], s.rs[2], bx, by, cls, rr);
            Expr row = select(cy == 0, smp[0], smp[2]), col = select(cx == 0, smp[1], smp[3]);
            Expr wy = select(cy == 0, 1.0f - smp[4], smp[4]), wx = select(cx == 0, 1.0f - smp[5], smp[5]);
            Expr b = dcn::roi_batch_index(rois_c(0, rr), N);
            s.grad_ps(cc, x, y, gi, cls, n) = zero;
            s.grad_ps(cc, col, row, gi, cls, b) += select(smp[6] > zero, s.share(cc, cls, bx, by, rr) * wy * wx, zero);
        }
        grad_input(x, y, gi, cc, cls, n) = cast(Type(dtype), s.grad_ps(cc, x, y, gi, cls, n));
        s.grad_input = grad_input;

        if (get_target().has_gpu_feature()) {
            dcn::schedule_deform_psroi_pool_backward_data_gpu(s, get_target());
        } else {
            dcn::schedule_deform_psroi_pool_backward_data_cpu(s, get_target());
        }
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformPsroiPoolBackwardDataGenerator, deform_psroi_pool_backward_data)
