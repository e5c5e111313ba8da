"""What peers.py measures: the shape table, the RoI cases, the implementations, tolerances."""
import os

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
ROOT = os.path.dirname(HERE)

# (name, N, C, H, W, K, stride, offset_groups, DCNv2 mask); 3x3, pad 1, no bias.
# Keep in sync with kCases in bench/conv_shapes.h.
CONV_SHAPES = [
    ("c3_1x128x100x168_k128_dcnv2", 1, 128, 100, 168, 128, 1, 1, True),
    ("c4_1x256x50x84_k256_dcnv2", 1, 256, 50, 84, 256, 1, 1, True),
    ("c5_1x512x25x42_k512_dcnv2", 1, 512, 25, 42, 512, 1, 1, True),
    ("c4entry_1x256x100x168_k256_s2_dcnv1", 1, 256, 100, 168, 256, 2, 1, False),
    ("cls_8x256x14x14_k256_og4_dcnv2", 8, 256, 14, 14, 256, 1, 4, True),
    ("small_1x64x56x56_k64_dcnv2", 1, 64, 56, 56, 64, 1, 1, True),
]
CONV_DESCRIPTIONS = {
    "c3_1x128x100x168_k128_dcnv2": "ResNet-50 c3, 1x128x100x168 -> 128, DCNv2",
    "c4_1x256x50x84_k256_dcnv2": "ResNet-50 c4, 1x256x50x84 -> 256, DCNv2",
    "c5_1x512x25x42_k512_dcnv2": "ResNet-50 c5, 1x512x25x42 -> 512, DCNv2",
    "c4entry_1x256x100x168_k256_s2_dcnv1": "c4 entry, 1x256x100x168 -> 256, stride 2, DCNv1",
    "cls_8x256x14x14_k256_og4_dcnv2": "classification, 8x256x14x14 -> 256, 4 offset groups, DCNv2",
    "small_1x64x56x56_k64_dcnv2": "small, 1x64x56x56 -> 64, DCNv2",
}
IMPLS = ["dcn", "torchvision", "onnxruntime", "conv2d", "conv2d_nhwc"]
IMPL_LABELS = {
    "dcn": "dcn",
    "torchvision": "torchvision deform_conv2d",
    "onnxruntime": "onnxruntime DeformConv",
    "conv2d": "torch conv2d (oneDNN, NCHW)",
    "conv2d_nhwc": "torch conv2d (oneDNN, channels_last)",
}
SPATIAL_SCALE = 1.0 / 16
# The Faster R-CNN-like deform_roi_pool case and the R-FCN-like
# deform_psroi_pool case; their inputs come from bench/make_roi_inputs.py
# (keep in sync with bench/roi_pool_bench.cpp).
FRCNN = dict(R=512, C=256, H=50, W=84, P=7, sampling_ratio=2, gamma=0.1)
RFCN = dict(R=300, output_dim=21, group_size=7, P=7, H=38, W=63, sample_per_part=4, trans_std=0.1)
RTOL = ATOL = 1e-4
NOMINAL_PEAK = "2 cores x 2 FMA pipes x 8 lanes (a 512-bit FMA is two 256-bit halves on Zen 4) x 2 FLOP x ~3.6 GHz = ~230 GFLOP/s"

LIBRARY_SOURCES = ["CMakeLists.txt", "cmake", "generators", "schedules", "runtime", "tools"]
QUIET_CPUS = 0.25
