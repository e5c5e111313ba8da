// deform_roi_pool's gradients: grad_input, grad_offset and (modulated)
// grad_mask from grad_output, exactly docs/operators.md (Gradients) (mmcv's
// DeformRoIPool backward; the mask's as autograd gives it for mmcv's
// `deform_roi_pool(...) * mask`). Only the algorithm lives here; schedules
// are in schedules/<backend>/roi_pool_backward.h.
//
// With share = grad_output * mask / (grid_h * grid_w) for a (channel, bin):
//   grad_input  += share * (RoIAlign weight of each corner), every sample;
//   grad_offset  = gamma * RoI size * sum over channels and samples of
//                  share * the bilinear derivative, taken (as mmcv does)
//                  with the sample's unclamped coordinate;
//   grad_mask    = sum over channels of grad_output * pooled / samples.
//
// Halide dimensions are innermost first: input and grad_input (W, H, C, N),
// rois (5, R), offset and grad_offset (PW, PH, 2, R), mask and grad_mask
// (PW, PH, 1, R), grad_output (PW, PH, C, R). An output with a zero extent
// is not asked for (nothing is computed for it).

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

class DeformRoiPoolBackwardDataGenerator : public Generator<DeformRoiPoolBackwardDataGenerator> {
public:
    GeneratorParam<bool> with_offset{"with_offset", false};
    GeneratorParam<bool> with_mask{"with_mask", false};
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    // The type the kernel computes in (dcn::compute_type; the list's ACCUM).
    GeneratorParam<Type> accum{"accum", Float(32)};

    Input<Buffer<void, 4>> input{"input"};
    Input<Buffer<void, 2>> rois{"rois"};
    Input<Buffer<void, 4>> grad_output{"grad_output"};
    dcn::DeformRoiPoolInputs par;  // spatial_scale, sampling_ratio, gamma, max_grid
    Output<Buffer<void, 4>> grad_input{"grad_input"};

    Input<Buffer<>> *offset = nullptr;
    Input<Buffer<>> *mask = nullptr;
    Output<Buffer<>> *grad_offset = nullptr;
    Output<Buffer<>> *grad_mask = nullptr;

    void configure() {
        dcn::compute_type(dtype, accum, true);
        input.set_type(dtype);
        rois.set_type(dtype);
        grad_output.set_type(dtype);
        grad_input.set_type(dtype);
        if (with_offset) {
            offset = add_input<Buffer<>>("offset", dtype, 4);
            grad_offset = add_output<Buffer<>>("grad_offset", dtype, 4);
        }
        if (with_mask) {
            mask = add_input<Buffer<>>("mask", dtype, 4);
            grad_mask = add_output<Buffer<>>("grad_mask", dtype, 4);
        }
    }

    // After generate(): dcn's own 16-bit conversions where Halide's fail (storage16.h).
    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        dcn::DeformRoiPoolBackwardStages s;
        // Storage in `dtype`, arithmetic in t (float32 for 16-bit storage):
        // reads converted where staged, outputs converted once.
        const Type t = dcn::compute_type(dtype, accum, true);
        Func rois_c("rois_c");
        rois_c(s.x, s.r) = cast(t, rois(s.x, s.r));
        s.type = t;
        const Expr zero = Internal::make_zero(t), one = Internal::make_one(t);
        const Var &pw = s.pw, &ph = s.ph, &c = s.c, &r = s.r, &i = s.i, &x = s.x, &y = s.y, &n = s.n;

        Expr W = input.dim(0).extent(), H = input.dim(1).extent(), C = input.dim(2).extent();
        Expr N = input.dim(3).extent();
        Expr PW = grad_output.dim(0).extent(), PH = grad_output.dim(1).extent(), R = grad_output.dim(3).extent();

        s.input_cl(c, x, y, n) = cast(t, input(x, y, c, n));

        const dcn::RoiAlignBox box = dcn::roi_align_box(rois_c, r, N, par.spatial_scale, par.sampling_ratio, par.max_grid, PW, PH, t);
        Expr start_w = box.start_w, start_h = box.start_h;
        if (with_offset) {
            start_w += cast(t, par.gamma) * box.roi_w * cast(t, (*offset)(pw, ph, 0, r));  // channel 0 = x
            start_h += cast(t, par.gamma) * box.roi_h * cast(t, (*offset)(pw, ph, 1, r));
        }
        // The bin's first corner (offset applied), bin size and grid: the
        // samples are base + (i + 0.5) * bin / grid (roi_align_coordinate).
        s.bin_start(pw, ph, r) = Tuple(start_w + cast(t, pw) * box.bin_w, start_h + cast(t, ph) * box.bin_h,
                                       box.bin_w, box.bin_h, max(box.grid_w, 1), max(box.grid_h, 1));
        Tuple bs = s.bin_start(pw, ph, r);
        s.y_sample(i, pw, ph, r) = dcn::roi_align_axis(bs[1] + (cast(t, i) + 0.5f) * bs[3] / cast(t, bs[5]), H, true);
        s.x_sample(i, pw, ph, r) = dcn::roi_align_axis(bs[0] + (cast(t, i) + 0.5f) * bs[2] / cast(t, bs[4]), W, true);

        Expr m = with_mask ? cast(t, (*mask)(pw, ph, 0, r)) : one;
        s.gy(c, pw, ph, r) = cast(t, grad_output(pw, ph, c, r));
        s.share(c, pw, ph, r) = s.gy(c, pw, ph, r) * (m / cast(t, box.count()));

        // The bin's sums over its samples, per channel: the pooled value and
        // the two derivatives. mmcv's d/dx = (high - y)(v01 - v00) +
        // (y - low)(v11 - v10) with the unclamped y, written as
        // span (v01 - v00) + (y - low)((v11 - v10) - (v01 - v00)): the same
        // value, and exactly 0 where the two rows are one (at the last row,
        // or H = 1), whatever the rounding (FMA); likewise d/dy.
        s.s = RDom(0, par.max_grid, 0, par.max_grid, "s");
        s.s.where(s.s.x < box.grid_w && s.s.y < box.grid_h);
        {
            Tuple ys = s.y_sample(s.s.y, pw, ph, r), xs = s.x_sample(s.s.x, pw, ph, r);
            Expr batch = box.batch;
            Expr v00 = s.input_cl(c, xs[0], ys[0], batch), v01 = s.input_cl(c, xs[1], ys[0], batch);
            Expr v10 = s.input_cl(c, xs[0], ys[1], batch), v11 = s.input_cl(c, xs[1], ys[1], batch);
            // A sample outside adds exactly 0 (its clamped corners' pixels
            // may hold NaN / Inf).
            Expr inside = ys[4] * xs[4] > zero;
            s.sums(c, pw, ph, r) = Tuple(zero, zero, zero);
            s.sums(c, pw, ph, r) = Tuple(
                s.sums(c, pw, ph, r)[0] +
                    select(inside, ys[2] * (xs[2] * v00 + xs[3] * v01) + ys[3] * (xs[2] * v10 + xs[3] * v11), zero),
                s.sums(c, pw, ph, r)[1] +
                    select(inside, ys[5] * (v01 - v00) + ys[6] * ((v11 - v10) - (v01 - v00)), zero),
                s.sums(c, pw, ph, r)[2] +
                    select(inside, xs[5] * (v10 - v00) + xs[6] * ((v11 - v01) - (v10 - v00)), zero));
        }
        // Their sums over the channels, in order.
        s.rc = RDom(0, C, "rc");
        {
            Expr sh = s.share(s.rc, pw, ph, r);
            Tuple sm = s.sums(s.rc, pw, ph, r);
            s.bin_grads(pw, ph, r) = Tuple(zero, zero, zero);
            s.bin_grads(pw, ph, r) = Tuple(s.bin_grads(pw, ph, r)[0] + sh * sm[1],
                                           s.bin_grads(pw, ph, r)[1] + sh * sm[2],
                                           s.bin_grads(pw, ph, r)[2] + s.gy(s.rc, pw, ph, r) * sm[0]);
        }
        Var kk("kk");
        if (with_offset) {
            // (x, y): gamma * the RoI's width / height * the sums.
            Expr size = select(kk == 0, box.roi_w, box.roi_h);
            (*grad_offset)(pw, ph, kk, r) = cast(
                Type(dtype),
                cast(t, par.gamma) * size * select(kk == 0, s.bin_grads(pw, ph, r)[0], s.bin_grads(pw, ph, r)[1]));
            s.grad_offset = *grad_offset;
        }
        if (with_mask) {
            (*grad_mask)(pw, ph, kk, r) = cast(Type(dtype), s.bin_grads(pw, ph, r)[2] / cast(t, box.count()));
            s.grad_mask = *grad_mask;
        }

        // The scatter: per channel, every (RoI, bin, row sample, column
        // sample, corner) in that fixed order (outermost first) into the
        // RoI's image. A sample outside adds 0 (its weights are 0).
        // No grad_input asked for (no images in its buffer): no scatter.
        Expr scattered_rois = select(grad_input.dim(3).extent() > 0, R, 0);
        s.rs = RDom({{0, 4}, {0, par.max_grid}, {0, par.max_grid}, {0, PW}, {0, PH}, {0, scattered_rois}}, "rs");
        {
            Expr cx = s.rs[0] % 2, cy = s.rs[0] / 2;
            Expr sx = s.rs[1], sy = s.rs[2], rpw = s.rs[3], rph = s.rs[4], rr = s.rs[5];
            const dcn::RoiAlignBox rbox =
                dcn::roi_align_box(rois_c, rr, N, par.spatial_scale, par.sampling_ratio, par.max_grid, PW, PH, t);
            s.rs.where(sx < rbox.grid_w && sy < rbox.grid_h);
            Tuple ys = s.y_sample(sy, rpw, rph, rr), xs = s.x_sample(sx, rpw, rph, rr);
            Expr row = select(cy == 0, ys[0], ys[1]), col = select(cx == 0, xs[0], xs[1]);
            Expr wgt = select(cy == 0, ys[2], ys[3]) * select(cx == 0, xs[2], xs[3]);
            s.grad_input_cl(c, x, y, n) = zero;
            s.grad_input_cl(c, col, row, rbox.batch) +=
                select(ys[4] * xs[4] > zero, s.share(c, rpw, rph, rr) * wgt, zero);
        }
        grad_input(x, y, c, n) = cast(Type(dtype), s.grad_input_cl(c, x, y, n));
        s.grad_input = grad_input;

        if (get_target().has_gpu_feature()) {
            dcn::schedule_deform_roi_pool_backward_data_gpu(s, get_target());
        } else {
            dcn::schedule_deform_roi_pool_backward_data_cpu(s, get_target());
        }
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformRoiPoolBackwardDataGenerator, deform_roi_pool_backward_data)
