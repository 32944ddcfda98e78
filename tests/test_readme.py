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


def test_readme_shows_a_dream_before_it_explains():
    text = (ROOT / "README.md").read_text()
    head = text[: text.index("## Quick start")]
    picture = re.search(r"!\[[^\]]+\]\((docs/[^)]+)\)", head)
    assert picture and (ROOT / picture.group(1)).is_file()
    assert "octave" not in head and "tile" not in head  # the opening speaks plainly


def test_benchmark_write_ups_live_in_benchmarks_readme():
    readme = (ROOT / "README.md").read_text()
    bench = (ROOT / "benchmarks" / "README.md").read_text()
    assert not re.search(r"\bat [0-9a-f]{7}\b", readme), "a commit hash in the README"
    assert "**missed**" not in readme and "| recipe | rows |" not in readme and "| recipe | rows |" in bench
    assert "benchmarks/README.md" in readme
    for phrase in ("What to expect", "What `setup.sh` installs", "TORCH=cuda"):
        assert phrase in readme
