"""A value the bot does not know in a typed column of `requests` (a newer bot's, or written by
hand): the row still reads, as the safe fallback, and one whole log line says so."""
from __future__ import annotations

import logging
import sqlite3

from bot.store import Busy, RequestKind, Store


def test_each_unknown_value_reads_as_its_fallback_with_one_whole_log_line(tmp_path, caplog):
    s = Store(tmp_path / "bot.db")
    rid = s.add_request(None, status_id="7", account_id="1", acct="ann", visibility="public", thread_key="7",
                        state="rendering", reply_key="k", status_json="{}", kind=RequestKind.DIVE, busy=Busy.DREAM)
    with sqlite3.connect(tmp_path / "bot.db") as other:
        other.execute("UPDATE requests SET kind = 'gif', busy = 'upload' WHERE id = ?", (rid,))
    with caplog.at_level(logging.WARNING, logger="bot.store"):
        row = s.request(rid)
    assert (row.kind, row.busy) == (RequestKind.DREAM, Busy.REPLY)
    assert (type(row.kind), type(row.busy)) == (RequestKind, Busy)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "request 7 has a kind this bot does not know ('gif'): it is dreamt as a picture"),
        (logging.WARNING, "request 7 is busy with a step this bot does not know ('upload'): "
                          "taken for a reply in progress"),
    ]
    with sqlite3.connect(tmp_path / "bot.db") as other:
        other.execute("UPDATE requests SET kind = 'dive', busy = NULL WHERE id = ?", (rid,))
    caplog.clear()
    row = s.request(rid)
    assert (row.kind, row.busy, caplog.records) == (RequestKind.DIVE, None, [])  # known values: nothing logged
    s.close()
