#!/usr/bin/env python3
"""Writes random deformable RoI pooling inputs as .npy files for `dcn deform-psroi-pool`
and `dcn deform-roi-pool`: the two benchmark cases.

    python bench/make_roi_inputs.py --case rfcn|frcnn --out DIR [--seed S]

rfcn:  Deformable R-FCN head (ResNet-101, stride 16): 300 RoIs, output_dim 21
       (VOC classes + background), group_size 7, pooled 7, so the score map
       has C = 21 * 7 * 7 = 1029 channels at 38x63 (an image of about
       608x1008); trans (300, 2, 7, 7) ~ N(0, 1) (class-agnostic, used with
       trans_std 0.1).  Writes input.npy, rois.npy, trans.npy.
frcnn: Faster R-CNN + deformable RoI pooling (mmcv DeformRoIPool): 512 RoIs
       on a 256 x 50x84 feature map (an image of 800x1344), 7x7 output,
       offset (512, 2, 7, 7) ~ 0.1 * N(0, 1).  Writes input.npy, rois.npy,
       offset.npy.

RoIs are plausible proposals: log-uniform sizes from 16 px to most of the
image, aspect ratios 1:3 to 3:1, clipped to the image, batch index 0. Prints
the `dcn` command that runs the case. Needs numpy (bench-only:
`.venv/bin/pip install numpy`).
"""
import argparse
import os

import numpy as np

CASES = {
    # name: (channels, feature H, W, RoIs, stride)
    "rfcn": (21 * 7 * 7, 38, 63, 300, 16),
    "frcnn": (256, 50, 84, 512, 16),
}


def random_boxes(rng, n, img_h, img_w):
    """n boxes (x1, y1, x2, y2) inside an img_h x img_w image."""
    area = np.exp(rng.uniform(np.log(16.0 * 16.0), np.log(0.6 * img_h * img_w), n))
    aspect = np.exp(rng.uniform(np.log(1 / 3), np.log(3), n))  # h / w
    w = np.minimum(np.sqrt(area / aspect), img_w - 1)
    h = np.minimum(w * aspect, img_h - 1)
    cx = rng.uniform(w / 2, img_w - 1 - w / 2)
    cy = rng.uniform(h / 2, img_h - 1 - h / 2)
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, img_w - 1)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, img_h - 1)
    return boxes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    c, h, w, r, stride = CASES[a.case]
    rng = np.random.default_rng(a.seed)
    f32 = np.float32
    os.makedirs(a.out, exist_ok=True)
    path = lambda name: os.path.join(a.out, name)

    np.save(path("input.npy"), rng.uniform(-1, 1, (1, c, h, w)).astype(f32))
    rois = np.zeros((r, 5), f32)
    rois[:, 1:] = random_boxes(rng, r, h * stride, w * stride)
    np.save(path("rois.npy"), rois)
    scale = 1.0 / stride
    if a.case == "rfcn":
        np.save(path("trans.npy"), rng.normal(0, 1, (r, 2, 7, 7)).astype(f32))
        cmd = ("dcn deform-psroi-pool --input {0}/input.npy --rois {0}/rois.npy --trans {0}/trans.npy "
               "--output-dim 21 --group-size 7 --pooled-size 7 --part-size 7 --sample-per-part 4 "
               "--trans-std 0.1 --spatial-scale {1} --output {0}/out.npy --count {0}/count.npy --repeat 20")
    else:
        np.save(path("offset.npy"), (0.1 * rng.normal(0, 1, (r, 2, 7, 7))).astype(f32))
        cmd = ("dcn deform-roi-pool --input {0}/input.npy --rois {0}/rois.npy --offset {0}/offset.npy "
               "--output-size 7,7 --spatial-scale {1} --sampling-ratio 2 --gamma 0.1 "
               "--output {0}/out.npy --repeat 20")
    print(cmd.format(a.out, scale))


if __name__ == "__main__":
    main()
