"""The folder queue against files a careless or hostile person drops in: unreadable ones, names
that are not UTF-8 or hold line breaks and escapes, and dry runs that must leave no trace."""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import sqlite3
import time
from pathlib import Path

import pytest

from bot import cli, logs
from bot.sources.folder import FolderSource
from bot.store import Store
from bot_helpers import open_dir, photo_bytes, tiny_config, unprivileged, write_photo  # noqa: F401 (a fixture)

RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")


def write_bytes_name(folder: Path, name: bytes, data: bytes, age: float = 120.0) -> bytes:
    folder.mkdir(parents=True, exist_ok=True)
    path = os.path.join(os.fsencode(folder), name)
    with open(path, "wb") as f:
        f.write(data)
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def names(folder: Path) -> list[bytes]:
    return sorted(os.listdir(os.fsencode(folder))) if folder.is_dir() else []


def run_once(path: Path, *extra: str) -> tuple[int, str, str]:
    """One cycle through the real entry point; (exit code, stdout, the plain log)."""
    out, log = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(log):  # the bot logs to whatever sys.stderr is
        code = cli.main(["--once", "--config", str(path), *extra], out=out)
    assert log.getvalue(), "nothing was logged"
    return code, out.getvalue(), log.getvalue()


def sources_by_status(cfg_dir: Path, db: str = "bot.db") -> dict[str, int]:
    con = sqlite3.connect(cfg_dir / "data" / db)
    try:
        return dict(con.execute("SELECT status, COUNT(*) FROM sources GROUP BY status").fetchall())
    finally:
        con.close()


# --- files that cannot be read or stat'ed -----------------------------------------------------
def test_unreadable_file_goes_to_failed_and_the_queue_moves_on(open_dir):
    inbox = open_dir / "inbox"
    inbox.mkdir(mode=0o777)
    os.chmod(inbox, 0o777)
    write_photo(inbox / "locked.png", 1, age=300)
    os.chmod(inbox / "locked.png", 0)
    write_photo(inbox / "good.png", 2, age=100)

    from dreamer import load_image

    load_image(photo_bytes())  # the child may not read the libraries: import what it needs now

    def take() -> None:
        store = Store(open_dir / "bot.db")
        item = FolderSource("inbox", inbox, settle_seconds=0).take(store)
        assert item is not None and item.credit.title == "good"  # the next photo, this same cycle

    unprivileged(take)
    assert (inbox / "failed" / "locked.png").exists()
    reason = (inbox / "failed" / "locked.png.txt").read_text()
    assert "cannot read" in reason and "ermission denied" in reason


@pytest.mark.parametrize("fails", ["stat", "open"])
def test_file_that_cannot_be_stated_or_opened_does_not_block_the_cycle(tmp_path, monkeypatch, fails):
    # A disk error cannot be made on demand: the system call fails for one name only.
    path = tiny_config(tmp_path)
    write_photo(tmp_path / "inbox" / "sick.png", 1, age=300)
    write_photo(tmp_path / "inbox" / "fine.png", 2, age=100)
    real = os.stat if fails == "stat" else io.open
    sick = os.fspath(tmp_path / "inbox" / "sick.png")

    def broken(p, *a, **kw):
        if isinstance(p, (str, os.PathLike)) and os.fspath(p) == sick:
            raise OSError(errno.EIO, "Input/output error", os.fspath(p))
        return real(p, *a, **kw)

    monkeypatch.setattr(os, "stat", broken) if fails == "stat" else monkeypatch.setattr(io, "open", broken)
    code, out, log = run_once(path)
    monkeypatch.undo()
    assert code == 0 and out.startswith("posted: dream 1"), out + log
    assert "Traceback" not in log
    assert (tmp_path / "inbox" / "done" / "fine.png").exists()
    assert "Input/output error" in (tmp_path / "inbox" / "failed" / "sick.png.txt").read_text()


# --- file names that are not UTF-8 ------------------------------------------------------------
def test_non_utf8_names_work_or_fail_cleanly_on_the_first_try(tmp_path):
    path = tiny_config(tmp_path)
    inbox = tmp_path / "inbox"
    good = b"caf\xe9 \xff\xfe latin-1.png"
    bad = b"\x80\x81 broken \xc3(.png"
    write_bytes_name(inbox, bad, b"\x89PNG not really", age=300)
    write_bytes_name(inbox, good, photo_bytes(4), age=100)
    write_bytes_name(inbox, b"\xe9t\xe9.json", b'{"author": "Jos\\u00e9"}')  # sidecar of no photo
    code, out, log = run_once(path)
    assert code == 0 and out.startswith("posted: dream 1"), out + log
    assert "Traceback" not in log and "UnicodeEncodeError" not in log
    assert good in names(inbox / "done")  # the file keeps its name on disk
    failed = names(inbox / "failed")
    assert bad in failed and bad + b".txt" in failed
    reason = Path(os.fsdecode(os.path.join(os.fsencode(inbox / "failed"), bad + b".txt"))).read_text("utf-8")
    assert "dreamt before" not in reason and reason.strip()
    assert sources_by_status(tmp_path) == {"dreamt": 1, "failed": 1}  # nothing left "taken"
    cfg_out = tmp_path / "data" / "outbox"
    [post] = [json.loads(p.read_text("utf-8")) for p in cfg_out.glob("*.json")]
    assert "caf\ufffd \ufffd\ufffd latin 1" in post["caption"]


# --- names that would forge log lines -------------------------------------------------------
FORGED = "2030-01-01 00:00:00 ERROR bot.pipeline: forged"


@pytest.mark.parametrize("sep", ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"])
def test_a_name_cannot_forge_a_log_line(tmp_path, sep):
    path = tiny_config(tmp_path)
    inbox = tmp_path / "inbox"
    write_photo(inbox / f"evil{sep}{FORGED} a.png", 1, age=300)  # a photo: its title is logged
    (inbox / f"evil{sep}{FORGED} b.png").write_bytes(b"not a picture")  # refused: its name is logged
    os.utime(inbox / f"evil{sep}{FORGED} b.png", (time.time() - 400,) * 2)
    code, out, log = run_once(path)
    assert code == 0, out + log
    lines = log.split("\n")[:-1]
    assert lines and all(RECORD.match(line) or line.startswith("    ") for line in lines), log
    assert not any(line.startswith("2030-") for line in re.split(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", log))
    assert "forged" in log  # still shown, escaped


def test_log_lines_escape_terminal_codes_and_tracebacks_stay_indented():
    buf = io.StringIO()
    logger = __import__("logging").getLogger("bot.test")
    handler = logs.setup("plain", "INFO", stream=buf)
    try:
        logger.warning("name %s", "a\x1b[2K\x1b[1Aforged\u202eevil\udcff")
        try:
            raise ValueError(f"bad\n{FORGED}")
        except ValueError:
            logger.exception("failed")
        logs.setup("json", "INFO", stream=buf)
        logger.warning("name %s", f"x\u2028{FORGED}\x85\udcff")
    finally:
        __import__("logging").getLogger().removeHandler(handler)
        logs.setup("plain", "INFO")
    text = buf.getvalue()
    assert "\x1b" not in text and "\u202e" not in text and "\udcff" not in text and "\u2028" not in text
    plain, js = text.strip().split("\n")[:-1], text.strip().split("\n")[-1]
    assert all(RECORD.match(line) or line.startswith("    ") for line in plain), text
    assert json.loads(js)["message"] == f"name x\u2028{FORGED}\x85\udcff"


# --- dry runs -----------------------------------------------------------------------------------
def test_a_dry_run_uses_up_no_photo(tmp_path):
    from bot_helpers import LocalServer

    with LocalServer() as srv:
        srv.routes["/p.png"] = (200, {"Content-Type": "image/png"}, photo_bytes(7))
        (tmp_path / "urls.txt").write_text(srv.url("/p.png") + "\n", encoding="utf-8")
        path = tiny_config(tmp_path, sources=(
            '[[sources]]\ntype = "folder"\nname = "inbox"\npath = "inbox"\nsettle_seconds = 0\n'
            '[[sources]]\ntype = "urls"\nname = "list"\npath = "urls.txt"\n'),
            extra="[fetch]\nallow_private = true\n")
        write_photo(tmp_path / "inbox" / "harbour.png", 1)
        for _ in range(2):  # one cycle per source
            code, out, log = run_once(path, "--dry-run")
            assert code == 0 and out.startswith("posted:"), out + log
        assert (tmp_path / "inbox" / "harbour.png").exists() and not (tmp_path / "inbox" / "done").exists()
        code, out, log = run_once(path, "--dry-run")  # a dry run still dreams each photo once
        assert out.startswith("idle"), out + log
        real = []
        for _ in range(2):  # the real bot takes both photos after all
            code, out, log = run_once(path)
            assert code == 0 and out.startswith("posted: dream"), out + log
            real.append(out)
        assert (tmp_path / "inbox" / "done" / "harbour.png").exists()
        assert sources_by_status(tmp_path) == {"dreamt": 2}
        assert len(list((tmp_path / "data" / "outbox").glob("*.json"))) == 4
