// Google Benchmark of dcn's deformable RoI pooling on detector-sized cases,
// reporting bilinear samples per second (Gsamples/s, as `dcn ... --repeat`):
//   - R-FCN-like deform_psroi_pool: 300 RoIs, 7x7 bins, group_size 7,
//     output_dim 21 (C = 1029), a 38x63 map, spatial_scale 1/16,
//     sample_per_part 4, trans_std 0.1, with trans (R, 2, 7, 7);
//   - Faster R-CNN-like deform_roi_pool: 512 RoIs, C = 256, 7x7, a 50x84 map,
//     spatial_scale 1/16, sampling_ratio 2, without offset (what
//     torchvision.ops.roi_align computes), with offset (gamma 0.1), and
//     modulated (offset and mask).
//
//   build/bin/dcn_bench_roi [--threads N] [Google Benchmark flags]
//
// Inputs follow bench/make_roi_inputs.py's recipe (same distributions, not
// the same numbers): uniform(-1, 1) maps, plausible proposals, trans ~
// N(0, 1), offset ~ 0.1 N(0, 1), mask uniform(0, 1).
//
// Threads: --threads, else HL_NUM_THREADS, else 2. 5 repetitions unless
// --benchmark_repetitions is given; read the median. Keep the cases in sync
// with bench/peers.py and bench/make_roi_inputs.py.
#include <map>
#include <memory>

#include "bench_common.h"

namespace {

constexpr float kScale = 1.0f / 16;

struct PsroiProblem {
    dcn::DeformPsroiPoolOptions opt;
    std::vector<int64_t> in_shape, rois_shape, trans_shape, out_shape;
    std::vector<float> x, rois, trans, out;
    double samples = 0;

    PsroiProblem() {
        const int64_t R = 300, D = 21, G = 7, P = 7, H = 38, W = 63;
        opt.spatial_scale = kScale;
        opt.output_dim = D;
        opt.group_size = G;
        opt.pooled_size = P;
        opt.part_size = P;
        opt.sample_per_part = 4;
        opt.trans_std = 0.1f;
        in_shape = {1, D * G * G, H, W};
        rois_shape = {R, 5};
        trans_shape = {R, 2, P, P};  // class-agnostic offsets, as R-FCN's
        std::mt19937 rng(7);
        x = dcn_bench::uniform(size_t(D * G * G * H * W), -1.0f, 1.0f, rng);
        rois = dcn_bench::random_rois(R, H / kScale, W / kScale, rng);
        trans = dcn_bench::normal(size_t(R * 2 * P * P), 1.0f, rng);
        out_shape = dcn::deform_psroi_pool_output_shape(in_shape, rois_shape, opt);
        out.assign(size_t(R * D * P * P), 0.0f);
        samples = dcn::deform_psroi_pool_samples(out_shape, opt);
    }

    void run() {
        dcn::deform_psroi_pool(dcn::TensorView(x.data(), in_shape), dcn::TensorView(rois.data(), rois_shape),
                               dcn::TensorView(trans.data(), trans_shape), dcn::TensorView(out.data(), out_shape),
                               std::nullopt, opt);
    }
};

struct RoiProblem {
    dcn::DeformRoiPoolOptions opt;
    std::vector<int64_t> in_shape, rois_shape, offset_shape, mask_shape, out_shape;
    std::vector<float> x, rois, offset, mask, out;
    bool with_offset, with_mask;
    double samples = 0;

    RoiProblem(bool with_offset_, bool with_mask_) : with_offset(with_offset_), with_mask(with_mask_) {
        const int64_t R = 512, C = 256, H = 50, W = 84, P = 7;
        opt.output_size = {int(P), int(P)};
        opt.spatial_scale = kScale;
        opt.sampling_ratio = 2;
        opt.gamma = 0.1f;
        in_shape = {1, C, H, W};
        rois_shape = {R, 5};
        offset_shape = {R, 2, P, P};
        mask_shape = {R, 1, P, P};
        std::mt19937 rng(11);
        x = dcn_bench::uniform(size_t(C * H * W), -1.0f, 1.0f, rng);
        rois = dcn_bench::random_rois(R, H / kScale, W / kScale, rng);
        offset = dcn_bench::normal(size_t(R * 2 * P * P), 0.1f, rng);
        mask = dcn_bench::uniform(size_t(R * P * P), 0.0f, 1.0f, rng);
        out_shape = dcn::deform_roi_pool_output_shape(in_shape, rois_shape, opt);
        out.assign(size_t(R * C * P * P), 0.0f);
        samples = dcn::deform_roi_pool_samples(dcn::TensorView(rois.data(), rois_shape), C, opt);
    }

    void run() {
        std::optional<dcn::TensorView> o, m;
        if (with_offset) o = dcn::TensorView(offset.data(), offset_shape);
        if (with_mask) m = dcn::TensorView(mask.data(), mask_shape);
        dcn::deform_roi_pool(dcn::TensorView(x.data(), in_shape), dcn::TensorView(rois.data(), rois_shape), o, m,
                             dcn::TensorView(out.data(), out_shape), opt);
    }
};

template <class Problem>
void bench_pool(benchmark::State &state, Problem *p) {
    try {
        p->run();  // warm-up
    } catch (const dcn::Error &e) {
        state.SkipWithError(e.what());
        return;
    }
    for (auto _ : state) {
        p->run();
        benchmark::DoNotOptimize(p->out.data());
        benchmark::ClobberMemory();
    }
    dcn_bench::set_rate(state, "samples", p->samples);
    state.SetLabel(std::string(dcn::cpu_isa_name(dcn::last_cpu_isa())) + " schedule=" + dcn::last_cpu_schedule());
}

}  // namespace

int main(int argc, char **argv) {
    dcn_bench::Setup setup = dcn_bench::parse_flags(argc, argv);
    if (setup.dtype != "float32") dcn_bench::usage_error(argv[0], "--dtype: the RoI poolings have float32 kernels only here");
    // Inputs are made once, here, not per repetition.
    static PsroiProblem psroi;
    static RoiProblem roi_plain(false, false), roi_offset(true, false), roi_modulated(true, true);
    const struct {
        const char *name;
        void (*fn)(benchmark::State &, void *);
        void *problem;
    } cases[] = {
        {"deform_psroi_pool/rfcn_r300_1x1029x38x63_d21_g7_p7_spp4_trans",
         [](benchmark::State &s, void *p) { bench_pool(s, static_cast<PsroiProblem *>(p)); }, &psroi},
        {"deform_roi_pool/frcnn_r512_1x256x50x84_p7_sr2",
         [](benchmark::State &s, void *p) { bench_pool(s, static_cast<RoiProblem *>(p)); }, &roi_plain},
        {"deform_roi_pool/frcnn_r512_1x256x50x84_p7_sr2_offset",
         [](benchmark::State &s, void *p) { bench_pool(s, static_cast<RoiProblem *>(p)); }, &roi_offset},
        {"deform_roi_pool/frcnn_r512_1x256x50x84_p7_sr2_offset_mask",
         [](benchmark::State &s, void *p) { bench_pool(s, static_cast<RoiProblem *>(p)); }, &roi_modulated},
    };
    for (const auto &c : cases)
        benchmark::RegisterBenchmark(c.name, c.fn, c.problem)->Unit(benchmark::kMillisecond)->UseRealTime();
    return dcn_bench::run(setup);
}
