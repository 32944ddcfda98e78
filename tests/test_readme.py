"""The README's first two commands are the project's promise; keep CI on the second one."""
import re

from tests.conftest import ROOT


def readme_commands():
    return re.findall(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)[:2]


def ci_statements() -> list[str]:
    lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    return [l for l in lines if l and not l.startswith("#")]


def test_ci_runs_both_readme_commands_as_written():
    demo, tests = (c.strip() for c in readme_commands())
    assert "pytest" in tests and "run_bot.py" in demo
    ci = ci_statements()
    assert demo in ci and tests in ci, "CI must run the README's two commands verbatim"
    assert ci.index(demo) < ci.index(tests) == len(ci) - 1, "the test command is CI's last statement"
    assert "set -euo pipefail" in ci[:ci.index(demo)], "a failing command must fail CI"
    # Anything that could end CI early or swallow a failure before the test command has run.
    escape = re.compile(r"^(exit|return|exec)\b|\|\|\s*(true|:)\s*$|^set\s+\+[eu]|^trap\b")
    assert not [l for l in ci if escape.search(l)]
    # The demo's dream is checked in the gallery right after it is made.
    assert ci[ci.index(demo) + 1].startswith(".venv/bin/python .ci/check_outbox.py")


def test_outbox_check_fails_without_a_shown_dream(tmp_path):
    import json
    import subprocess
    import sys

    from PIL import Image

    def check() -> int:
        return subprocess.run([sys.executable, str(ROOT / ".ci" / "check_outbox.py"), str(tmp_path)],
                              capture_output=True).returncode

    assert check() == 1  # empty outbox
    Image.new("RGB", (128, 96), "teal").save(tmp_path / "p.png")
    (tmp_path / "p.json").write_text(json.dumps({"image": "p.png"}))
    (tmp_path / "index.html").write_text("<html>no pictures</html>")
    assert check() == 1  # the gallery does not show it
    (tmp_path / "index.html").write_text('<img src="p.png">')
    assert check() == 0


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


def test_readme_shows_a_poll_and_its_rule():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Polls"):]
    section = " ".join(section[: section.index("\n### ", 1)].split())
    picture = re.search(r"!\[[^\]]+\]\((docs/[^)]+)\)", section)
    assert picture and (ROOT / picture.group(1)).is_file()
    assert "[polls]" in section and "tie" in section and "nobody voted" in section
