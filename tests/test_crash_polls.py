"""A poll and its winner survive kill -9 at every named point (bot/failpoints.py), against
mastodon-mock: real `run_bot.py --once` processes, each killed a step further than the last,
then one clean run. Exactly one status for the poll, exactly one winner post (the dream of
the winning combination, linking the poll), never a doubled or a lost one."""
from __future__ import annotations

import signal
import sqlite3

from bot.publishers.mastodon_text import html_to_text
from bot.store import PollState, Store
from bot_helpers import mastodon_mock_fixtures, write_photo
from requests_helpers import SEED
from test_bot_polls import poll_config, polls, statuses, time_is_up, vote
from test_crash_mastodon import assert_settled, once

server, mock = mastodon_mock_fixtures(SEED)


def test_kills_at_every_point_of_a_poll_leave_one_poll_and_one_winner_post(mock, tmp_path):
    path = poll_config(tmp_path, mock)
    text = path.read_text().replace("[bot]\n", "[bot]\nretry_seconds = 0.05\nretry_max_minutes = 0.01\n", 1)
    path.write_text(text)
    store = Store(tmp_path / "data" / "bot.db")
    write_photo(tmp_path / "inbox" / "one.png", 1)

    def run(kill: str | None = None) -> None:
        proc = once(path, kill=kill)
        assert proc.returncode == (-signal.SIGKILL if kill else 0), proc.stderr[-3000:]

    # the first poll: drawn and killed before it is sent, then killed with it sent but not recorded
    run("poll")
    assert len(statuses(mock)) == 1 and polls(mock) == []  # the first dream only
    assert store.running_poll().state is PollState.DRAWN
    run("polled")
    assert len(polls(mock)) == 1 and store.running_poll().attempts == 1
    run()  # found by its reference line, not posted again
    [poll_status] = polls(mock)
    first = store.running_poll()
    assert first.state is PollState.OPEN and first.status_id == str(poll_status["id"])

    # votes, the poll's time is up, a new photo; then killed at each step to the winner's post
    for choice in (1, 1, 3):
        vote(mock, poll_status["poll"]["id"], choice)
    time_is_up(store)
    write_photo(tmp_path / "inbox" / "two.png", 2)
    run("closed")  # the winner recorded, not dreamt
    assert store.poll(first.id).winner == 1 and len(statuses(mock)) == 2
    vote(mock, poll_status["poll"]["id"], 3)  # too late: the tallies were read
    run("dream")  # the photo taken, the winner not dreamt
    run("recorded")  # the winner dreamt and recorded, not posted
    assert store.poll(first.id).state is PollState.USED and len(statuses(mock)) == 2
    run("upload")  # its image on the server, no status
    run("posted")  # its status made, not recorded
    run()

    winner = first.options[1]
    line = f"Chosen by poll: B) {' × '.join(winner.names)} won with 2 of 3 votes. {poll_status['url']}"
    posts = [s for s in statuses(mock) if not s.get("poll")]
    assert [line in html_to_text(s["content"]) for s in posts] == [False, True]  # exactly one winner post
    assert len(polls(mock)) == 2  # the first poll once, then the next one
    dream = store.dream(2)
    assert [tuple(c) for c in dream.classes] == [tuple(c) for c in winner.classes] and dream.seed == winner.seed
    assert store.poll(first.id).dream_id == 2 and store.post(2, "mastodon").state == "confirmed"
    assert store.running_poll().state is PollState.OPEN and store.running_poll().id == first.id + 1
    run()  # nothing left to do: nothing more is posted
    assert len(statuses(mock)) == 4
    text = assert_settled(path)
    assert f"  poll {first.id + 1}: open until " in text
    assert f"  poll {first.id}: dreamt as dream 2; B won (votes: [0, 2, 0, 1]); {poll_status['url']}" in text
    db = sqlite3.connect(store.path)
    assert db.execute("SELECT state, COUNT(*) FROM polls GROUP BY state ORDER BY state").fetchall() == \
        [("open", 1), ("used", 1)]
    db.close()


def test_a_poll_closed_by_a_run_without_a_photo_keeps_its_winner_for_the_next_dream(mock, tmp_path):
    """Killed right after the tallies were read and the winner recorded, in a cycle with no
    photo: the next runs neither read the tallies again nor open another poll; the winner
    waits for the next photo."""
    path = poll_config(tmp_path, mock)
    store = Store(tmp_path / "data" / "bot.db")
    write_photo(tmp_path / "inbox" / "one.png", 1)
    assert once(path).returncode == 0
    [poll_status] = polls(mock)
    vote(mock, poll_status["poll"]["id"], 0)
    vote(mock, poll_status["poll"]["id"], 2)
    time_is_up(store)
    proc = once(path, kill="closed")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    row = store.running_poll()
    assert row.state is PollState.CLOSED and row.how == "tie" and row.winner in (0, 2)
    vote(mock, poll_status["poll"]["id"], 1)
    vote(mock, poll_status["poll"]["id"], 1)  # too late
    assert once(path).returncode == 0  # still no photo: the winner waits
    assert store.running_poll() == row and len(polls(mock)) == 1
    write_photo(tmp_path / "inbox" / "two.png", 2)
    assert once(path).returncode == 0
    assert store.dream(2).seed == row.options[row.winner].seed and len(polls(mock)) == 2
