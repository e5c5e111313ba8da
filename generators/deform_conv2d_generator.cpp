// deform_conv2d: deformable convolution (DCNv1, DCNv2 with a mask), float32
// NCHW, exactly docs/operators.md (deform_conv2d) (torchvision / ONNX
// DeformConv semantics), the CPU kernel: one fused pass (columns and GEMM
// tile by tile). Only the algorithm lives here; the schedule is in
// schedules/cpu/deform_conv2d.h. On a GPU deform_conv2d is two stages
// instead: deform_conv2d_columns, then a GEMM (cuBLASLt, or
// deform_conv2d_gemm).
//
// Halide dimensions are innermost first, so an NCHW tensor is (W, H, C, N);
// the output is (oH*oW, K, N), its pixels flattened.

#include "Halide.h"
#include "common.h"
#include "storage16.h"
#include "dcn_tunables.h"
#include "stages/deform_conv2d.h"
#include "deform_conv2d_inputs.h"
#include "deform_conv2d_sampling.h"
#include "cpu/deform_conv2d.h"

namespace {

using namespace Halide;

class DeformConv2dGenerator : public Generator<DeformConv2dGenerator> {
public:
    // Variants: one algorithm, optional inputs chosen by parameter.
    GeneratorParam<bool> with_mask{"with_mask", false};
    GeneratorParam<bool> with_bias{"with_bias", false};

    // Element type of every tensor (cmake/DcnRegistry.cmake's dtypes).
    GeneratorParam<Type> dtype{"dtype", Float(32)};
    // The type the kernel computes in (dcn::compute_type; the list's ACCUM).
    GeneratorParam<Type> accum{"accum", Float(32)};

    // CPU schedule tunables (schedules/cpu/deform_conv2d.h has the reasons
    // for the defaults; schedules/cpu/tunables.cmake states them).
    GeneratorParam<int> tile_pixels{"tile_pixels", dcn::tunables::default_of("deform_conv2d", "tile_pixels")};
    GeneratorParam<int> channel_vectors{"channel_vectors", dcn::tunables::default_of("deform_conv2d", "channel_vectors")};
    GeneratorParam<int> column_tiles{"column_tiles", dcn::tunables::default_of("deform_conv2d", "column_tiles")};
    GeneratorParam<int> reduction_unroll{"reduction_unroll", dcn::tunables::default_of("deform_conv2d", "reduction_unroll")};

    Input<Buffer<void, 4>> input{"input"};    // (W, H, C, N)
    Input<Buffer<void, 4>> offset{"offset"};  // (oW, oH, 2*G*kH*kW, N)
    Input<Buffer<void, 4>> weight{"weight"};  // (kW, kH, C/groups, K)
    dcn::DeformConv2dGeometryInputs conv;  // stride, padding, dilation, groups, offset groups
    // (oH*oW, K, N): the output's pixels flattened in raster order, so that
    // a schedule can tile pixels across rows (the runtime passes an NCHW
    // tensor with contiguous rows this way).
    Output<Buffer<void, 3>> output{"output"};

    Input<Buffer<>> *mask = nullptr;  // 4-D  // (oW, oH, G*kH*kW, N)
    Input<Buffer<>> *bias = nullptr;  // 1-D  // (K)

    void configure() {
        dcn::compute_type(dtype, accum, true);
        for (auto *b : {&input, &offset, &weight}) b->set_type(dtype);
        output.set_type(dtype);
        if (with_mask) mask = add_input<Buffer<>>("mask", dtype, 4);
        if (with_bias) bias = add_input<Buffer<>>("bias", dtype, 1);
    }

    // After generate(): dcn's own 16-bit conversions where Halide's fail (storage16.h).
    void schedule() { dcn::add_storage16_passes(get_pipeline(), get_target(), dtype); }

    void generate() {
        dcn::DeformConv2dStages s;
        // Storage in `dtype`, arithmetic in t (float32 for 16-bit storage):
        // every read is converted once where it is staged (the repacked
        // input, the packed weights, the sample's offsets and mask, the
        // bias), the output converted back once.
        const Type t = dcn::compute_type(dtype, accum, true);
        s.type = t;
        const Var &p = s.p, &o = s.o, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &g = s.g, &ci = s.ci;

        Expr W = input.dim(0).extent(), H = input.dim(1).extent();
        Expr C = input.dim(2).extent();
        Expr kW = weight.dim(0).extent(), kH = weight.dim(1).extent();
        Expr Cg = weight.dim(2).extent(), K = weight.dim(3).extent();
        Expr taps = kH * kW;
        Expr oW = offset.dim(0).extent(), oH = offset.dim(1).extent();
        Expr channels_per_og = C / conv.offset_groups;
        Expr outputs_per_group = K / conv.groups;
        _halide_user_assert(!get_target().has_gpu_feature())
            << "deform_conv2d's GPU path is deform_conv2d_columns + a GEMM (cmake/DcnRegistry.cmake)";

        // Input repacked channels-innermost with a zero exterior. Sample
        // corners are clamped to [-2, H] x [-2, W] (a sample outside the
        // image reads only the border: deform_conv2d_forward_sample), so
        // this is the only region ever read: a bounded repack whatever the
        // offsets are.
        // With pairs (dcn::gemm_pair) an offset group's channels are padded
        // to even, and the last group's padding channel reads channel C:
        // zero past the channels too (the columns' channel index stays
        // unclamped, so their loads stay dense vectors).
        const bool pairs = dcn::gemm_pair(dcn::gemm_operand_type(get_target(), dtype, t)) > 1;
        Region inside = {{0, W}, {0, H}};
        if (pairs) inside.push_back({0, C});
        Func input_zero = BoundaryConditions::constant_exterior(input, Internal::make_zero(Type(dtype)), inside);
        s.input_cl(c, x, y, n) = cast(t, input_zero(x, y, c, n));

        // Output pixel p (raster order) is row p / oW, column p % oW, found
        // once per pixel (not per tap). A schedule may compute whole tiles
        // past the last pixel: clamp p.
        Expr pc = clamp(p, 0, oH * oW - 1);
        s.pixel(p) = Tuple(pc / oW, pc % oW);
        Expr py = s.pixel(p)[0], px = s.pixel(p)[1];
        Func offset_c = dcn::deform_conv2d_per_pixel(offset, oW, oH, t, "offset_c");
        Func mask_c = with_mask ? dcn::deform_conv2d_per_pixel(*mask, oW, oH, t, "mask_c") : Func();
        s.sample(p, k, g, n) =
            dcn::deform_conv2d_forward_sample_of(conv.geometry(H, W, kW, taps), offset_c, mask_c, py, px, k, g, n, t);

        // The GEMM's operand type and pairing (bfloat16 pairs on the
        // AVX512-BF16 path, else the compute type one by one).
        const Type gt = dcn::gemm_operand_type(get_target(), dtype, t);
        const int R = dcn::gemm_pair(gt);
        s.operand_type = gt;
        s.pair = R;
        Expr one_group = conv.groups == 1;
        // The channels one pass of the reduction runs over: an offset
        // group's (one group), a group's (several), padded to pairs.
        Expr span = select(one_group, channels_per_og, Cg);
        Expr span_pairs = R == 1 ? span : (span + (R - 1)) / R;

        // Sampled columns, indexed by (channel within its offset group,
        // offset group): the sample is the same for a whole run of channels,
        // so a schedule can vectorise over channels with one sample.
        Expr c_in = g * channels_per_og + ci;
        // The schedule's regions are exact, or with pairs one channel past
        // the last, which input_cl holds as 0 (the index stays unclamped so
        // that its loads are vectors).
        Expr column = dcn::deform_conv2d_column(s.sample(p, k, g, n), s.input_cl, c_in, n);
        // The padding channel is 0, not the next offset group's channel
        // (with one offset group it is channel C, which input_cl holds as
        // 0: no select, in that specialisation).
        if (R > 1) column = select(ci < channels_per_og || conv.offset_groups == 1, column, Internal::make_zero(t));
        s.columns(ci, g, k, p, n) = cast(gt, column);

        // Weights in blocks of output channels (the block is the schedule's
        // accumulator width); o is clamped because a schedule may compute
        // whole blocks past K. With pairs: lane o = 2*(output in block) +
        // (channel in pair), ci = pair of the padded channels, the padding 0.
        const int wb = dcn::deform_conv2d_cpu_weight_block(get_target(), t, cpu_params());
        {
            Expr w_out = R == 1 ? Expr(o) : o / R;
            Expr w_ci = ci;
            Expr real = Internal::const_true();
            if (R > 1) {
                Expr padded = ci * R + o % R;       // channel in the padded order
                Expr span_pad = span_pairs * R;
                Expr in_span = padded % span_pad;   // its span, its place in it
                real = in_span < span;
                w_ci = clamp((padded / span_pad) * span + in_span, 0, Cg - 1);
            }
            Expr w = cast(gt, weight(k % kW, k / kW, w_ci, min(s.ob * wb + w_out, K - 1)));
            s.weight_packed(o, ci, k, s.ob) = R == 1 ? w : select(real, w, Internal::make_zero(gt));
        }

        // The reduction over (input channel, tap). With one group it runs
        // over (channel within offset group, offset group, tap), which needs
        // no division anywhere; with several groups a group's channels may
        // straddle offset groups, so it runs over the group's channels and
        // finds each one's offset group (slower, rare in practice).
        Expr o_c = min(o, K - 1);
        Region ranges;
        if (R > 1) ranges.push_back({0, R});
        ranges.push_back({0, span_pairs});
        ranges.push_back({0, select(one_group, conv.offset_groups, 1)});
        ranges.push_back({0, taps});
        s.r = RDom(ranges, "r");
        {
            int d = 0;
            if (R > 1) s.r_lane = s.r[d++];
            s.r_ch = s.r[d++];
            s.r_og = s.r[d++];
            s.r_tap = s.r[d++];
        }
        // The channel within the span (padded with pairs).
        Expr ch = R == 1 ? Expr(s.r_ch) : s.r_ch * R + s.r_lane;
        // Each input channel's (offset group, channel within it), once per
        // call, so that no reduction step divides.
        s.channel_og(c) = Tuple(c / max(channels_per_og, 1), c % max(channels_per_og, 1));
        Expr group_base = (o_c / max(outputs_per_group, 1)) * Cg;
        Expr c_grouped = clamp(group_base + ch, 0, C - 1);
        Expr grouped_ci = clamp(s.channel_og(c_grouped)[1], 0, channels_per_og - 1);
        // A group's padding channel reads a padding column (0).
        if (R > 1) grouped_ci = select(ch < Cg, grouped_ci, channels_per_og);
        Expr col_ci = select(one_group, ch, grouped_ci);
        Expr col_g = select(one_group, s.r_og, clamp(s.channel_og(c_grouped)[0], 0, conv.offset_groups - 1));
        Expr w_ci = select(one_group, s.r_og * span_pairs + s.r_ch, s.r_ch);
        Expr w_lane = R == 1 ? o % wb : (o % wb) * R + s.r_lane;
        s.accum(o, p, n) = with_bias ? cast(t, (*bias)(o_c)) : Internal::make_zero(t);
        s.accum(o, p, n) += cast(t, s.weight_packed(w_lane, w_ci, s.r_tap, o / wb)) *
                            cast(t, s.columns(col_ci, col_g, s.r_tap, p, n));

        output(p, o, n) = cast(Type(dtype), s.accum(o, p, n));
        s.output = output;

        s.groups = conv.groups;
        s.offset_groups = conv.offset_groups;

        set_estimates_for_autoschedulers();
        if (using_autoscheduler()) return;
        dcn::schedule_deform_conv2d_cpu(s, get_target(), cpu_params());
    }

private:
    dcn::DeformConv2dCpuParams cpu_params() const { return {tile_pixels, channel_vectors, column_tiles, reduction_unroll}; }

    // Estimates (ResNet-50 c4, 3x3) for Halide's autoschedulers.
    void set_estimates_for_autoschedulers() {
        input.set_estimates({{0, 84}, {0, 50}, {0, 256}, {0, 1}});
        offset.set_estimates({{0, 84}, {0, 50}, {0, 18}, {0, 1}});
        weight.set_estimates({{0, 3}, {0, 3}, {0, 256}, {0, 256}});
        if (mask) mask->set_estimates({{0, 84}, {0, 50}, {0, 9}, {0, 1}});
        if (bias) bias->set_estimates({{0, 256}});
        output.set_estimates({{0, 84 * 50}, {0, 256}, {0, 1}});
        conv.set_estimates();
    }
};

}  // namespace

HALIDE_REGISTER_GENERATOR(DeformConv2dGenerator, deform_conv2d)
