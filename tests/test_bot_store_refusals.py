"""The `requests.refusal` column: a `Refusal` kind, free words why a mention was ignored, or
both ("limit (already told today)"), stored as the text it always was, so old databases read
back and the daily limits count what they counted."""
from __future__ import annotations

import sqlite3

import pytest

from bot.config import RequestsSection
from bot.requests.listen import intake
from bot.store import Refusal, RequestState, Store

FIELDS = dict(account_id="1", acct="ann", visibility="public", status_json="{}")
# Every text the column has held: each kind, and the words bots have stored beside or instead of one.
OLD_TEXTS = [(k.value, k, None) for k in Refusal] + [
    ("limit (already told today)", Refusal.LIMIT, "already told today"),
    ("queue_full (already told today)", Refusal.QUEUE_FULL, "already told today"),
    ("blocked account", None, "blocked account"),
    ("#nobot in the profile", None, "#nobot in the profile"),
    ("older than 24 h", None, "older than 24 h"),
    ("already 3 replies in this thread", None, "already 3 replies in this thread"),
    ("the request was deleted", None, "the request was deleted"),
    ("sparkles", None, "sparkles"),  # a kind a newer bot knows: words to this one
    ("limit (unclosed", None, "limit (unclosed"),
]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "bot.db")
    yield s
    s.close()


def add(store: Store, n: int, **fields) -> int:
    rid = store.add_request(None, status_id=str(n), thread_key=str(n), reply_key=f"k{n}", **{**FIELDS, **fields})
    assert rid is not None
    return rid


def column(store: Store, rid: int) -> tuple:
    [r] = store._query("SELECT typeof(refusal) AS t, CAST(refusal AS BLOB) AS b FROM requests WHERE id = ?", (rid,))
    return r["t"], r["b"]


def test_an_old_databases_refusals_read_back_as_kind_and_words_and_are_written_back_byte_for_byte(store, tmp_path):
    ids = [add(store, n, state="ignored") for n in range(len(OLD_TEXTS))]
    with sqlite3.connect(tmp_path / "bot.db") as old:  # as an older bot wrote them
        for rid, (text, _, _) in zip(ids, OLD_TEXTS):
            old.execute("UPDATE requests SET refusal = ? WHERE id = ?", (text, rid))
    for rid, (text, kind, why) in zip(ids, OLD_TEXTS):
        row = store.request(rid)
        assert (row.refusal, row.why_ignored) == (kind, why), text
        assert kind is None or type(row.refusal) is Refusal
        store.update_request(rid, refusal=row.refusal, why_ignored=row.why_ignored)
        assert column(store, rid) == ("text", text.encode()), text


def test_a_kind_and_words_are_one_column_set_together(store):
    told = add(store, 1, state="ignored", refusal=Refusal.LIMIT, why_ignored="already told today")
    assert column(store, told) == ("text", b"limit (already told today)")
    refused = add(store, 2, state="refusing", refusal=Refusal.QUEUE_FULL)
    assert column(store, refused) == ("text", b"queue_full")
    row = store.update_request(refused, state="ignored", why_ignored="the request was deleted")
    assert (row.refusal, row.why_ignored) == (None, "the request was deleted")  # setting one sets both
    assert column(store, refused) == ("text", b"the request was deleted")
    assert column(store, add(store, 3, state="accepted")) == ("null", None)
    with pytest.raises(ValueError):  # free words are no kind
        store.update_request(refused, refusal="blocked account")


def test_only_refusals_for_a_limit_or_a_full_queue_are_not_counted_towards_the_limits(store):
    not_counted = {Refusal.LIMIT, Refusal.QUEUE_FULL, Refusal.DIVE_LIMIT, Refusal.REMIX_LIMIT}
    for n, kind in enumerate(Refusal):
        account = f"a{n}"  # one account per kind: each count sees one request
        add(store, 3 * n, account_id=account, state="refused", refusal=kind)
        add(store, 3 * n + 1, account_id=account, state="refused", refusal=kind, kind="dive")
        add(store, 3 * n + 2, account_id=account, state="refused", refusal=kind, remix_of="99")
        counted = kind not in not_counted
        assert (store.requests_today(account), store.dives_today(account), store.remixes_today(account)) == \
            (2 * counted, counted, counted), kind  # a remix has its own limit; a dive counts as a request
        assert store.requests_today(account, kind) == 3  # how often it was told so today
    add(store, 1000, account_id="b", state="accepted")
    add(store, 1001, account_id="b", state="ignored", refusal=Refusal.LIMIT, why_ignored="already told today")
    assert (store.requests_today("b"), store.requests_today("b", Refusal.LIMIT)) == (1, 0)


def test_a_mention_over_the_limit_is_refused_once_then_ignored_as_told_today(store):
    cfg = RequestsSection(daily_limit=1)
    add(store, 1, state="replied")  # today's one request

    def mention(n: int) -> dict:
        status = {"id": str(n), "account": {"id": "1", "acct": "ann"}, "content": "<p>@bot goldfish</p>",
                  "visibility": "public"}
        return {**intake(status, store, cfg, me="0"), "status_id": str(n), "thread_key": str(n)}

    first = mention(2)
    assert (first["state"], first["refusal"], first["why_ignored"]) == (RequestState.REFUSING, Refusal.LIMIT, None)
    assert column(store, store.add_request(None, **first)) == ("text", b"limit")
    again = mention(3)
    assert (again["state"], again["refusal"], again["why_ignored"]) == \
        (RequestState.IGNORED, Refusal.LIMIT, "already told today")
    assert column(store, store.add_request(None, **again)) == ("text", b"limit (already told today)")
