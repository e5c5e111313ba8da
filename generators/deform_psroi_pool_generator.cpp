// deform_psroi_pool: deformable (position-sensitive) RoI pooling, exactly
// docs/operators.md (deform_psroi_pool) (MSRA DeformablePSROIPooling forward).
// Only the algorithm lives here; schedules in schedules/<backend>/.
//
// Halide dimensions are innermost first: input (W, H, C, N), rois (5, R),
// trans (part, part, 2*num_classes, R), outputs (P, P, output_dim, R).

#include "Halide.h"
#include "common.h"
#include "dcn_tunables.h"
#include "cpu/roi_pool.h"
#include "cuda/roi_pool.h"
#include "roi_pool_algorithm.h"

namespace {

using namespace Halide;

class DeformPsroiPoolGenerator : public Generator<DeformPsroiPoolGenerator> {
public:
    GeneratorParam<bool> with_trans{"with_trans", false};

    // Element type of every tensor (cmake/DcnRegistry.cmake's dtypes).
    GeneratorParam<Type> dtype{"dtype", Float(32)};

    // CPU schedule tunables (schedules/cpu/roi_pool.h; 1 and 1 = untuned).
    GeneratorParam<int> rois_per_task{"rois_per_task", dcn::tunables::default_of("deform_psroi_pool", "rois_per_task")};
    GeneratorParam<int> channel_vectors{"channel_vectors", dcn::tunables::default_of("deform_psroi_pool", "channel_vectors")};

    Input<Buffer<void, 4>> input{"input"};
    Input<Buffer<void, 2>> rois{"rois"};
    Input<float> spatial_scale{"spatial_scale", 1.0f};
    Input<int> output_dim{"output_dim", 1, 1, 1 << 24};
    Input<int> group_size{"group_size", 1, 1, 1 << 12};
    Input<int> pooled_size{"pooled_size", 7, 1, 1 << 12};
    Input<int> part_size{"part_size", 7, 1, 1 << 12};
    Input<int> sample_per_part{"sample_per_part", 4, 1, 1 << 12};
    Input<float> trans_std{"trans_std", 0.0f};
    // (value, count of samples inside the image), both (P, P, output_dim, R).
    Output<Func> output{"output", 4};  // types: (dtype, dtype), set in configure()

    Input<Buffer<>> *trans = nullptr;  // 4-D

    void configure() {
        input.set_type(dtype);
        rois.set_type(dtype);
        output.set_type({dtype, dtype});
        if (with_trans) trans = add_input<Buffer<>>("trans", dtype, 4);
    }

    void generate() {
        dcn::DeformPsroiPoolStages s;
        const Type t = dtype;
        s.type = t;
        auto k = [&](double v) { return Internal::make_const(t, v); };  // a constant of the dtype
        const Var &pw = s.pw, &ph = s.ph, &ct = s.ct, &cc = s.cc, &cls = s.cls, &r = s.r;
        const Var &iw = s.iw, &ih = s.ih, &x = s.x, &y = s.y, &n = s.n, &gi = s.gi;

        Expr W = input.dim(0).extent(), H = input.dim(1).extent(), N = input.dim(3).extent();
        Expr G = group_size, P = pooled_size;
        Expr num_classes = with_trans ? max(trans->dim(2).extent() / 2, 1) : Expr(1);
        Expr per_class = max(output_dim / num_classes, 1);

        s.input_ps(ct, x, y, gi, n) = input(x, y, ct * G * G + gi, n);

        // The RoI box: C's round() on the corners, +1 on the far corner,
        // a minimum size of 0.1.
        Expr batch = dcn::roi_batch_index(rois(0, r), N);
        Expr scale = cast(t, spatial_scale);
        Expr start_w = dcn::round_half_away(rois(1, r)) * scale - 0.5f;
        Expr start_h = dcn::round_half_away(rois(2, r)) * scale - 0.5f;
        Expr end_w = (dcn::round_half_away(rois(3, r)) + 1.0f) * scale - 0.5f;
        Expr end_h = (dcn::round_half_away(rois(4, r)) + 1.0f) * scale - 0.5f;
        // The minimum RoI size 0.1. Halide's OpenCL code generator prints a
        // float64 constant through float (float_from_bits), which would
        // round 0.1: there it is made at run time, P / (10 P), exactly the
        // double nearest 0.1 (a correctly rounded quotient of exact integers).
        Expr min_size = k(0.1);
        if (get_target().has_feature(Target::OpenCL) && t.bits() == 64)
            min_size = cast(t, P) / cast(t, P * 10);
        Expr roi_w = max(end_w - start_w, min_size), roi_h = max(end_h - start_h, min_size);
        Expr bin_w = roi_w / cast(t, P), bin_h = roi_h / cast(t, P);
        Expr sub_w = bin_w / cast(t, sample_per_part), sub_h = bin_h / cast(t, sample_per_part);

        // The part cell of a bin, computed in float as MSRA does (strict, so
        // that fast-math cannot reassociate it and move a floor()).
        auto part_of = [&](const Expr &p) {
            Expr f = strict_float(floor(cast<float>(p) / cast<float>(P) * cast<float>(part_size)));  // float, as MSRA (any dtype)
            return clamp(cast<int>(f), 0, part_size - 1);
        };
        Expr trans_x = k(0), trans_y = k(0);
        if (with_trans) {
            trans_x = (*trans)(part_of(pw), part_of(ph), 2 * cls, r) * cast(t, trans_std);  // x first
            trans_y = (*trans)(part_of(pw), part_of(ph), 2 * cls + 1, r) * cast(t, trans_std);
        }
        Expr wstart = cast(t, pw) * bin_w + start_w + trans_x * roi_w;
        Expr hstart = cast(t, ph) * bin_h + start_h + trans_y * roi_h;

        // Samples (not centred). Skipped outside [-0.5, W-0.5] x [-0.5, H-0.5]
        // (and when not finite); otherwise clamped into the image.
        Expr sw = wstart + cast(t, iw) * sub_w, sh = hstart + cast(t, ih) * sub_h;
        Expr Wf = cast(t, W), Hf = cast(t, H);
        Expr valid = is_finite(sw) && is_finite(sh) && sw >= -0.5f && sw <= Wf - 0.5f && sh >= -0.5f &&
                     sh <= Hf - 0.5f;
        Expr wc = clamp(select(valid, sw, k(0)), k(0), Wf - 1.0f);
        Expr hc = clamp(select(valid, sh, k(0)), k(0), Hf - 1.0f);
        Expr x1 = clamp(cast<int>(floor(wc)), 0, W - 1), y1 = clamp(cast<int>(floor(hc)), 0, H - 1);
        Expr dx = wc - cast(t, x1), dy = hc - cast(t, y1);
        Expr v = select(valid, k(1), k(0));
        s.valid(iw, ih, pw, ph, cls, r) = v;
        s.sample(iw, ih, pw, ph, cls, r) = Tuple(y1, x1, (1.0f - dx) * (1.0f - dy) * v, (1.0f - dx) * dy * v,
                                                 dx * (1.0f - dy) * v, dx * dy * v, v);

        // Position-sensitive group of the bin.
        Expr gw = clamp(pw * G / P, 0, G - 1), gh = clamp(ph * G / P, 0, G - 1);
        s.s = RDom(0, sample_per_part, 0, sample_per_part, "s");
        Tuple smp = s.sample(s.s.x, s.s.y, pw, ph, cls, r);
        Expr sy1 = smp[0], sx1 = smp[1];
        Expr sx2 = min(sx1 + 1, W - 1), sy2 = min(sy1 + 1, H - 1);  // MSRA's ceil(); its weight is 0 at the edge
        Expr c_out = cls * per_class + cc, g_idx = gh * G + gw;
        s.pooled(cc, cls, pw, ph, r) = k(0);
        s.pooled(cc, cls, pw, ph, r) += smp[2] * s.input_ps(c_out, sx1, sy1, g_idx, batch) +
                                        smp[3] * s.input_ps(c_out, sx1, sy2, g_idx, batch) +
                                        smp[4] * s.input_ps(c_out, sx2, sy1, g_idx, batch) +
                                        smp[5] * s.input_ps(c_out, sx2, sy2, g_idx, batch);
        s.count(pw, ph, cls, r) = k(0);
        s.count(pw, ph, cls, r) += s.valid(s.s.x, s.s.y, pw, ph, cls, r);

        Expr out_cls = clamp(ct / per_class, 0, num_classes - 1);
        Expr out_cc = clamp(ct - out_cls * per_class, 0, per_class - 1);
        Expr sum = s.pooled(out_cc, out_cls, pw, ph, r), cnt = s.count(pw, ph, out_cls, r);
        output(pw, ph, ct, r) = Tuple(select(cnt > 0.0f, sum / max(cnt, k(1)), k(0)), cnt);
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
        spatial_scale.set_estimate(1.0f / 16);
        output_dim.set_estimate(21);
        group_size.set_estimate(7);
        pooled_size.set_estimate(7);
        part_size.set_estimate(7);
        sample_per_part.set_estimate(4);
        trans_std.set_estimate(0.1f);
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformPsroiPoolGenerator, deform_psroi_pool)
