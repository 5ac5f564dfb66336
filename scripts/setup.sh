#!/usr/bin/env bash
# Create (or refresh) .venv with gnnrec installed in editable mode.
#
# torch is installed first so that the right build is chosen:
#   * a machine with an NVIDIA GPU (nvidia-smi works) gets the default PyPI
#     build, which bundles CUDA;
#   * a machine without one gets the CPU build: a locally available wheel
#     (pip's configured find-links) when there is one, else the PyTorch CPU
#     index -- never the multi-GB CUDA build.
# Idempotent: a second run only reinstalls what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${GNNREC_TORCH_VERSION:-2.13.0}

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# pip, minus the per-package "Location ... is ignored" noise some machines' pip configs print
pip_q() { .venv/bin/python -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
PIP=pip_q

if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "[setup] NVIDIA GPU found: installing the CUDA build of torch==$TORCH_VERSION"
        $PIP install -q "torch==$TORCH_VERSION"
    else
        echo "[setup] no GPU: installing the CPU build of torch==$TORCH_VERSION"
        tmp=$(mktemp -d)
        if $PIP download -q --no-deps --no-index -d "$tmp" "torch==$TORCH_VERSION" >/dev/null 2>&1; then
            $PIP install -q "torch==$TORCH_VERSION"      # a local (find-links) CPU wheel exists
        else
            $PIP install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu \
                --extra-index-url https://pypi.org/simple
        fi
        rm -rf "$tmp"
    fi
fi
$PIP install -q -e ".[dev,serve]"
echo "[setup] ready: $(.venv/bin/python -c 'import torch, gnnrec; print("gnnrec", gnnrec.__version__, "torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")')"
