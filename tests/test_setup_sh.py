"""setup.sh's torch choice, with a stand-in pip that records what it was asked (no network):
a local or installed torch as it is, else PyTorch's CPU index by default and CUDA when asked."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

FAKE_PIP = """#!/bin/sh
echo "$*" >> "{log}"
case "$*" in *--no-index*) exit {local_rc} ;; esac
exit 0
"""


def run_setup(tmp_path: Path, local_torch: bool, **env: str) -> list[str]:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "pip.log"
    for name, text in (("pip", FAKE_PIP.format(log=log, local_rc=0 if local_torch else 1)),
                       ("python", "#!/bin/sh\nexit 0\n")):
        (venv / "bin" / name).write_text(text)
        (venv / "bin" / name).chmod(0o755)
    full_env = {k: v for k, v in os.environ.items() if k not in ("TORCH", "TORCH_INDEX", "TORCH_SPEC", "EXTRAS")}
    res = subprocess.run(["sh", str(ROOT / "setup.sh")], env={**full_env, "VENV": str(venv), **env},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return log.read_text().splitlines()


def torch_line(calls: list[str]) -> str:
    return [c for c in calls if "torch==" in c and "onnx2torch" not in c][-1]


def test_a_local_or_installed_torch_is_used_as_it_is(tmp_path):
    calls = run_setup(tmp_path, local_torch=True)
    assert torch_line(calls) == "install -q --no-index --no-deps torch==2.13.0"
    assert not any("download.pytorch.org" in c for c in calls)


@pytest.mark.parametrize("env, index", [
    ({}, "https://download.pytorch.org/whl/cpu"),
    ({"TORCH": "cuda"}, "https://download.pytorch.org/whl/cu126"),
    ({"TORCH": "cu118"}, "https://download.pytorch.org/whl/cu118"),
    ({"TORCH_INDEX": "https://mirror.example/torch"}, "https://mirror.example/torch"),
])
def test_otherwise_the_cpu_index_by_default_and_cuda_when_asked(env, index, tmp_path):
    calls = run_setup(tmp_path, local_torch=False, **env)
    assert torch_line(calls) == f"install -q --index-url {index} torch==2.13.0"


def test_pypi_when_asked(tmp_path):
    assert torch_line(run_setup(tmp_path, local_torch=False, TORCH="pypi")) == "install -q torch==2.13.0"


def test_extras_and_onnx2torch_without_its_torchvision(tmp_path):
    calls = run_setup(tmp_path, local_torch=True)
    assert "install -q -e .[test,redis,tumblr,onnx]" in calls
    assert calls[-1] == "install -q --no-deps onnx2torch==1.5.15"
    bare = run_setup(tmp_path / "bare", local_torch=True, EXTRAS="")
    assert "install -q -e ." in bare and not any("onnx2torch" in c for c in bare)
