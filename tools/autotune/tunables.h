// The schedule tunables of every operator: the one list that the autotuner
// (tools/autotune), the build's validation of schedules/tuned/*.json
// (cmake/DcnTunedFiles.cmake) and the runtime's choice of a tuned shape
// class (runtime/src/kernels.h) read.
//
// cmake/DcnTunedFiles.cmake parses the DCN_* lines below with regular
// expressions: keep one entry per line, in exactly this form.
//
//   DCN_OPERATOR(op, "variant GeneratorParams")
//       op is the generator's registered name; the variant parameters
//       (booleans, one library each) are set by the build, never tuned.
//   DCN_TUNABLE(op, name, default, min, max, "candidates")
//       a GeneratorParam<int> of the CPU schedule: its default (must equal
//       the generator's), the range a tuned file may use, and the values the
//       tuner tries (ascending, within [min, max], including the default).
//   DCN_SHAPE_FEATURE(op, name, "definition")
//       the quantities a tuned shape class is matched on at run time, in
//       this order (a tuned file gives an inclusive [lo, hi] range for each).
//
// When a schedule GeneratorParam is added, renamed, removed or its default
// changes, update this list: `dcn-autotune --check-tunables` (the test
// autotune.tunables_match_generators) compares it with the generators'
// actual GeneratorParams and fails on any difference, and the tuner refuses
// to run on a name the generator lacks. Tuned files naming a tunable that
// is no longer listed stop the configure step: retune them.
//
// GPU schedules have no tunables yet.
#pragma once

#include <cstdint>

namespace dcn::tunables {

struct Operator {
    const char *op;
    const char *variant_params;  // space-separated
};
struct Tunable {
    const char *op, *name;
    int default_value, min, max;
    const char *candidates;  // space-separated integers, ascending
};
struct ShapeFeature {
    const char *op, *name, *definition;
};

#define DCN_OPERATOR(op, variants) {#op, variants},
#define DCN_TUNABLE(op, name, def, lo, hi, candidates) {#op, #name, def, lo, hi, candidates},
#define DCN_SHAPE_FEATURE(op, name, definition) {#op, #name, definition},

inline constexpr Operator kOperators[] = {
DCN_OPERATOR(deform_conv2d, "with_mask with_bias")
DCN_OPERATOR(deform_psroi_pool, "with_trans")
DCN_OPERATOR(deform_roi_pool, "with_offset with_mask")
};

inline constexpr Tunable kTunables[] = {
// schedules/cpu/deform_conv2d.h. tile_pixels 0 = derived from the target's
// registers (14 on AVX-512, 6 on AVX2/SSE4.1 with channel_vectors 2);
// column_tiles 0 = about 48 pixels per column tile.
DCN_TUNABLE(deform_conv2d, tile_pixels, 0, 0, 32, "0 3 4 5 6 8 10 12 14")
DCN_TUNABLE(deform_conv2d, channel_vectors, 2, 1, 8, "1 2 3 4")
DCN_TUNABLE(deform_conv2d, column_tiles, 0, 0, 64, "0 1 2 4 6 8 12 16")
DCN_TUNABLE(deform_conv2d, reduction_unroll, 4, 1, 16, "1 2 4 8")
// schedules/cpu/roi_pool.h: RoIs per parallel task, vectors of channels
// per vector loop (1 and 1 are the untuned schedule).
DCN_TUNABLE(deform_psroi_pool, rois_per_task, 1, 1, 64, "1 2 4 8 16")
DCN_TUNABLE(deform_psroi_pool, channel_vectors, 1, 1, 4, "1 2")
DCN_TUNABLE(deform_roi_pool, rois_per_task, 1, 1, 64, "1 2 4 8 16")
DCN_TUNABLE(deform_roi_pool, channel_vectors, 1, 1, 4, "1 2 4")
};

inline constexpr ShapeFeature kShapeFeatures[] = {
DCN_SHAPE_FEATURE(deform_conv2d, out_channels, "K, the output channels")
DCN_SHAPE_FEATURE(deform_conv2d, reduction, "C/groups*kH*kW, the length of each output's sum")
DCN_SHAPE_FEATURE(deform_conv2d, pixels, "oH*oW, output pixels per image")
DCN_SHAPE_FEATURE(deform_psroi_pool, channels, "C, the input channels (output_dim*group_size^2)")
DCN_SHAPE_FEATURE(deform_psroi_pool, rois, "R, the RoIs")
DCN_SHAPE_FEATURE(deform_roi_pool, channels, "C, the input channels")
DCN_SHAPE_FEATURE(deform_roi_pool, rois, "R, the RoIs")
};

#undef DCN_OPERATOR
#undef DCN_TUNABLE
#undef DCN_SHAPE_FEATURE

// At most this many shape features per operator (the runtime's tables).
inline constexpr int kMaxShapeFeatures = 4;

constexpr bool same(const char *a, const char *b) {
    while (*a && *a == *b) ++a, ++b;
    return *a == *b;
}

// Position of a feature in its operator's list, -1 if absent (constexpr:
// the runtime static_asserts the order it computes features in).
constexpr int shape_feature_index(const char *op, const char *name) {
    int i = 0;
    for (const ShapeFeature &f : kShapeFeatures) {
        if (!same(f.op, op)) continue;
        if (same(f.name, name)) return i;
        ++i;
    }
    return -1;
}

constexpr int shape_feature_count(const char *op) {
    int n = 0;
    for (const ShapeFeature &f : kShapeFeatures) n += same(f.op, op) ? 1 : 0;
    return n;
}

}  // namespace dcn::tunables
