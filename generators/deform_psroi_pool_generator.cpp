// deform_psroi_pool: deformable (position-sensitive) RoI pooling, exactly
// docs/operators.md (deform_psroi_pool) (MSRA DeformablePSROIPooling forward).
// Only the algorithm lives here; schedules in schedules/<backend>/.
//
// Halide dimensions are innermost first: input (W, H, C, N), rois (5, R),
// trans (part, part, 2*num_classes, R), outputs (P, P, output_dim, R).

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

class DeformPsroiPoolGenerator : public Generator<DeformPsroiPoolGenerator> {
public:
    GeneratorParam<bool> with_trans{"with_trans", false};

    // Element type of every tensor (cmake/DcnRegistry.cmake's dtypes).
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    // The type the kernel computes in (dcn::compute_type; the list's ACCUM).
    GeneratorParam<Type> accum{"accum", Float(32)};

    // CPU schedule tunables (schedules/cpu/roi_pool.h; 1 and 1 = untuned).
    GeneratorParam<int> rois_per_task{"rois_per_task", dcn::tunables::default_of("deform_psroi_pool", "rois_per_task")};
    GeneratorParam<int> channel_vectors{"channel_vectors", dcn::tunables::default_of("deform_psroi_pool", "channel_vectors")};

    Input<Buffer<void, 4>> input{"input"};
    Input<Buffer<void, 2>> rois{"rois"};
    dcn::DeformPsroiPoolInputs par;  // spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part, trans_std
    // (value, count of samples inside the image), both (P, P, output_dim, R).
    Output<Func> output{"output", 4};  // types: (dtype, dtype), set in configure()

    Input<Buffer<>> *trans = nullptr;  // 4-D

    void configure() {
        dcn::compute_type(dtype, accum, true);
        input.set_type(dtype);
        rois.set_type(dtype);
        output.set_type({dtype, dtype});
        if (with_trans) trans = add_input<Buffer<>>("trans", dtype, 4);
    }

    // After generate(): dcn's own 16-bit conversions where Halide's fail (storage16.h).
    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        dcn::DeformPsroiPoolStages s;
        // Storage in `dtype`, arithmetic in t (float32 for 16-bit storage):
        // reads converted where staged, outputs converted once.
        const Type t = dcn::compute_type(dtype, accum, true);
        Func rois_c("rois_c");
        rois_c(s.x, s.r) = cast(t, rois(s.x, s.r));
        s.type = t;
        auto k = [&](double v) { return Internal::make_const(t, v); };  // a constant of the dtype
        const Var &pw = s.pw, &ph = s.ph, &ct = s.ct, &cc = s.cc, &cls = s.cls, &r = s.r;
        const Var &iw = s.iw, &ih = s.ih, &x = s.x, &y = s.y, &n = s.n, &gi = s.gi;

        Expr W = input.dim(0).extent(), H = input.dim(1).extent(), N = input.dim(3).extent();
        Expr G = par.group_size, P = par.pooled_size;
        Expr num_classes = with_trans ? max(trans->dim(2).extent() / 2, 1) : Expr(1);
        Expr per_class = max(par.output_dim / num_classes, 1);

        s.input_ps(ct, x, y, gi, n) = cast(t, input(x, y, ct * G * G + gi, n));

        const dcn::PsroiBox box = dcn::psroi_box(rois_c, r, N, par.spatial_scale, P, par.sample_per_part, t, get_target());
        Expr trans_x = k(0), trans_y = k(0);
        if (with_trans) {
            Expr px = dcn::psroi_part(pw, P, par.part_size), py = dcn::psroi_part(ph, P, par.part_size);
            // (cls clamped: a schedule may compute whole tiles of classes.)
            Expr tc = clamp(cls, 0, num_classes - 1);
            trans_x = cast(t, (*trans)(px, py, 2 * tc, r)) * cast(t, par.trans_std);  // x first
            trans_y = cast(t, (*trans)(px, py, 2 * tc + 1, r)) * cast(t, par.trans_std);
        }
        Expr wstart = cast(t, pw) * box.bin_w + box.start_w + trans_x * box.roi_w;
        Expr hstart = cast(t, ph) * box.bin_h + box.start_h + trans_y * box.roi_h;
        const dcn::PsroiSample sp =
            dcn::psroi_sample(wstart + cast(t, iw) * box.sub_w, hstart + cast(t, ih) * box.sub_h, W, H);
        Expr dx = sp.dx, dy = sp.dy;
        Expr v = select(sp.valid, k(1), k(0));
        s.valid(iw, ih, pw, ph, cls, r) = v;
        // (y1, x1, the four corner weights: (x1, y1), (x1, y2), (x2, y1),
        // (x2, y2)), x2 = x1 + 1 within the image: where MSRA's ceil() gives
        // x1 (an integer coordinate) the x2 weights are 0.
        s.sample(iw, ih, pw, ph, cls, r) = Tuple(sp.y1, sp.x1, (1.0f - dx) * (1.0f - dy) * v,
                                                 (1.0f - dx) * dy * v, dx * (1.0f - dy) * v, dx * dy * v);
        Expr batch = box.batch;

        // Position-sensitive group of the bin.
        Expr gw = clamp(pw * G / P, 0, G - 1), gh = clamp(ph * G / P, 0, G - 1);
        s.s = RDom(0, par.sample_per_part, 0, par.sample_per_part, "s");
        Tuple smp = s.sample(s.s.x, s.s.y, pw, ph, cls, r);
        Expr sy1 = smp[0], sx1 = smp[1];
        // A valid sample's (x1, y1) weight (1 - dx)(1 - dy) is > 0 (dx,
        // dy < 1); an invalid one's is 0, and the select drops it whatever
        // its clamped corners hold (0 * Inf would be NaN). (MSRA's far
        // corner on an integer coordinate is x1 itself; here it is x1 + 1
        // with weight 0: choosing it per sample cost the CUDA schedule a
        // spill at 64 registers.)
        Expr sx2 = min(sx1 + 1, W - 1), sy2 = min(sy1 + 1, H - 1);
        Expr c_out = cls * per_class + cc, g_idx = gh * G + gw;
        s.pooled(cc, cls, pw, ph, r) = k(0);
        s.pooled(cc, cls, pw, ph, r) += select(smp[2] > k(0),
                                               smp[2] * s.input_ps(c_out, sx1, sy1, g_idx, batch) +
                                                   smp[3] * s.input_ps(c_out, sx1, sy2, g_idx, batch) +
                                                   smp[4] * s.input_ps(c_out, sx2, sy1, g_idx, batch) +
                                                   smp[5] * s.input_ps(c_out, sx2, sy2, g_idx, batch),
                                               k(0));
        s.count(pw, ph, cls, r) = k(0);
        s.count(pw, ph, cls, r) += s.valid(s.s.x, s.s.y, pw, ph, cls, r);

        Expr out_cls = clamp(ct / per_class, 0, num_classes - 1);
        Expr out_cc = clamp(ct - out_cls * per_class, 0, per_class - 1);
        Expr sum = s.pooled(out_cc, out_cls, pw, ph, r), cnt = s.count(pw, ph, out_cls, r);
        output(pw, ph, ct, r) =
            Tuple(cast(Type(dtype), select(cnt > 0.0f, sum / max(cnt, k(1)), k(0))), cast(Type(dtype), cnt));
        s.output = output;

        set_estimates_for_autoschedulers();
        if (using_autoscheduler()) return;
        if (get_target().has_gpu_feature()) {
            dcn::schedule_deform_psroi_pool_gpu(s, get_target());
        } else {
            dcn::schedule_deform_psroi_pool_cpu(s, get_target(), {rois_per_task, channel_vectors});
        }
    }

private:
    // R-FCN-like estimates: 300 RoIs, 7x7 bins, group 7, 21 classes.
    void set_estimates_for_autoschedulers() {
        input.set_estimates({{0, 63}, {0, 38}, {0, 1029}, {0, 1}});
        rois.set_estimates({{0, 5}, {0, 300}});
        if (trans) trans->set_estimates({{0, 7}, {0, 7}, {0, 2}, {0, 300}});
        output.set_estimates({{0, 7}, {0, 7}, {0, 21}, {0, 300}});
        par.set_estimates();
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformPsroiPoolGenerator, deform_psroi_pool)
