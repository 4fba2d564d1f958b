#!/usr/bin/env bash
# GPU throughput benchmark (issue 13): builds the environment, then runs benchmarks/gpu.py.
#
#   benchmarks/gpu.sh [--film PATH] [gpu.py options...]
#
# On a lent GPU machine that received the repository only: with no --film the test films
# are synthesised (see gpu.py). The environment: the existing .venv if it imports torch and
# PyAV; otherwise a new .venv (with the system's site packages, so a preinstalled CUDA torch
# is used) and `pip install -e .` (without dependencies if the index cannot be reached).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import torch, av" 2>/dev/null; then
    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install -q -e . || .venv/bin/pip install -q --no-deps --no-build-isolation -e .
fi
.venv/bin/python -c "import torch; print('CUDA:', torch.cuda.is_available())"
exec .venv/bin/python benchmarks/gpu.py "$@"
