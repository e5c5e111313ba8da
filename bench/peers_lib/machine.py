"""The machine, its load, the build being measured, and the FP32 FMA peak."""
import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from .config import *  # noqa: F401,F403 (the shared constants)


def machine_info():
    info = {"cpu_model": platform.processor() or "unknown", "logical_cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        first = text.split("\n\n")[0]
        fields = dict((k.strip(), v.strip()) for k, _, v in (l.partition(":") for l in first.splitlines()))
        info["cpu_model"] = fields.get("model name", info["cpu_model"])
        info["cpu_family"] = fields.get("cpu family")
        info["cpu_model_number"] = fields.get("model")
        flags = fields.get("flags", "").split()
        info["avx512f"] = "avx512f" in flags
        info["physical_cores"] = len(set(re.findall(r"core id\s*:\s*(\d+)", text))) or None
    except OSError:
        pass
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    info["kernel"] = platform.release()
    return info


def loadavg():
    try:
        return [float(v) for v in open("/proc/loadavg").read().split()[:3]]
    except OSError:
        return None


class ForeignLoad:
    """How many CPUs other processes kept busy (plus time the hypervisor
    stole) while we measured: system busy time from /proc/stat minus this
    process's and its children's CPU time, over the wall time. 0 on a quiet
    machine; near the thread count, and every timing is suspect."""

    HZ = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _busy():
        try:
            v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        user, nice, system, idle, iowait, irq, softirq, steal = v
        return (user + nice + system + irq + softirq + steal) / ForeignLoad.HZ

    @staticmethod
    def _ours():
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __init__(self):
        self.t0, self.busy0, self.ours0 = time.monotonic(), self._busy(), self._ours()

    def cpus(self):
        busy = self._busy()
        if busy is None or self.busy0 is None:
            return None
        wall = time.monotonic() - self.t0
        return max(0.0, (busy - self.busy0) - (self._ours() - self.ours0)) / wall if wall > 0 else None


def wait_quiet(max_seconds, log):
    """Waits (up to max_seconds) until other processes use < 0.2 CPUs over 3 s."""
    start = time.monotonic()
    last_log = start - 60
    while True:
        meter = ForeignLoad()
        time.sleep(3)
        load = meter.cpus()
        if load is None or load < 0.2:
            return load
        now = time.monotonic()
        if now - start > max_seconds:
            log("peers.py: warning: the machine is still busy (other processes use %.1f CPUs); measuring anyway" % load)
            return load
        if now - last_log >= 30:
            log("peers.py: waiting for a quiet machine (other processes use %.1f CPUs)" % load)
            last_log = now


LIBRARY_SOURCES = ["CMakeLists.txt", "cmake", "generators", "schedules", "runtime", "tools"]


QUIET_CPUS = 0.25


def quiet_round(fn, args, log):
    """Runs one round of measurements; with --wait-quiet, a round during which
    other processes used more than QUIET_CPUS CPUs is thrown away and run
    again once the machine is quiet (up to 3 times; then it is kept, and the
    row's 'other processes' CPUs' column shows it)."""
    for attempt in range(4):
        meter = ForeignLoad()
        got = fn()
        load = meter.cpus()
        if not args.wait_quiet or load is None or load <= QUIET_CPUS or attempt == 3:
            return got, load
        log("    (other processes used %.2f CPUs during that round: measuring it again)" % load)
        wait_quiet(args.wait_quiet, log)


def max_load(loads):
    loads = [v for v in loads if v is not None]
    return max(loads) if loads else None


def git_commit():
    """HEAD's short hash, whether the library's sources differ from it, and a
    fingerprint of those sources as they are now (tracked changes and
    untracked files), so that runs of an uncommitted tree can be told apart."""
    def git(*args):
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True).stdout
    commit = git("rev-parse", "--short", "HEAD").decode().strip() or "unknown"
    h = hashlib.sha256(git("diff", "HEAD", "--", *LIBRARY_SOURCES))
    untracked = git("ls-files", "--others", "--exclude-standard", "-z", "--", *LIBRARY_SOURCES).split(b"\0")
    for path in sorted(p for p in untracked if p):
        h.update(path)
        try:
            h.update(open(os.path.join(ROOT, path.decode()), "rb").read())
        except OSError:
            pass
    dirty = bool(git("status", "--porcelain", "--", *LIBRARY_SOURCES).strip())
    return commit, dirty, h.hexdigest()[:12] if dirty else None


def newer_sources(binary):
    """Library source files modified after `binary` was built (a stale build)."""
    built = os.path.getmtime(binary)
    out = []
    for top in LIBRARY_SOURCES:
        path = os.path.join(ROOT, top)
        files = [path] if os.path.isfile(path) else [
            os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
        out += [os.path.relpath(f, ROOT) for f in files if os.path.getmtime(f) > built]
    return sorted(out)


def fma_peak(bin_dir, threads):
    """The 2-thread AVX-512 FMA ceiling measured now by build/bin/fma_peak, or None."""
    exe = os.path.join(bin_dir, "fma_peak")
    if not os.access(exe, os.X_OK):
        return None
    out = subprocess.run([exe, str(threads)], capture_output=True, text=True).stdout
    m = re.findall(r"(\d+) threads?: ([\d.]+) GFLOP/s", out)
    return float(m[-1][1]) if m else None
