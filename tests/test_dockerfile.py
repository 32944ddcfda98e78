"""No Docker engine runs here, so the image's install path is tested the way the Dockerfile runs it:
the files it COPYs, laid out as it lays them out, installed by the same setup.sh into a fresh venv."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def copies():
    out = []
    for line in DOCKERFILE.splitlines():
        m = re.match(r"COPY\s+(.+)\s+(\S+)$", line.strip())
        if m:
            out.append((m.group(1).split(), m.group(2)))
    return out


def test_dockerfile_installs_through_setup_sh_like_ci():
    assert "./setup.sh" in DOCKERFILE
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./setup.sh" in ci
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.M), "the bot must not run as root"
    assert "HEALTHCHECK" in DOCKERFILE and "VOLUME" in DOCKERFILE


def test_everything_the_package_needs_is_copied():
    copied = {src.rstrip("/") for srcs, _ in copies() for src in srcs}
    for needed in ("pyproject.toml", "setup.sh", "README.md", "run_bot.py", "bot", "dreamer", "models"):
        assert needed in copied, f"Dockerfile does not COPY {needed}"
    for src in copied:
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repo"


@pytest.mark.slow
def test_image_install_path_works_in_a_fresh_venv(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    for srcs, dest in copies():
        for src in srcs:
            target = app / (dest if dest not in ("./", ".") else "") / (src if dest in ("./", ".") else "")
            s = ROOT / src
            if s.is_dir():
                shutil.copytree(s, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(s, target)
    env = {**os.environ, "EXTRAS": "", "VENV": str(tmp_path / "venv")}
    env.pop("TORCH_INDEX", None)
    res = subprocess.run(["sh", str(app / "setup.sh")], env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    py = str(tmp_path / "venv" / "bin" / "python")
    res = subprocess.run([py, "run_bot.py", "check-config", "--dry-run", "--config", "config/demo.toml"],
                         cwd=app, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "OK" in res.stdout
    # and the engine imports and finds the bundled Lite0 weights without any test extras
    res = subprocess.run([py, "-c", "from models import create_model; print(create_model('efficientnet-lite0').name)"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "efficientnet-lite0" in res.stdout, res.stderr[-2000:]
