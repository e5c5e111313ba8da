#!/usr/bin/env python3
"""Which instructions each CPU path's GEMM inner loop runs, read from the
assembly Halide emits for it (issue 18: the README's table).

For every CPU path of the build (`dcn info`: name and Halide target) and
each dtype asked for, runs the build's generator executable with
`-e assembly` for deform_conv2d's three directions, finds the inner loops
of the GEMM stage (the forward's accum_intm update, the data gradient's
grad_columns_sum update, the weight gradient's grad_weight_sum_intm
update), takes the one with the most multiply-add instructions (the
common specialisation: one group, one offset group) and prints its
instruction histogram. A (path, dtype) the build has no kernel for (a
path for some kernels only: avx512_bf16) is left out.

    python3 bench/gemm_inner_loop.py [--build build] [--dtypes float32,bfloat16]
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

STAGES = {  # generator -> the GEMM stage's loop name
    "deform_conv2d": "accum_intm.s1",
    "deform_conv2d_backward_data": "grad_columns_sum.s1",
    "deform_conv2d_backward_weight": "grad_weight_sum_intm.s1",
}
ARITH = re.compile(r"^(v?fmadd|vdpbf16ps|v?mulp[sd]|v?addp[sd])")


SHORT = {"float32": "f32", "float64": "f64", "bfloat16": "bf16", "float16": "f16"}


def build_info(build):
    """[(path, halide target)], and {(dtype short name, path)} where the build has deform_conv2d's kernels."""
    out = subprocess.run([os.path.join(build, "bin", "dcn"), "info"], capture_output=True, text=True, check=True)
    targets = re.findall(r"^cpu target: (\S+) supported=\S+ halide_target=(\S+)$", out.stdout, re.M)
    compiled = set()
    for dt, paths in re.findall(r"^kernel: dcn_deform_conv2d_(\w+?)_fwd \[cpu: ([^;\]]*)", out.stdout, re.M):
        for p in paths.split():
            compiled.add((dt.split("_")[-1], p))
    return targets, compiled


def inner_loops(asm, stage):
    lines = asm.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r'^(\.LBB\S+):\s+# %"?([^"\n]*)', line)
        if not m or stage not in m.group(2) or "Inner Loop Header" not in "".join(lines[i:i + 8]):
            continue
        body = []
        for l2 in lines[i + 1:]:
            if re.match(r"^\s+j\w+\s+" + re.escape(m.group(1)) + r"\s*$", l2):
                break
            t = l2.strip()
            if t and not t.startswith(("#", ".")):
                body.append(t.split()[0])
        yield collections.Counter(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    args = ap.parse_args()
    gen = os.path.join(args.build, "dcn_generators")
    print("| path | dtype | direction | inner loop: instructions per iteration |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        targets, compiled = build_info(args.build)
        for path, target in targets:
            for dtype in args.dtypes.split(","):
                if (SHORT[dtype], path) not in compiled:
                    continue  # the path has no such kernel: the next path's runs
                for gen_name, stage in STAGES.items():
                    flags = ["with_mask=true"] + (["with_bias=false"] if gen_name == "deform_conv2d" else [])
                    name = "k"
                    subprocess.run([gen, "-g", gen_name, "-f", name, "-n", name, "-d", "0", "-e", "assembly", "-o",
                                    tmp, "target=" + target + "-no_runtime", "dtype=" + dtype, "accum=" + ("float64" if dtype == "float64" else "float32")]
                                   + flags, check=True, capture_output=True)
                    asm = open(os.path.join(tmp, name + ".s")).read()
                    loops = list(inner_loops(asm, stage))
                    if not loops:
                        print("| %s | %s | %s | (no inner loop found) |" % (path, dtype, gen_name))
                        continue
                    best = max(loops, key=lambda c: sum(v for k, v in c.items() if ARITH.match(k)))
                    top = ", ".join("%s x%d" % kv for kv in best.most_common(4))
                    print("| %s | %s | %s | %s |" % (path, dtype, gen_name.replace("deform_conv2d", "fwd", 1)
                                                    .replace("fwd_backward_", ""), top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
