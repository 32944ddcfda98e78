"""What `pip install` promises: console scripts that run, optional features as extras with a
clear message when one is missing, a torch range that lets new releases in, the licence file."""
from __future__ import annotations

import importlib
import re
import sys
import tomllib

import pytest

from bot.extras import EXTRAS, MissingExtra, require
from tests.conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirement(name: str) -> str:
    [req] = [r for r in PROJECT["dependencies"] if re.match(rf"{name}\b", r)]
    return req


@pytest.mark.parametrize("script", ["dream", "dream-bot"])
def test_console_scripts_run(script, capsys):
    module, func = PROJECT["scripts"][script].split(":")
    main = getattr(importlib.import_module(module), func)
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_optional_features_are_extras_not_requirements():
    extras = PROJECT["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    core = " ".join(PROJECT["dependencies"])
    for extra in EXTRAS:
        for req in extras[extra]:
            name = re.match(r"[A-Za-z0-9_.-]+", req).group(0)
            assert name not in core, f"{name} is in [{extra}] and in the core requirements"


def test_torch_range_lets_new_releases_in():
    torch = _requirement("torch")
    assert re.search(r"<\s*\d+(\s*,|\s*$)", torch) or "<" not in torch, f"capped at a release: {torch}"
    assert "<=" not in torch
    # numpy's floor must be one the oldest torch allowed works with (torch 2.1 wheels: numpy 1.x)
    assert ">=2.1" in torch and _requirement("numpy") == "numpy>=1.26"


@pytest.mark.parametrize("module, extra", [("requests_oauthlib", "tumblr"), ("redis", "redis"), ("onnx", "onnx")])
def test_a_missing_extra_says_how_to_install_it(module, extra, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(MissingExtra) as err:
        require(module, extra)
    assert f"pip install 'lucid-dream-bot[{extra}]'" in str(err.value)


def test_tumblr_without_its_extra_is_a_clear_build_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "requests_oauthlib", None)
    from bot.publishers.tumblr import TumblrPublisher

    with pytest.raises(ImportError, match=r"posting to Tumblr needs .*lucid-dream-bot\[tumblr\]"):
        TumblrPublisher("blog", "ck", "cs", "t", "ts")


def test_licence_file_matches_pyproject():
    assert PROJECT["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_no_posix_only_locks():
    for path in list((ROOT / "bot").rglob("*.py")) + list((ROOT / "dreamer").rglob("*.py")):
        assert not re.search(r"^\s*import fcntl", path.read_text(), re.M), f"{path} uses fcntl (POSIX only)"


def test_one_variable_name_per_secret_everywhere():
    from bot.config import MastodonSection, TumblrSection

    names = {MastodonSection().access_token_env, *(getattr(TumblrSection(), f"{k}_env") for k in
                                                     ("consumer_key", "consumer_secret", "oauth_token", "oauth_secret"))}
    files = ["README.md", "Dockerfile", "docker-compose.example.yml", "config/example.toml", "bot/config/load.py",
             "bot/config/sections.py", "bot/config/services.py", "bot/config/check.py"]
    for f in files:
        used = set(re.findall(r"\b(?:MASTODON|TUMBLR)_[A-Z_]+\b", (ROOT / f).read_text()))
        assert used <= names, f"{f} names {used - names}; the config's defaults are {sorted(names)}"
    compose = (ROOT / "docker-compose.example.yml").read_text()
    assert all(f"{n}: ${{{n}:-}}" in compose for n in names)


def _dist_name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")


def test_the_test_extra_brings_what_the_suite_imports():
    """`pip install -e .[test]` then `pytest` must collect: every third-party module a test file
    imports comes from the core requirements or the `test` extra, not from another extra."""
    import ast
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    offered = {_dist_name(r) for r in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]}
    ours = {"bot", "dreamer", "models", "run_bot", "tests"}
    missing = {}
    for path in (ROOT / "tests").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top in ours or top in sys.stdlib_module_names or top not in owners:
                    continue
                dists = {d.lower().replace("_", "-") for d in owners[top]}
                if not dists & offered:
                    missing.setdefault(f"{top} ({', '.join(sorted(dists))})", []).append(path.name)
    assert not missing, f"tests import modules the test extra does not bring: {missing}"
