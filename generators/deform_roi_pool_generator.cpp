// deform_roi_pool: deformable RoI pooling with RoIAlign sampling, exactly
// docs/operators.md (deform_roi_pool) (mmcv DeformRoIPool forward; with a mask,
// the modulated variant). Only the algorithm lives here.
//
// Halide dimensions are innermost first: input (W, H, C, N), rois (5, R),
// offset (PW, PH, 2, R), mask (PW, PH, 1, R), output (PW, PH, C, R).

#include "Halide.h"
#include "common.h"
#include "storage16.h"
#include "dcn_tunables.h"
#include "cpu/roi_pool.h"
#include "cuda/roi_pool.h"
#include "stages/roi_pool.h"
#include "roi_pool_inputs.h"
#include "roi_pool_sampling.h"

namespace {

using namespace Halide;

class DeformRoiPoolGenerator : public Generator<DeformRoiPoolGenerator> {
public:
    GeneratorParam<bool> with_offset{"with_offset", false};
    GeneratorParam<bool> with_mask{"with_mask", false};

    // Element type of every tensor (cmake/DcnRegistry.cmake's dtypes).
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    // The type the kernel computes in (dcn::compute_type; the list's ACCUM).
    GeneratorParam<Type> accum{"accum", Float(32)};

    // CPU schedule tunables (schedules/cpu/roi_pool.h; 1 and 1 = untuned).
    GeneratorParam<int> rois_per_task{"rois_per_task", dcn::tunables::default_of("deform_roi_pool", "rois_per_task")};
    GeneratorParam<int> channel_vectors{"channel_vectors", dcn::tunables::default_of("deform_roi_pool", "channel_vectors")};

    Input<Buffer<void, 4>> input{"input"};
    Input<Buffer<void, 2>> rois{"rois"};
    dcn::DeformRoiPoolInputs par;  // spatial_scale, sampling_ratio, gamma, max_grid
    Output<Buffer<void, 4>> output{"output"};

    Input<Buffer<>> *offset = nullptr;  // 4-D
    Input<Buffer<>> *mask = nullptr;  // 4-D

    void configure() {
        dcn::compute_type(dtype, accum, true);
        input.set_type(dtype);
        rois.set_type(dtype);
        output.set_type(dtype);
        if (with_offset) offset = add_input<Buffer<>>("offset", dtype, 4);
        if (with_mask) mask = add_input<Buffer<>>("mask", dtype, 4);
    }

    // After generate(): dcn's own 16-bit conversions where Halide's fail (storage16.h).
    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        dcn::DeformRoiPoolStages s;
        // Storage in `dtype`, arithmetic in t (float32 for 16-bit storage):
        // reads converted where staged, outputs converted once.
        const Type t = dcn::compute_type(dtype, accum, true);
        Func rois_c("rois_c");
        rois_c(s.x, s.r) = cast(t, rois(s.x, s.r));
        s.type = t;
        const Var &pw = s.pw, &ph = s.ph, &c = s.c, &r = s.r, &i = s.i, &x = s.x, &y = s.y, &n = s.n;

        Expr W = input.dim(0).extent(), H = input.dim(1).extent(), N = input.dim(3).extent();
        Expr PW = output.dim(0).extent(), PH = output.dim(1).extent();

        s.input_cl(c, x, y, n) = cast(t, input(x, y, c, n));

        const dcn::RoiAlignBox box =
            dcn::roi_align_box(rois_c, r, N, par.spatial_scale, par.sampling_ratio, par.max_grid, PW, PH, t);
        Expr start_w = box.start_w, start_h = box.start_h;
        if (with_offset) {
            start_w += cast(t, par.gamma) * box.roi_w * cast(t, (*offset)(pw, ph, 0, r));  // channel 0 = x
            start_h += cast(t, par.gamma) * box.roi_h * cast(t, (*offset)(pw, ph, 1, r));
        }
        s.y_sample(i, pw, ph, r) =
            dcn::roi_align_axis(dcn::roi_align_coordinate(start_h, ph, i, box.bin_h, box.grid_h), H, false);
        s.x_sample(i, pw, ph, r) =
            dcn::roi_align_axis(dcn::roi_align_coordinate(start_w, pw, i, box.bin_w, box.grid_w), W, false);
        Expr batch = box.batch, grid_w = box.grid_w, grid_h = box.grid_h;

        s.s = RDom(0, par.max_grid, 0, par.max_grid, "s");
        s.s.where(s.s.x < grid_w && s.s.y < grid_h);
        Tuple ys = s.y_sample(s.s.y, pw, ph, r), xs = s.x_sample(s.s.x, pw, ph, r);
        s.pooled(c, pw, ph, r) = Internal::make_zero(t);
        // A sample outside adds exactly 0, whatever the pixels its clamped
        // corners hold (0 * Inf would be NaN): one select per sample.
        s.pooled(c, pw, ph, r) += select(ys[4] * xs[4] > Internal::make_zero(t),
                                         ys[2] * (xs[2] * s.input_cl(c, xs[0], ys[0], batch) +
                                                  xs[3] * s.input_cl(c, xs[1], ys[0], batch)) +
                                             ys[3] * (xs[2] * s.input_cl(c, xs[0], ys[1], batch) +
                                                      xs[3] * s.input_cl(c, xs[1], ys[1], batch)),
                                         Internal::make_zero(t));

        Expr value = s.pooled(c, pw, ph, r) / cast(t, box.count());
        if (with_mask) value *= cast(t, (*mask)(pw, ph, 0, r));
        output(pw, ph, c, r) = cast(Type(dtype), value);
        s.output = output;

        set_estimates_for_autoschedulers();
        if (using_autoscheduler()) return;
        if (get_target().has_gpu_feature()) {
            dcn::schedule_deform_roi_pool_gpu(s, get_target());
        } else {
            dcn::schedule_deform_roi_pool_cpu(s, get_target(), {rois_per_task, channel_vectors});
        }
    }

private:
    // Faster R-CNN-like estimates: 512 RoIs, 256 channels, 7x7 bins.
    void set_estimates_for_autoschedulers() {
        input.set_estimates({{0, 84}, {0, 50}, {0, 256}, {0, 1}});
        rois.set_estimates({{0, 5}, {0, 512}});
        if (offset) offset->set_estimates({{0, 7}, {0, 7}, {0, 2}, {0, 512}});
        if (mask) mask->set_estimates({{0, 7}, {0, 7}, {0, 1}, {0, 512}});
        output.set_estimates({{0, 7}, {0, 7}, {0, 256}, {0, 512}});
        par.set_estimates();
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformRoiPoolGenerator, deform_roi_pool)
