#!/bin/sh
# Create the virtual environment and install the project into it; safe to run again.
# The README's commands, .ci/run and the Dockerfile all install through this one script.
#   TORCH_SPEC   torch requirement (default torch==2.13.0, the CPU build on our machines)
#   TORCH_INDEX  an extra package index for torch (the Dockerfile's CPU/CUDA choice)
#   EXTRAS       optional-dependency groups to install (default: test)
#   VENV         where the environment goes (default: .venv)
set -eu
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EXTRAS=${EXTRAS:-test}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# torch first and on its own, so that nothing else can pull a different (multi-GB) build.
if [ -n "${TORCH_INDEX:-}" ]; then
  "$VENV/bin/pip" install -q --extra-index-url "$TORCH_INDEX" "$TORCH_SPEC"
else
  "$VENV/bin/pip" install -q "$TORCH_SPEC"
fi
if [ -n "$EXTRAS" ]; then
  "$VENV/bin/pip" install -q -e ".[$EXTRAS]"
else
  "$VENV/bin/pip" install -q -e .
fi
# onnx2torch (ONNX import) declares torchvision, which would drag in another torch: no deps.
"$VENV/bin/pip" install -q --no-deps onnx2torch==1.5.15
