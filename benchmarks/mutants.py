"""Helpers for issue 18's mutation runs (benchmarks/mutation_report.md); not part of the bot.

Run from the folder mutmut ran in (the one holding `mutants/`), with the venv's python:

  python benchmarks/mutants.py survivors            # each survivor's changed lines; SQL-case-only ones apart
  python benchmarks/mutants.py run NAMES -- TESTS   # mutmut's own mutants, one at a time, against TESTS

`survivors` sets apart the mutants that only change the case of a string (mutmut upper- or
lower-cases every literal): in SQL text and in sqlite3.Row keys that changes nothing, since
SQLite's keywords and identifiers and Row lookups ignore case. Read the rest by hand.

`run` picks a mutant the way mutmut does (MUTANT_UNDER_TEST, read by the trampolines in
mutants/), so a survivor can be tried against other test files, or new tests, without a
new mutmut run and its stats pass; NAMES is a file of mutant names, one a line.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|PRAGMA|VALUES|WHERE|ORDER BY|GROUP BY|ON CONFLICT|LIMIT)\b", re.I)
ROW_KEY = re.compile(r"""\[["'][A-Za-z_0-9]+["']\]""")


def _changed(name: str) -> tuple[str, str]:
    from mutmut.__main__ import find_mutant
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    lines = get_diff_for_mutant(name, path=find_mutant(name).path).split("\n")[3:]
    minus = "\n".join(ln[1:] for ln in lines if ln.startswith("-"))
    plus = "\n".join(ln[1:] for ln in lines if ln.startswith("+"))
    return minus, plus


def survivors() -> None:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results"], capture_output=True, text=True).stdout
    names = [ln.split(":")[0].strip() for ln in out.splitlines() if ln.strip().endswith(": survived")]
    case_only, rest = [], []
    for name in names:
        minus, plus = _changed(name)
        same_but_case = minus != plus and minus.lower() == plus.lower()
        quoted = re.findall(r"'([a-z_]+)'", minus) != re.findall(r"'([a-z_]+)'", plus)  # 'pending' -> 'PENDING'
        if same_but_case and not quoted and (SQL.search(minus) or ROW_KEY.search(minus)):
            case_only.append(name)
        else:
            rest.append((name, minus, plus))
    print(f"{len(names)} survivors; {len(case_only)} only change the case of SQL text or a row key:")
    print(" ".join(n.rsplit(".", 1)[-1] for n in case_only))
    for name, minus, plus in rest:
        print(f"\n## {name}\n- {minus}\n+ {plus}")


def run(names_file: str, tests: list[str]) -> None:
    for name in open(names_file).read().split():
        env = {**os.environ, "MUTANT_UNDER_TEST": name}
        r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                           cwd="mutants", env=env, capture_output=True, text=True)
        print(f"{name}: {'killed' if r.returncode else 'survived'}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["survivors"]:
        survivors()
    elif sys.argv[1:2] == ["run"] and "--" in sys.argv:
        run(sys.argv[2], sys.argv[sys.argv.index("--") + 1:])
    else:
        sys.exit(__doc__)
