# The CPU schedules' tunables, stated once (statements: cmake/DcnLists.cmake).
# Read by the build, which generates build/generated/dcn_tunables.h from this
# file for the generators (the GeneratorParams' defaults), the schedules, the
# tuner (candidates), the runtime (shape features) and validates
# schedules/tuned/*.json against it (cmake/DcnTunedFiles.cmake).
#
#   dcn_tunable(op name DEFAULT d MIN lo MAX hi CANDIDATES v... DOC "...")
#   dcn_shape_feature(op name "definition"): what a tuned shape class is
#       matched on at run time, in this order (a tuned file gives an
#       inclusive [lo, hi] range for each).
#
# GPU schedules have no tunables yet.

# schedules/cpu/deform_conv2d.h
dcn_tunable(deform_conv2d tile_pixels DEFAULT 0 MIN 0 MAX 32 CANDIDATES 0 3 4 5 6 8 10 12 14
            DOC "pixels per register tile; 0 = derived (6 with channel_vectors 2 on every path, 10 for the bfloat16 pairs of avx512_bf16: schedules/cpu/deform_conv2d.h)")
dcn_tunable(deform_conv2d channel_vectors DEFAULT 2 MIN 1 MAX 8 CANDIDATES 1 2 3 4
            DOC "vectors of output channels per register tile")
dcn_tunable(deform_conv2d column_tiles DEFAULT 0 MIN 0 MAX 64 CANDIDATES 0 1 2 4 6 8 12 16
            DOC "register tiles per column tile; 0 = about 48 pixels")
dcn_tunable(deform_conv2d reduction_unroll DEFAULT 4 MIN 1 MAX 16 CANDIDATES 1 2 4 8
            DOC "unroll factor of the channel loop")
dcn_shape_feature(deform_conv2d out_channels "K, the output channels")
dcn_shape_feature(deform_conv2d reduction "C/groups*kH*kW, the length of each output's sum")
dcn_shape_feature(deform_conv2d pixels "oH*oW, output pixels per image")

# schedules/cpu/roi_pool.h (1 and 1 are the untuned schedule)
dcn_tunable(deform_psroi_pool rois_per_task DEFAULT 1 MIN 1 MAX 64 CANDIDATES 1 2 4 8 16
            DOC "RoIs per parallel task")
dcn_tunable(deform_psroi_pool channel_vectors DEFAULT 1 MIN 1 MAX 4 CANDIDATES 1 2
            DOC "vectors of channels per vector loop")
dcn_shape_feature(deform_psroi_pool channels "C, the input channels (output_dim*group_size^2)")
dcn_shape_feature(deform_psroi_pool rois "R, the RoIs")

dcn_tunable(deform_roi_pool rois_per_task DEFAULT 1 MIN 1 MAX 64 CANDIDATES 1 2 4 8 16
            DOC "RoIs per parallel task")
dcn_tunable(deform_roi_pool channel_vectors DEFAULT 1 MIN 1 MAX 4 CANDIDATES 1 2 4
            DOC "vectors of channels per vector loop")
dcn_shape_feature(deform_roi_pool channels "C, the input channels")
dcn_shape_feature(deform_roi_pool rois "R, the RoIs")
