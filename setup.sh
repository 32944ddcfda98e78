#!/bin/sh
# Create the virtual environment and install the project into it; safe to run again.
# The README's commands, .ci/run and the Dockerfile all install through this one script.
#   TORCH        cpu (default): PyTorch's CPU wheels, about 1 GB installed, no GPU needed
#                cuda: PyTorch's CUDA 12.6 wheels (several GB; an NVIDIA GPU and driver)
#                cu118, cu126, cu128, ...: that CUDA build; pypi: whatever PyPI gives
#   TORCH_SPEC   torch requirement (default torch==2.13.0, the release the tests run on)
#   TORCH_INDEX  the index torch comes from, overriding TORCH's choice
#   EXTRAS       optional-dependency groups (default: test,redis,tumblr,onnx; "" for none)
#   VENV         where the environment goes (default: .venv)
# A torch that is already installed, or that pip finds in a local wheel folder (its
# find-links, as on CI machines), is used as it is: nothing is downloaded for it.
set -eu
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
TORCH=${TORCH:-cpu}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EXTRAS=${EXTRAS-test,redis,tumblr,onnx}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP="$VENV/bin/pip"
# torch first and on its own, so that nothing else can pull a different (multi-GB) build.
if [ -z "${TORCH_INDEX:-}" ] && [ "$TORCH" != pypi ] && "$PIP" install -q --no-index --no-deps "$TORCH_SPEC" 2>/dev/null; then
  : # already there, or from a local wheel folder
elif [ "$TORCH" = pypi ] && [ -z "${TORCH_INDEX:-}" ]; then
  "$PIP" install -q "$TORCH_SPEC"
else
  case "$TORCH" in
    cpu) tag=cpu ;;
    cuda) tag=cu126 ;;
    *) tag=$TORCH ;;
  esac
  index=${TORCH_INDEX:-https://download.pytorch.org/whl/$tag}
  echo "setup.sh: installing $TORCH_SPEC from $index" >&2
  "$PIP" install -q --index-url "$index" "$TORCH_SPEC"
fi
if [ -n "$EXTRAS" ]; then
  "$PIP" install -q -e ".[$EXTRAS]"
else
  "$PIP" install -q -e .
fi
case ",$EXTRAS," in
  *,onnx,*|*,all,*)
    # onnx2torch declares torchvision, which would drag in another torch: no deps.
    "$PIP" install -q --no-deps onnx2torch==1.5.15 ;;
esac
