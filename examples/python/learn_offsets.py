#!/usr/bin/env python3
"""The paper's claim in miniature: on a task whose geometry varies, a small
network whose last convolutions are deformable (offsets and a mask predicted
by a conv, dcn.nn.ModulatedDeformConv2dPack) against the same network with
plain 3x3 convolutions, trained the same way on the CPU over several seeds
(mean and spread of each); then the learned sampling locations drawn over
test images, as the paper's Figure 5.

The task: 40x40 images of one of four shapes, disc, ellipse (2:1), square
and rectangle (2:1), drawn with numpy at random scales (0.3-1.0 of the
image), rotations and positions, with a random line segment of clutter and
noise; nothing is downloaded. Telling a disc from an ellipse, or a square
from a rectangle, takes the whole shape's proportions, whatever its size:
the plain layers see a fixed 16-pixel window, which the largest shapes
overflow; the deformable ones can stretch their samples over the shape.

    .venv-py/bin/python examples/python/learn_offsets.py [--seeds 5] [--epochs 8] [--png PATH]

The figure goes to --png (default: learned_offsets.png in the system's
temporary folder, never into the source tree; the copy in docs/python.md,
docs/images/learned_offsets.png, was made with --png pointing there).
"""
import argparse
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import dcn
import dcn.nn

CLASSES = ["disc", "ellipse", "square", "rectangle"]
SIZE = 40
ASPECT = 2.0  # of the ellipse and the rectangle
STRIDE = 2    # of the last two layers' feature map, in input pixels


# ---- data --------------------------------------------------------------------------------

def draw(kind, scale, angle, cx, cy, rng):
    """One grey image: the shape's inside is 1, with noise."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    c, s = math.cos(angle), math.sin(angle)
    u = ((xx - cx) * c + (yy - cy) * s) / (scale * SIZE / 2)  # shape coordinates, unit radius
    v = (-(xx - cx) * s + (yy - cy) * c) / (scale * SIZE / 2)
    if kind == 0:
        inside = u * u + v * v <= 1.0
    elif kind == 1:
        inside = u * u + (v * ASPECT) ** 2 <= 1.0
    elif kind == 2:
        inside = (np.abs(u) <= 0.75) & (np.abs(v) <= 0.75)
    else:
        inside = (np.abs(u) <= 0.75) & (np.abs(v * ASPECT) <= 0.75)
    img = inside.astype(np.float32)
    # Clutter: a random line segment, and noise.
    (x0, y0), (x1, y1) = rng.uniform(0, SIZE, (2, 2))
    t = np.linspace(0, 1, 2 * SIZE)
    img[np.clip((y0 + (y1 - y0) * t).astype(int), 0, SIZE - 1), np.clip((x0 + (x1 - x0) * t).astype(int), 0, SIZE - 1)] = 1.0
    return img + rng.normal(0, 0.2, (SIZE, SIZE)).astype(np.float32)


def dataset(n, seed):
    rng = np.random.default_rng(seed)
    x = np.empty((n, 1, SIZE, SIZE), np.float32)
    y = rng.integers(0, len(CLASSES), n)
    for i in range(n):
        scale = rng.uniform(0.3, 1.0)
        r = scale * SIZE / 2
        cx, cy = rng.uniform(r * 0.8, SIZE - r * 0.8, 2)
        x[i, 0] = draw(y[i], scale, rng.uniform(0, 2 * math.pi), cx, cy, rng)
    return torch.from_numpy(x), torch.from_numpy(y)


# ---- models --------------------------------------------------------------------------------

class Net(nn.Module):
    """conv(1->16) - pool - conv(16->32) - [conv(32->32) x 2] - global max pool - fc.
    deformable=True makes the last two convolutions the paper's modulated
    deformable layers. They run at stride 2: a unit of the last layer sees
    16 x 16 input pixels through plain layers."""

    def __init__(self, deformable):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        make = (lambda: dcn.nn.ModulatedDeformConv2dPack(32, 32, 3, padding=1)) if deformable else \
            (lambda: nn.Conv2d(32, 32, 3, padding=1))
        self.c3, self.c4 = make(), make()
        self.fc = nn.Linear(32, len(CLASSES))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.relu(self.c2(x))
        x = F.relu(self.c3(x))
        x = F.relu(self.c4(x))
        return self.fc(x.amax(dim=(2, 3)))


def progress(prefix, done, total, extra=""):
    width = 30
    filled = int(width * done / total)
    sys.stderr.write("\r%s [%s%s] %3d%% %s" % (prefix, "#" * filled, "." * (width - filled), 100 * done // total, extra))
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def train(model, data, epochs, name, seed, batch=64):
    x, y = data
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * ((len(x) + batch - 1) // batch))
    g = torch.Generator().manual_seed(seed)
    steps = epochs * ((len(x) + batch - 1) // batch)
    step = 0
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            progress("%-11s epoch %d/%d" % (name, epoch + 1, epochs), step, steps, "loss %.3f" % loss.item())


@torch.no_grad()
def accuracy(model, data):
    x, y = data
    return float((model(x).argmax(1) == y).float().mean())


# ---- Figure 5: sampling locations ------------------------------------------------------------

@torch.no_grad()
def sampling_points(model, img):
    """For the most active unit of the last layer, its 3x3 sampling points in
    c4, each traced back through c3's own 3x3 (81 points), in input pixels;
    and the regular grid's 81 points for comparison."""
    x = F.max_pool2d(F.relu(model.c1(img[None])), 2)
    x = F.relu(model.c2(x))  # the feature map at STRIDE in the input

    def offsets(layer, feat):
        o1, o2, m = torch.chunk(layer.conv_offset(feat), 3, dim=1)
        return torch.cat((o1, o2), 1)[0].view(9, 2, *feat.shape[2:]), torch.sigmoid(m)[0]

    f3 = F.relu(model.c3(x))
    off3, _ = offsets(model.c3, x)
    off4, _ = offsets(model.c4, f3)
    act = F.relu(model.c4(f3))[0].amax(0)
    py, px = divmod(int(act.argmax()), act.shape[1])
    H, W = act.shape

    def taps(y, x, off):
        pts = []
        for k in range(9):
            ky, kx = divmod(k, 3)
            iy, ix = int(round(min(max(y, 0), H - 1))), int(round(min(max(x, 0), W - 1)))
            pts.append((y + ky - 1 + float(off[k, 0, iy, ix]), x + kx - 1 + float(off[k, 1, iy, ix])))
        return pts

    deformed = [q for p in taps(py, px, off4) for q in taps(p[0], p[1], off3)]
    regular = [(py + a + c, px + b + d) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) for d in (-1, 0, 1)]
    # A feature cell's centre in the input, in pixel units (pixel i spans [i, i + 1)).
    to_pixels = lambda pts: [(STRIDE * y + STRIDE / 2, STRIDE * x + STRIDE / 2) for y, x in pts]
    return to_pixels(deformed), to_pixels(regular), (STRIDE * py + STRIDE / 2, STRIDE * px + STRIDE / 2)


BLUE, RED, GREEN = (40, 110, 230), (230, 40, 40), (40, 200, 60)


def figure(model, data, path, title, n=6):
    """Top row: the regular grid; bottom row: the learned sampling locations;
    a legend under them says which is which, which layer and which pixel."""
    from PIL import Image, ImageDraw, ImageFont
    x, y = data
    scale, pad = 8, 8
    tile = SIZE * scale
    try:
        font = ImageFont.load_default(size=15)
    except TypeError:  # Pillow < 10.1: the bitmap font
        font = ImageFont.load_default()
    head, label, legend = 26, 20, 78
    width = n * (tile + pad) + pad
    canvas = Image.new("RGB", (width, head + 2 * (tile + pad + label) + legend), "white")
    d = ImageDraw.Draw(canvas)
    d.text((pad, 5), title, fill="black", font=font)
    rows = ("regular grid: what two plain 3x3 layers sample", "learned: what the deformable layers sample")
    for i in range(n):
        img = x[i, 0].clamp(0, 1).numpy()
        deformed, regular, centre = sampling_points(model, x[i])
        for row, pts in enumerate((regular, deformed)):
            top = head + row * (tile + pad + label)
            if i == 0:
                d.text((pad, top), rows[row], fill=RED if row else BLUE, font=font)
            g = Image.fromarray((img * 180 + 40).astype(np.uint8)).resize((tile, tile), Image.NEAREST).convert("RGB")
            gd = ImageDraw.Draw(g)
            for py, px in pts:
                cx, cy = px * scale, py * scale
                gd.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=RED if row else BLUE)
            cx, cy = centre[1] * scale, centre[0] * scale
            gd.rectangle([cx - 4, cy - 4, cx + 4, cy + 4], outline=GREEN, width=2)
            canvas.paste(g, (pad + i * (tile + pad), top + label))
        d.text((pad + i * (tile + pad) + 4, head + label + 4), CLASSES[int(y[i])], fill="yellow", font=font)
    top = head + 2 * (tile + pad + label) + 4
    items = ((BLUE, "regular grid: the last layer's (c4) 3x3 taps, each through c3's 3x3 (81 points)"),
             (RED, "learned: c4's 9 deformed taps, each through c3's own learned offsets (81 points)"),
             (GREEN, "the output pixel: the most active unit of c4 (stride %d in the input)" % STRIDE))
    for k, (colour, text) in enumerate(items):
        yk = top + 24 * k + 8
        if colour is GREEN:
            d.rectangle([pad + 2, yk - 4, pad + 10, yk + 4], outline=colour, width=2)
        else:
            d.ellipse([pad + 3, yk - 3, pad + 9, yk + 3], fill=colour)
        d.text((pad + 18, yk - 9), text, fill="black", font=font)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    canvas.save(path)


def mean_sd(values):
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5, help="training runs of each network (seeds 0..N-1)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--png", default=os.path.join(tempfile.gettempdir(), "learned_offsets.png"),
                    help="where the figure goes (default: the temporary folder)")
    a = ap.parse_args()
    if a.seeds < 1:
        ap.error("--seeds must be >= 1")
    torch.set_num_threads(a.threads)
    dcn.set_num_threads(a.threads)
    train_data, test_data = dataset(a.train, 1), dataset(a.test, 2)
    nets = (("plain 3x3", False), ("deformable", True))
    acc = {name: [] for name, _ in nets}
    secs = {name: [] for name, _ in nets}
    t0 = time.time()
    best = None  # the deformable run the figure shows: the first seed's
    for seed in range(a.seeds):
        # Seed s: the same initial weights (where the layers match) and the
        # same batch order for both networks; the data are fixed.
        for name, deformable in nets:
            torch.manual_seed(seed)
            model = Net(deformable)
            t = time.time()
            train(model, train_data, a.epochs, "%s s%d" % (name, seed), seed)
            model.eval()
            acc[name].append(accuracy(model, test_data))
            secs[name].append(time.time() - t)
            if deformable and best is None:
                best = (model, seed, acc[name][-1])
    model, seed, best_acc = best
    figure(model, test_data, a.png, "Deformable network, seed %d (test accuracy %.1f%%): sampling locations of its last"
           " layer" % (seed, 100 * best_acc))

    print("\n| network | test accuracy, mean +- sd over %d seeds | min - max | training time per run |" % a.seeds)
    print("| --- | ---: | ---: | ---: |")
    for name, _ in nets:
        m, sd = mean_sd(acc[name])
        print("| %s | %.1f%% +- %.1f | %.1f - %.1f%% | %.0f s |"
              % (name, 100 * m, 100 * sd, 100 * min(acc[name]), 100 * max(acc[name]), sum(secs[name]) / a.seeds))
    diff = [d - p for d, p in zip(acc["deformable"], acc["plain 3x3"])]
    m, sd = mean_sd(diff)
    line = "deformable - plain, seed by seed: %s; mean %+.1f points" % (
        " ".join("%+.1f" % (100 * v) for v in diff), 100 * m)
    if a.seeds > 1:
        line += " +- %.1f (standard error %.1f)" % (100 * sd, 100 * sd / math.sqrt(a.seeds))
    print("\n" + line)
    print("%d train / %d test images, %d epochs, %d threads; total %.0f s; figure: %s"
          % (a.train, a.test, a.epochs, a.threads, time.time() - t0, os.path.normpath(a.png)))


if __name__ == "__main__":
    main()
