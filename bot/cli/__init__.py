"""`run_bot.py` and the `dream-bot` script: the operator's commands around the pipeline.

commands.py parses the command line and runs the bot, one cycle, a worker, `init` or
`check-config`; spelling.py names a misspelt option or command on it plainly; status.py (with
report.py) shows what the bot did and what waits, reading the data folder only; accounts.py
and login.py get and check the platforms' credentials.
`main` is re-exported so the installed script's `bot.cli:main` keeps working.
"""
from __future__ import annotations

from bot.cli.commands import main

__all__ = ["main"]
