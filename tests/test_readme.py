"""The README's first two commands are the project's promise; keep CI on the second one."""
import re

from tests.conftest import ROOT


def readme_commands():
    return re.findall(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)[:2]


def test_ci_runs_the_readme_test_command():
    test_cmd = readme_commands()[1].strip()
    assert "pytest" in test_cmd
    ci_lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_cmd in ci_lines


def test_demo_command_uses_a_bundled_photo_or_config():
    demo = readme_commands()[0]
    paths = re.findall(r"(photos/\S+|config/\S+)", demo)
    assert paths and all((ROOT / p).exists() for p in paths)
