"""The Python layer under hostile use (issue 17): non-finite pixels outside
the image, checks before copies and allocations, forward-mode AD refused,
one-line errors naming the argument, read-only / memory-mapped /
big-endian inputs, the threads rule, fork during a first call, and the
memory / CPU-path functions."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import dcn

HERE = os.path.dirname(os.path.abspath(__file__))


def run_python(code, timeout=120):
    """Runs `code` in a fresh interpreter (this venv); (returncode, output)."""
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


# ---- 1. a sample outside the image ignores a non-finite edge pixel -------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sample_outside_ignores_a_non_finite_edge_pixel(dtype):
    x = np.ones((1, 1, 4, 4), dtype)
    x[0, 0, 0, 3] = np.inf
    x[0, 0, 3, 0] = np.nan
    off = np.zeros((1, 2, 4, 4), dtype)
    off[:, 1] = 100.0  # every sample 100 px right of the image
    w = np.ones((1, 1, 1, 1), dtype)
    np.testing.assert_array_equal(dcn.deform_conv2d(x, off, w), np.zeros((1, 1, 4, 4), dtype))
    off[:, 1] = -100.0
    np.testing.assert_array_equal(dcn.deform_conv2d(x, off, w), np.zeros((1, 1, 4, 4), dtype))
    # Through torch, with the weight gradient (it multiplies the columns).
    xt, offt = torch.from_numpy(x), torch.from_numpy(off)
    wt = torch.from_numpy(w).requires_grad_(True)
    y = dcn.deform_conv2d(xt, offt, wt)
    y.sum().backward()
    assert torch.equal(y.detach(), torch.zeros_like(y))
    assert torch.equal(wt.grad, torch.zeros_like(wt))


def test_roi_pools_outside_ignore_non_finite_pixels():
    x = np.full((1, 2, 5, 5), np.nan, np.float32)
    rois = np.array([[0, 20, 20, 30, 30], [0, -30, -30, -10, -10]], np.float32)
    y = dcn.deform_roi_pool(x, rois, None, (2, 2), sampling_ratio=2)
    np.testing.assert_array_equal(y, np.zeros((2, 2, 2, 2), np.float32))
    y = dcn.deform_psroi_pool(x, rois, None, 1.0, output_dim=2, group_size=1, pooled_size=2)
    np.testing.assert_array_equal(y, np.zeros((2, 2, 2, 2), np.float32))


# ---- 2. checks before copies and allocations -----------------------------------------------

def peak_rss_mb_of(code):
    # VmHWM: the peak RSS of this process's own memory. (getrusage's
    # ru_maxrss is not: Linux keeps across exec the peak of the memory the
    # child started from, a copy of pytest's, so it reported pytest's peak.)
    rc, out = run_python("""
        import numpy as np, torch, dcn
        {}
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
        print("PEAK", int(hwm.split()[1]) // 1024)
    """.format(textwrap.dedent(code).replace("\n", "\n        ")))
    assert rc == 0, out
    peak = [int(line.split()[1]) for line in out.splitlines() if line.startswith("PEAK")]
    msgs = [line for line in out.splitlines() if line.startswith("ERR")]
    return peak[0], msgs


def test_expanded_input_with_a_bad_offset_is_refused_before_any_copy():
    # 1 x 1 x 20000 x 20000 float32 expanded from one row: a copy would be 1.6 GB.
    peak, msgs = peak_rss_mb_of("""
        x = torch.ones(1, 1, 1, 20000).expand(1, 1, 20000, 20000)
        w = torch.ones(1, 1, 1, 1)
        for off in (torch.zeros(1, 2, 5, 5), torch.zeros(1).expand(1, 3, 20000, 20000)):
            try:
                dcn.deform_conv2d(x, off, w)
            except ValueError as e:
                print("ERR", e)
        xn = np.broadcast_to(np.ones((1, 1, 1, 20000), np.float32), (1, 1, 20000, 20000))
        try:
            dcn.deform_conv2d(xn, np.zeros((1, 2, 5, 5), np.float32), np.ones((1, 1, 1, 1), np.float32))
        except ValueError as e:
            print("ERR", e)
        gy = torch.ones(1, 1, 1, 20000).expand(1, 1, 20000, 20000)
        try:
            torch.ops.dcn.deform_conv2d_backward(gy, torch.ones(1, 1, 4, 4), torch.zeros(1, 2, 4, 4),
                                                 torch.ones(1, 1, 1, 1), None, [1, 1], [0, 0, 0, 0], [1, 1], 1, 1,
                                                 [True, True, True, False, False])
        except ValueError as e:
            print("ERR", e)
    """)
    assert len(msgs) == 4, msgs
    assert all(m.startswith("ERR deform_conv2d") for m in msgs), msgs
    assert "offset" in msgs[0] and "offset" in msgs[2] and "grad_output" in msgs[3], msgs
    assert peak < 1000, "peak RSS %d MB: something was copied before the checks" % peak


@pytest.mark.parametrize("call, argument", [
    # padding 2**20 asks for a 2097156 x 2097156 output (17.6 TB): the offset cannot match it.
    (lambda: dcn.deform_conv2d(torch.ones(1, 1, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(1, 1, 1, 1),
                               padding=2**20), "offset"),
    (lambda: dcn.deform_conv2d(torch.ones(1, 1, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(1, 1, 1, 1),
                               padding=2**21), "padding"),
    (lambda: dcn.deform_roi_pool(np.ones((1, 1, 4, 4), np.float32), np.zeros((1, 5), np.float32), None,
                                 (2**20, 2**20)), "output"),
    (lambda: dcn.deform_roi_pool(torch.ones(1, 1, 4, 4), torch.zeros(1, 5), None, (2**20, 2**20)), "output"),
])
def test_huge_outputs_are_refused_before_allocation(call, argument):
    with pytest.raises(ValueError, match=r"^deform_\w+: \w*%s" % argument) as e:
        call()
    assert "\n" not in str(e.value)


# ---- 3. forward-mode AD ----------------------------------------------------------------------

def test_forward_mode_ad_is_refused_not_zero():
    x, off, w = torch.rand(1, 2, 5, 5), torch.rand(1, 18, 5, 5) - 0.5, torch.rand(3, 2, 3, 3)
    v = torch.rand_like(x)
    with pytest.raises(RuntimeError, match="forward-mode"):
        torch.func.jvp(lambda a: dcn.deform_conv2d(a, off, w, padding=1), (x,), (v,))
    with pytest.raises(RuntimeError, match="forward-mode"):
        torch.func.jacfwd(lambda a: dcn.deform_conv2d(a, off, w, padding=1))(x)
    import torch.autograd.forward_ad as fwAD
    with fwAD.dual_level(), pytest.raises(RuntimeError, match="forward-mode"):
        dcn.deform_conv2d(fwAD.make_dual(x, v), off, w, padding=1)
    rois = torch.tensor([[0, 0.0, 0.0, 3.0, 3.0]])
    with pytest.raises(RuntimeError, match="forward-mode"):
        torch.func.jvp(lambda a: dcn.deform_roi_pool(a, rois, None, (2, 2)), (x,), (v,))
    with pytest.raises(RuntimeError, match="forward-mode"):
        torch.func.jvp(lambda a: dcn.deform_psroi_pool(a, rois, None, 1.0, 2, 1, 2), (x,), (v,))
    # Reverse mode still works.
    xr = x.clone().requires_grad_(True)
    dcn.deform_conv2d(xr, off, w, padding=1).sum().backward()
    assert xr.grad.shape == x.shape and torch.isfinite(xr.grad).all()


# ---- 5. one-line errors naming the argument -------------------------------------------------

T = lambda *s: torch.ones(*s)
N = lambda *s: np.ones(s, np.float32)

ERROR_CASES = [
    ("stride=0", lambda: dcn.deform_conv2d(T(1, 1, 4, 4), T(1, 2, 4, 4), T(1, 1, 1, 1), stride=0), ValueError,
     "stride"),
    ("stride=0 numpy", lambda: dcn.deform_conv2d(N(1, 1, 4, 4), N(1, 2, 4, 4), N(1, 1, 1, 1), stride=0), ValueError,
     "stride"),
    ("H=0", lambda: dcn.deform_conv2d(T(1, 1, 0, 4), T(1, 2, 1, 4), T(1, 1, 1, 1)), ValueError, "input"),
    ("output_size -1", lambda: dcn.deform_roi_pool(T(1, 1, 4, 4), torch.zeros(1, 5), None, (-1, 2)), ValueError,
     "output_size"),
    ("pooled_size -1", lambda: dcn.deform_psroi_pool(T(1, 1, 4, 4), torch.zeros(1, 5), None, 1.0, 1, 1, -1),
     ValueError, "pooled_size"),
    ("stride 2**31", lambda: dcn.deform_conv2d(T(1, 1, 4, 4), T(1, 2, 4, 4), T(1, 1, 1, 1), stride=2**31),
     ValueError, "stride"),
    ("sampling_ratio 2**31", lambda: dcn.deform_roi_pool(T(1, 1, 4, 4), torch.zeros(1, 5), None, (2, 2),
                                                         sampling_ratio=2**31), ValueError, "sampling_ratio"),
    ("set_num_threads 2**31", lambda: dcn.set_num_threads(2**31), ValueError, "n"),
    ("set_num_threads -1", lambda: dcn.set_num_threads(-1), ValueError, "n"),
    ("numpy offset, torch input", lambda: dcn.deform_conv2d(T(1, 1, 4, 4), N(1, 2, 4, 4), T(1, 1, 1, 1)),
     ValueError, "offset"),
    ("torch offset, numpy input", lambda: dcn.deform_conv2d(N(1, 1, 4, 4), T(1, 2, 4, 4), N(1, 1, 1, 1)),
     ValueError, "offset"),
    ("0-d weight", lambda: dcn.deform_conv2d(T(1, 1, 4, 4), T(1, 2, 4, 4), torch.tensor(1.0)), ValueError,
     "weight"),
    ("0-d weight numpy", lambda: dcn.deform_conv2d(N(1, 1, 4, 4), N(1, 2, 4, 4), np.float32(1.0)), ValueError,
     "weight"),
    ("bool", lambda: dcn.deform_conv2d(np.ones((1, 1, 4, 4), bool), N(1, 2, 4, 4), N(1, 1, 1, 1)), ValueError,
     "input"),
    ("complex", lambda: dcn.deform_conv2d(np.ones((1, 1, 4, 4), np.complex64), N(1, 2, 4, 4), N(1, 1, 1, 1)),
     ValueError, "input"),
    ("float128", lambda: dcn.deform_conv2d(N(1, 1, 4, 4), np.ones((1, 2, 4, 4), np.longdouble), N(1, 1, 1, 1)),
     ValueError, "offset"),
    ("object array", lambda: dcn.deform_conv2d(N(1, 1, 4, 4), N(1, 2, 4, 4), np.array([object()] * 4)),
     ValueError, "weight"),
    ("not an array", lambda: dcn.deform_conv2d(N(1, 1, 4, 4), N(1, 2, 4, 4), object()), TypeError, "weight"),
    ("torch, not a tensor", lambda: dcn.deform_conv2d(T(1, 1, 4, 4), T(1, 2, 4, 4), "w"), TypeError, "weight"),
    ("None offset", lambda: dcn.deform_conv2d(N(1, 1, 4, 4), None, N(1, 1, 1, 1)), TypeError, "offset"),
    ("torch bool", lambda: dcn.deform_conv2d(T(1, 1, 4, 4), T(1, 2, 4, 4).bool(), T(1, 1, 1, 1)), ValueError,
     "offset"),
    ("torch int rois", lambda: dcn.deform_roi_pool(T(1, 1, 4, 4), torch.zeros(1, 5, dtype=torch.int64), None,
                                                   (2, 2)), ValueError, "rois"),
    ("kernel_size=0", lambda: dcn.nn.DeformConv2d(2, 2, 0), ValueError, "kernel_size"),
    ("in_channels=0", lambda: dcn.nn.DeformConv2d(0, 2, 3), ValueError, "in_channels"),
    ("pack wrong channels", lambda: dcn.nn.DeformRoIPoolPack((2, 2), 3, 8)(T(1, 2, 6, 6), torch.zeros(1, 5)),
     ValueError, "input"),
    ("pack bad rois", lambda: dcn.nn.DeformRoIPoolPack((2, 2), 2, 8)(T(1, 2, 6, 6), torch.zeros(1, 4)),
     ValueError, "rois"),
]


@pytest.mark.parametrize("name, call, exc, argument", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_bad_arguments_give_one_line_naming_the_argument(name, call, exc, argument):
    with pytest.raises(exc) as e:
        call()
    msg = str(e.value)
    assert type(e.value) is exc, (type(e.value), msg)
    assert "\n" not in msg, msg
    assert ": %s" % argument in msg, msg


def test_roi_pool_packs_take_zero_rois():
    for cls in (dcn.nn.DeformRoIPoolPack, dcn.nn.ModulatedDeformRoIPoolPack):
        m = cls((2, 2), 3, 8)
        y = m(torch.rand(1, 3, 6, 6), torch.zeros(0, 5))
        assert y.shape == (0, 3, 2, 2)


# ---- 6. read-only, memory-mapped, big-endian inputs; private outputs -------------------------

def test_read_only_memory_mapped_and_big_endian_inputs(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.random((1, 2, 5, 5), np.float32)
    off = (rng.random((1, 18, 5, 5), np.float32) - 0.5) * 2
    w = rng.random((3, 2, 3, 3), np.float32)
    want = dcn.deform_conv2d(x, off, w, padding=1)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    np.testing.assert_array_equal(dcn.deform_conv2d(mm, off, w, padding=1), want)
    ro = x.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(dcn.deform_conv2d(ro, off, w, padding=1), want)
    np.testing.assert_array_equal(dcn.deform_conv2d(x.astype(">f4"), off.astype(">f4"), w, padding=1), want)
    rois = np.array([[0, 0, 0, 3, 3]], ">f4")
    np.testing.assert_array_equal(dcn.deform_roi_pool(x.astype(">f4"), rois, None, (2, 2)),
                                  dcn.deform_roi_pool(x, rois.astype(np.float32), None, (2, 2)))


def test_private_functions_refuse_a_non_contiguous_output():
    x, off, w = np.ones((1, 1, 4, 4), np.float32), np.zeros((1, 2, 4, 4), np.float32), np.ones((1, 1, 1, 1), np.float32)
    out = np.zeros((1, 1, 4, 8), np.float32)[:, :, :, ::2]
    with pytest.raises(ValueError, match=r"^deform_conv2d: output: expected a C-contiguous"):
        dcn._dcn.deform_conv2d(x, off, w, None, None, out, (1, 1), (0, 0, 0, 0), (1, 1), 0, 0, "cpu", 0, 0)
    out_t = np.zeros((1, 1, 4, 4), np.float32).transpose(0, 1, 3, 2)
    with pytest.raises(ValueError, match=r"output: expected a C-contiguous"):
        dcn._dcn.deform_conv2d(x, off, w, None, None, out_t, (1, 1), (0, 0, 0, 0), (1, 1), 0, 0, "cpu", 0, 0)


# ---- 7. fork while another thread makes the first call ---------------------------------------

def test_fork_during_a_first_call_does_not_deadlock():
    code = """
        import os, sys, threading, time
        import torch
        import dcn
        x, off, w = torch.rand(1, 2, 6, 6), torch.rand(1, 18, 6, 6), torch.rand(2, 2, 3, 3)
        def first_call():
            dcn.deform_conv2d(x, off, w, padding=1)
        kids = []
        for i in range(6):
            t = threading.Thread(target=first_call)
            t.start()
            time.sleep(0.002 * i)
            pid = os.fork()
            if pid == 0:
                y = dcn.deform_conv2d(x, off, w, padding=1)
                os._exit(0 if y.shape == (1, 2, 6, 6) else 3)
            kids.append(pid)
            t.join()
        for pid in kids:
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        print("OK")
    """
    try:
        rc, out = run_python(code, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("a forked child hung (deadlock)")
    assert rc == 0 and "OK" in out, out


def test_import_dcn_registers_the_torch_ops():
    rc, out = run_python("""
        import sys
        import dcn
        assert "dcn.ops" in sys.modules and "dcn.nn" in sys.modules
        import torch
        assert hasattr(torch.ops.dcn, "deform_conv2d")
        print("OK")
    """)
    assert rc == 0 and "OK" in out, out


# ---- 8. threads ---------------------------------------------------------------------------------

def test_torch_calls_follow_torch_threads_unless_set():
    x, off, w = torch.rand(1, 2, 5, 5), torch.zeros(1, 18, 5, 5), torch.rand(2, 2, 3, 3)
    before = torch.get_num_threads()
    try:
        dcn.set_num_threads(0)
        torch.set_num_threads(1)
        dcn.deform_conv2d(x, off, w, padding=1)
        assert dcn.num_threads() == 1
        dcn.set_num_threads(3)
        dcn.deform_conv2d(x, off, w, padding=1)
        assert dcn.num_threads() == 3
        dcn.set_num_threads(0)
        torch.set_num_threads(2)
        dcn.deform_conv2d(x, off, w, padding=1)
        assert dcn.num_threads() == 2
    finally:
        torch.set_num_threads(before)
        dcn.set_num_threads(0)


# ---- 9. memory and CPU path ---------------------------------------------------------------------

def test_cached_memory_and_last_cpu_isa():
    x = np.random.default_rng(0).random((1, 64, 60, 60), np.float32)
    off = np.zeros((1, 18, 60, 60), np.float32)
    w = np.ones((64, 64, 3, 3), np.float32)
    dcn.deform_conv2d(x, off, w, padding=1)
    assert dcn.last_cpu_isa() in ("avx512_bf16", "avx512_skylake", "avx2_fma", "sse41", "baseline")
    assert isinstance(dcn.cached_memory_bytes(), int)
    dcn.release_cached_memory()
    assert dcn.cached_memory_bytes() == 0
