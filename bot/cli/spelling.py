"""A misspelt option or command on `run_bot.py`'s command line, said plainly.

argparse reads the value of an option it does not know as the command: `--confg x` says
"invalid choice: 'x'", which is not the mistake. Python 3.11 and 3.12 suggest no spelling
either (`suggest_on_error` is 3.14's). So the line is read once before argparse reads it:
the first word that is no option (nor the unique start of one, which argparse takes) or, in
the command's place, no command, is named with the likely ones and the valid ones.
"""
from __future__ import annotations

import argparse
import difflib
from typing import Sequence


def misspelt(argv: Sequence[str], parser: argparse.ArgumentParser) -> str | None:
    """The message for the first misspelt option or command in `argv`, or None: then argparse
    reports whatever else is wrong (an ambiguous abbreviation, a missing value...) itself."""
    actions = parser._actions  # argparse has no public list of a parser's options
    takes_value = {s: a.nargs != 0 for a in actions for s in a.option_strings}
    options = [s for a in actions for s in a.option_strings if s.startswith("--")]
    commands = next((list(a.choices) for a in actions if isinstance(a, argparse._SubParsersAction)), [])
    words = iter(argv)
    command_seen = False
    for word in words:
        if word == "--":
            return None
        if word.startswith("-") and word != "-":
            name, has_value, _ = word.partition("=")
            known = [name] if name in takes_value else [o for o in options if o.startswith(name)]
            if not known:
                return _unknown("option", name, options)
            if len(known) > 1 or known[0] in ("-h", "--help"):
                return None  # argparse says which options it could be, or shows the help
            if takes_value[known[0]] and not has_value:
                next(words, None)  # its value, whatever it looks like
        elif not command_seen:
            if word not in commands:
                return _unknown("command", word, commands)
            command_seen = True  # later words are the command's (login's platform)
    return None


def _unknown(kind: str, word: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.6)  # one: "--" makes many look close
    guess = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown {kind} {word!r}{guess}; valid {kind}s: {', '.join(valid)}"
