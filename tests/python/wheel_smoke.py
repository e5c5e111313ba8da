"""Run in a fresh venv holding only the installed wheel and numpy
(tools/wheel_test.sh): the package imports without torch, Halide or a
compiler, says its version, and computes deform_conv2d with zero offsets as
a plain convolution written here with numpy."""
import importlib.util
import sys

import numpy as np

import dcn

assert importlib.util.find_spec("torch") is None, "the smoke test needs a venv without torch"
assert importlib.util.find_spec("halide") is None, "the smoke test needs a venv without Halide"
assert dcn.__version__ == sys.argv[1], (dcn.__version__, sys.argv[1])

rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
b = rng.standard_normal(4).astype(np.float32)
offset = np.zeros((2, 18, 6, 7), np.float32)
y = dcn.deform_conv2d(x, offset, w, b, padding=(1, 1))

xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
ref = np.zeros((2, 4, 6, 7))
for i in range(3):
    for j in range(3):
        ref += np.einsum("nchw,kc->nkhw", xp[:, :, i:i + 6, j:j + 7], w[:, :, i, j].astype(np.float64))
ref += b[None, :, None, None]
err = np.abs(y - ref).max()
assert y.shape == (2, 4, 6, 7) and err < 1e-4, err
print("wheel_smoke: dcn %s imports and runs without torch (max error %.2g vs numpy); CPU path %s"
      % (dcn.__version__, err, dcn.last_cpu_isa()))
