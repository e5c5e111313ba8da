#!/usr/bin/env bash
# The benchmark's own setup step: installs the peers that bench/peers.py
# compares dcn with. None of this is needed to build or test dcn.
# Idempotent; a second run only checks.
#
#   - Debian packages: python3-torchvision (0.14, with Debian's torch 1.13 and
#     its oneDNN), libopenblas0-pthread, python3-numpy, python3-matplotlib
#     (for bench/plot_results.py), python3-venv;
#   - a venv .venv-bench made from /usr/bin/python3 with
#     --system-site-packages (so it sees Debian's torch, torchvision, numpy
#     and matplotlib), into which pip installs onnxruntime and onnx. Debian's
#     numpy is pinned: pip must not replace it (torch is built against it).
#
# Then: .venv-bench/bin/python bench/peers.py
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in python3-torchvision libopenblas0-pthread python3-numpy python3-matplotlib python3-venv; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
    echo "bench/setup.sh: installing Debian packages: ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

VENV=.venv-bench
if [ ! -x "$VENV/bin/python" ]; then
    echo "bench/setup.sh: creating $VENV (from /usr/bin/python3, --system-site-packages)"
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
# Keep the venv out of git status (as Python >= 3.13's venv does by itself).
[ -f "$VENV/.gitignore" ] || echo '*' >"$VENV/.gitignore"

check() {
    "$VENV/bin/python" - <<'PYEOF'
import numpy, torch, torchvision, onnx, onnxruntime, matplotlib
assert numpy.__file__.startswith("/usr/lib/python3/"), "numpy is not Debian's: " + numpy.__file__
assert torch.__file__.startswith("/usr/lib/python3/"), "torch is not Debian's: " + torch.__file__
print("bench/setup.sh: ok: numpy %s (Debian), torch %s, torchvision %s, onnx %s, onnxruntime %s, matplotlib %s"
      % (numpy.__version__, torch.__version__, torchvision.__version__, onnx.__version__,
         onnxruntime.__version__, matplotlib.__version__))
PYEOF
}

if ! check 2>/dev/null; then
    # Keep Debian's numpy: if onnx or onnxruntime asked for a newer one, pip
    # fails here instead of silently replacing it.
    np_version=$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')
    constraints=$(mktemp)
    trap 'rm -f "$constraints"' EXIT
    echo "numpy==$np_version" >"$constraints"
    echo "bench/setup.sh: installing onnxruntime and onnx into $VENV (numpy pinned to Debian's $np_version)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$constraints" onnxruntime onnx
    check
fi
