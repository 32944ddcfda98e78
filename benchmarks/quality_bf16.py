"""quality_big.py with the net's forward and backward in bfloat16 autocast, as the engine ran it on a
GPU until session 18, against the float32 it runs in everywhere now. On a CPU with bf16
instructions (AVX512-BF16, AMX) this is the GPU's arithmetic at CPU speed; elsewhere it is slow.

    .venv/bin/python benchmarks/quality_bf16.py --out out/quality_bf16    # beside quality_big.py
    (any quality.py option after it: --photos fig,kite to split over processes)
"""
from __future__ import annotations

import contextlib
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

import dreamer.render as render  # noqa: E402

_capture = render.capture


@contextlib.contextmanager
def capture_bf16(net, layers):
    """The render loop's `capture`, each run of the net under bfloat16 autocast."""
    with _capture(net, layers) as run:
        def run_bf16(x: torch.Tensor, step: int | None = None) -> dict:
            with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
                return run(x, step)

        yield run_bf16


if __name__ == "__main__":
    render.capture = capture_bf16
    sys.argv = [str(HERE / "quality_big.py"), *sys.argv[1:]]
    runpy.run_path(str(HERE / "quality_big.py"), run_name="__main__")
