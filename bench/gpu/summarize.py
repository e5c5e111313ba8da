#!/usr/bin/env python3
"""Reads what bench/gpu/check.sh left in DIR (versions.txt, tests.log,
dcn.json, peers.json, python_cuda.json) and writes DIR/results.json and DIR/results.md.
Exits 1 when a test failed, a case was skipped for another reason than a
kernel the build does not have for CUDA, or a part is missing."""
import json
import os
import re
import sys


def tests_summary(log):
    passed, failed, skipped, bad_skips = [], [], [], []
    reason = ""
    for line in log.splitlines():
        m = re.match(r"\[\s+(OK|FAILED|SKIPPED)\s+\] (\S+) \(", line)
        if m:
            kind, name = m.groups()
            if kind == "OK":
                passed.append(name)
            elif kind == "FAILED":
                failed.append(name)
            else:
                skipped.append(name)
                if "this build has no cuda" not in reason:
                    bad_skips.append("%s: %s" % (name, reason.strip()))
            reason = ""
        elif line.startswith("[ RUN"):
            reason = ""
        elif not line.startswith("["):
            reason += line + " "
    return {"passed": len(passed), "failed": failed, "skipped": len(skipped), "skipped_not_allowed": bad_skips}


def main(d):
    problems = []
    res = {}
    try:
        res["versions"] = open(os.path.join(d, "versions.txt")).read().splitlines()
        res["tests"] = tests_summary(open(os.path.join(d, "tests.log")).read())
        dcn_json = json.load(open(os.path.join(d, "dcn.json")))
        res["dcn"] = dcn_json["dcn"]
        res["gpu_gemm"] = dcn_json.get("gpu_gemm", [])
        peers = json.load(open(os.path.join(d, "peers.json")))
        res["peers"] = peers["peers"]
        res["python_cuda"] = json.load(open(os.path.join(d, "python_cuda.json")))["python_cuda"]
    except (OSError, ValueError, KeyError) as e:
        problems.append("missing part: %s" % e)
    t = res.get("tests", {})
    if t.get("failed"):
        problems.append("failed tests: %s" % ", ".join(t["failed"]))
    if t.get("skipped_not_allowed"):
        problems.append("skipped tests: %s" % "; ".join(t["skipped_not_allowed"]))
    if t and t.get("passed", 0) == 0:
        problems.append("no CUDA test ran")
    for r in res.get("python_cuda", []):
        if not r["ok"]:
            problems.append("python: %s: %s" % (r["check"], r["why"]))
    res["problems"] = problems
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    md = ["# dcn GPU check", ""] + ["    " + v for v in res.get("versions", [])] + [""]
    if t:
        md.append("Tests with CUDA: %d passed, %d failed, %d skipped (%d not allowed)." %
                  (t["passed"], len(t["failed"]), t["skipped"], len(t["skipped_not_allowed"])))
    for g in res.get("gpu_gemm", []):
        md.append("- GEMM of deform_conv2d: %s" % g)
    for r in res.get("python_cuda", []):
        md.append("- Python on CUDA: %s: %s" % (r["check"], "pass" if r["ok"] else "FAIL: " + r["why"]))
    md += ["", "| shape | implementation | dtype | pass | first call ms | median ms |", "| --- | --- | --- | --- | ---: | ---: |"]
    for r in res.get("dcn", []):
        md.append("| %s | dcn | %s | %s | %.3f | %.4f |" % (r["shape"], r["dtype"], r["pass"], r["first_ms"],
                                                          r["median_ms"]))
    for r in res.get("peers", []):
        md.append("| %s | %s | %s%s | %s | %.3f | %.4f |" % (r["shape"], r["impl"], r["dtype"],
                                                            " (TF32)" if r["tf32"] else "", r["pass_"],
                                                            r["first_ms"], r["median_ms"]))
    md += [""] + ["**Problem:** " + p for p in problems]
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
