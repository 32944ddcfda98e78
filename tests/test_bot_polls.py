"""Polls for the next mutant (issue 30), end to end against mastodon-mock and the local Tumblr:
the bot posts a poll of the picker's combinations, people vote (accounts made through the
mock's control plane, voting through the real API), the poll closes, and the winner is the
next dream, whose post links the poll; ties and polls nobody voted in follow the rule; Tumblr
gets the result, never the poll. The bot runs as the scheduler runs it (build_parts,
Pipeline) with the tiny net.

Where mastodon-mock differs from a real server (tests/fixtures/mastodon/README.md): its polls
never say `expired`, so "the time is up" is the stored closing time moved into the past (what
the bot reads, in every process); its polls outlive their status, so a deleted poll is the
real server's 404, served through the fault plane."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

import bot.publishers.tumblr as tumblr_mod
from bot.config import load_config
from bot.parts import build_parts
from bot.pipeline import Pipeline
from bot.polls.rule import NO_VOTES, TIE, VOTES, decide, duration, option_title, result_line
from bot.publishers.mastodon import MastodonPublisher, posted_poll
from bot.publishers.mastodon_api import MastodonApi
from bot.publishers.mastodon_text import html_to_text, limits_from_instance
from bot.store import PollState, Store
from bot_helpers import mastodon_mock_fixtures, tiny_config, write_photo
from requests_helpers import BOT_TOKEN, SEED, add_fault, client_for
from tumblr_server import KEYS, TumblrServer

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
BLOG = "lucid-dreams"
ENV = {"LDB_TEST_MASTODON_TOKEN": BOT_TOKEN, **{f"TUMBLR_{k.upper()}": v for k, v in KEYS.items()}}
PICKER = 'allow = ["goldfish", "stingray", "peacock", "ostrich", "monarch"]\nmin_classes = 1\nmax_classes = 2\n'

server, mock = mastodon_mock_fixtures(SEED)


@pytest.fixture
def tumblr(monkeypatch):
    with TumblrServer(BLOG) as srv:
        monkeypatch.setattr(tumblr_mod, "API_ROOT", srv.api_root)
        yield srv


def poll_config(tmp_path: Path, srv, *, tumblr: bool = False, polls: str = "") -> Path:
    extra = (f'[publishers.mastodon]\nenabled = true\napi_base_url = "{srv.base_url}"\n'
             'access_token_env = "LDB_TEST_MASTODON_TOKEN"\ntimeout = 5\nprocessing_wait = 10\n'
             f'[publishers.tumblr]\nenabled = {str(tumblr).lower()}\nblog = "{BLOG}"\ntimeout = 10\n'
             f'[polls]\nenabled = true\nhours = 2\n{polls}\n')
    return tiny_config(tmp_path, extra=extra, picker=PICKER)


def start_bot(path: Path) -> tuple[Pipeline, Store]:
    cfg = load_config(path, environ=ENV)
    store = Store(cfg.data_dir / "bot.db")
    return Pipeline(build_parts(cfg, store), store), store


def cycle(pipe: Pipeline, tmp_path: Path, n: int) -> None:
    write_photo(tmp_path / "inbox" / f"photo{n}.png", n)
    result = pipe.run_cycle()
    assert result.outcome == "posted" and not result.errors, result


def statuses(srv) -> list[dict]:
    """The bot's statuses, oldest first."""
    c = client_for(srv, "dreambot")
    return list(reversed(c.account_statuses(c.account_verify_credentials()["id"], limit=40)))


def polls(srv) -> list[dict]:
    return [s for s in statuses(srv) if s.get("poll")]


def status_of(srv, store: Store, dream_id: int) -> dict:
    remote = store.post(dream_id, "mastodon").remote_id
    [status] = [s for s in statuses(srv) if str(s["id"]) == remote]
    return status


def vote(srv, poll_id, choice: int) -> None:
    """A new person (made through the mock's control plane) votes for option `choice`."""
    person = requests.post(f"{srv.base_url}/api/v1/_mock/dev_user", json={}, timeout=10)
    person.raise_for_status()
    r = requests.post(f"{srv.base_url}/api/v1/polls/{poll_id}/votes", json={"choices": [choice]}, timeout=10,
                      headers={"Authorization": f"Bearer {person.json()['access_token']}"})
    r.raise_for_status()


def time_is_up(store: Store) -> None:
    """The open poll's closing time has passed (mastodon-mock never ends a poll itself)."""
    past = (datetime.now(timezone.utc) - timedelta(minutes=3)).isoformat(timespec="seconds")
    db = sqlite3.connect(store.path)
    with db:
        assert db.execute("UPDATE polls SET closes_at = ? WHERE state = 'open'", (past,)).rowcount == 1
    db.close()


def tumblr_text(post: dict) -> str:
    return "\n".join(b["text"] for b in post["content"] if b["type"] == "text")


# --- the rule ---------------------------------------------------------------------------------
def test_the_most_votes_win_and_a_tie_or_no_votes_is_a_seeded_draw_among_the_tied():
    assert decide([0, 2, 1, 0], "k") == decide([0, 2, 1, 0], "other")
    assert (decide([0, 2, 1, 0], "k").winner, decide([0, 2, 1, 0], "k").how) == (1, VOTES)
    ties = {decide([3, 1, 3, 0], f"poll {n}").winner for n in range(40)}
    assert ties == {0, 2}  # only the tied, and not always the first of them
    assert {decide([0, 0, 0, 0], f"poll {n}").winner for n in range(40)} == {0, 1, 2, 3}
    assert decide([3, 1, 3, 0], "k").how == TIE and decide([0, 0, 0], "k").how == NO_VOTES
    assert all(decide([2, 2, 0], "same").winner == decide([2, 2, 0], "same").winner for _ in range(5))
    with pytest.raises(ValueError):
        decide([], "k")


def test_what_the_poll_and_the_winner_say():
    options = [["goldfish", "monarch"], ["stingray"], ["peacock", "ostrich"]]
    url = "https://m.example/@bot/1"
    assert result_line(decide([1, 4, 0], "k"), options, url) == \
        f"Chosen by poll: B) stingray won with 4 of 5 votes. {url}"
    tie = decide([2, 0, 2], "k")
    assert result_line(tie, options, None) == (
        f"Chosen by poll: A and C tied with 2 votes each; a draw chose {'AC'[tie.winner // 2]}) "
        f"{' × '.join(options[tie.winner])}.")
    quiet = decide([0, 0, 0], "k")
    assert result_line(quiet, options, url).startswith("Chosen by poll: nobody voted, so a draw among all 3 chose")
    assert option_title(0, ["great white shark", "yellow lady's slipper"], 50) == \
        "A) great white shark × yellow lady's slipper"
    assert len(option_title(0, ["great white shark", "yellow lady's slipper", "hammerhead"], 50)) == 50
    assert [duration(s) for s in (360, 5400, 7200, 86400)] == ["6 minutes", "90 minutes", "2 hours", "1 day"]


# --- a real server's answers -----------------------------------------------------------------
def test_a_real_servers_poll_and_limits_are_read(mock):
    instance = json.loads((FIXTURES / "instance_v2_mastodon_social_4_5.json").read_text())
    limits = limits_from_instance(instance)
    assert (limits.poll_max_options, limits.poll_max_characters_per_option, limits.poll_min_expiration,
            limits.poll_max_expiration) == (4, 50, 300, 2629746)
    real = json.loads((FIXTURES / "poll_expired.json").read_text())
    add_fault(mock, r"^/api/v1/polls/34830$", methods=["GET"], type="status", status=200, body=real)
    pub = MastodonPublisher(MastodonApi(mock.base_url, BOT_TOKEN))
    assert pub.read_votes("34830") == (6, 4)
    gone = json.loads((FIXTURES / "poll_not_found_404.json").read_text())
    add_fault(mock, r"^/api/v1/polls/34830$", methods=["GET"], type="status", status=404, body=gone)
    assert pub.read_votes("34830") is None
    made = posted_poll({"id": "1", "url": None, "poll": real})
    assert (made.poll_id, made.closes_at) == ("34830", "2019-12-05T04:05:08+00:00")


# --- end to end -------------------------------------------------------------------------------
def test_a_poll_then_the_winner_is_the_next_dream_and_its_post_links_the_poll(mock, tumblr, tmp_path):
    pipe, store = start_bot(poll_config(tmp_path, mock, tumblr=True))
    cycle(pipe, tmp_path, 1)  # the first dream is the picker's; then the first poll opens
    first_dream, poll_status = statuses(mock)
    assert first_dream["poll"] is None and first_dream["media_attachments"]
    row = store.running_poll()
    assert row.state is PollState.OPEN and row.url == poll_status["url"] and row.status_id == str(poll_status["id"])
    poll = poll_status["poll"]
    titles = [o["title"] for o in poll["options"]]
    assert titles == [f"{'ABCD'[i]}) {' × '.join(o.names)}" for i, o in enumerate(row.options)]
    text = html_to_text(poll_status["content"])
    assert text.startswith("Next dream: which mutant should I dream next?\n" + "\n".join(titles))
    assert "The poll closes in 2 hours" in text and poll_status["visibility"] == "public"
    assert len({o.key for o in row.options}) == 4 and store.dream(1).classes  # four different combinations
    assert not {o.key for o in row.options} & set(store.recent_combos(50))  # none just dreamt
    assert not poll["multiple"]
    for choice in (2, 2, 0):
        vote(mock, poll["id"], choice)

    cycle(pipe, tmp_path, 2)  # the poll is still open: the picker's own dream, still one poll
    assert len(polls(mock)) == 1 and "Chosen by poll" not in store.dream(2).caption

    time_is_up(store)
    cycle(pipe, tmp_path, 3)
    winner, dream = row.options[2], store.dream(3)
    assert [tuple(c) for c in dream.classes] == [tuple(c) for c in winner.classes] and dream.seed == winner.seed
    line = f"Chosen by poll: C) {' × '.join(winner.names)} won with 2 of 3 votes. {poll_status['url']}"
    post = status_of(mock, store, 3)
    assert line in html_to_text(post["content"]) and f'href="{poll_status["url"]}"' in post["content"]
    assert store.poll(row.id).state is PollState.USED and store.poll(row.id).dream_id == 3
    # Tumblr: every dream, the winner's with the result; no poll
    assert [line in tumblr_text(p) for p in tumblr.posts] == [False, False, True]
    assert not any("Next dream" in tumblr_text(p) for p in tumblr.posts)
    # the next poll is open, and votes on the closed one change nothing
    assert len(polls(mock)) == 2 and store.running_poll().state is PollState.OPEN
    for _ in range(3):
        vote(mock, poll["id"], 1)
    pipe.retry_due()
    assert (store.poll(row.id).winner, store.poll(row.id).votes) == (2, (1, 0, 2, 0))


def test_a_tie_and_a_poll_nobody_voted_in_are_drawn_by_the_rule(mock, tmp_path):
    pipe, store = start_bot(poll_config(tmp_path, mock, polls="options = 3\n"))
    cycle(pipe, tmp_path, 1)
    first = store.running_poll()
    [poll_status] = polls(mock)
    assert len(poll_status["poll"]["options"]) == 3
    vote(mock, poll_status["poll"]["id"], 0)
    vote(mock, poll_status["poll"]["id"], 1)
    time_is_up(store)
    cycle(pipe, tmp_path, 2)
    tie = decide([1, 1, 0], first.poll_key)
    assert tie.winner in (0, 1) and store.poll(first.id).how == TIE
    won = first.options[tie.winner]
    assert store.dream(2).seed == won.seed
    assert (f"Chosen by poll: A and B tied with 1 vote each; a draw chose {'AB'[tie.winner]}) "
            f"{' × '.join(won.names)}.") in html_to_text(status_of(mock, store, 2)["content"])

    second = store.running_poll()
    time_is_up(store)  # nobody votes
    cycle(pipe, tmp_path, 3)
    quiet = decide([0, 0, 0], second.poll_key)
    won = second.options[quiet.winner]
    assert store.poll(second.id).how == NO_VOTES and store.dream(3).seed == won.seed
    assert (f"Chosen by poll: nobody voted, so a draw among all 3 chose {'ABC'[quiet.winner]}) "
            f"{' × '.join(won.names)}.") in html_to_text(status_of(mock, store, 3)["content"])
    assert len(polls(mock)) == 3


def test_a_deleted_poll_has_no_winner_and_the_next_poll_opens(mock, tmp_path):
    pipe, store = start_bot(poll_config(tmp_path, mock))
    cycle(pipe, tmp_path, 1)
    row = store.running_poll()
    client_for(mock, "dreambot").status_delete(row.status_id)
    gone = json.loads((FIXTURES / "poll_not_found_404.json").read_text())  # as a real server answers
    add_fault(mock, rf"^/api/v1/polls/{row.remote_id}$", methods=["GET"], type="status", status=404, body=gone,
              count=None)
    time_is_up(store)
    cycle(pipe, tmp_path, 2)
    assert store.poll(row.id).state is PollState.ENDED and "deleted" in store.poll(row.id).error
    assert "Chosen by poll" not in store.dream(2).caption  # the picker's own
    assert store.running_poll().id == row.id + 1 and len(polls(mock)) == 1  # the new one


def test_a_poll_the_server_cannot_take_now_is_posted_later_once(mock, tmp_path):
    pipe, store = start_bot(poll_config(tmp_path, mock))
    add_fault(mock, r"^/api/v1/statuses/?$", methods=["POST"], type="status", status=503, count=2)
    write_photo(tmp_path / "inbox" / "photo1.png", 1)
    result = pipe.run_cycle()  # the dream's status and the poll both meet a 503
    assert statuses(mock) == []
    assert result.errors[-1].startswith("poll: Mastodon server error while trying to post the poll (HTTP 503")
    row = store.running_poll()
    assert (row.state, row.attempts, row.failures) == (PollState.DRAWN, 1, 1)
    db = sqlite3.connect(store.path)
    with db:  # its backoff is over
        db.execute("UPDATE polls SET retry_at = '2000-01-01T00:00:00+00:00'")
    db.close()
    pipe.retry_due()
    assert store.running_poll().state is PollState.OPEN and len(polls(mock)) == 1
    pipe.retry_due()
    assert len(polls(mock)) == 1


def test_a_poll_a_dead_process_posted_is_found_not_posted_again(mock, tmp_path, monkeypatch):
    """After the hour the server keeps idempotency keys, only the poll's reference line stands
    between a restart and a second poll."""
    import bot.publishers.mastodon_api as api_mod

    pipe, store = start_bot(poll_config(tmp_path, mock))
    cycle(pipe, tmp_path, 1)
    row = store.running_poll()
    db = sqlite3.connect(store.path)
    with db:  # as the store is when the bot died after posting: drawn, one attempt
        db.execute("UPDATE polls SET state = 'drawn', status_id = NULL, url = NULL, remote_id = NULL, "
                   "closes_at = NULL WHERE id = ?", (row.id,))
    db.close()
    monkeypatch.setattr(api_mod, "idempotency_key", lambda key: "forgotten-" + key)
    pipe.retry_due()
    again = store.running_poll()
    assert len(polls(mock)) == 1 and again.state is PollState.OPEN
    assert (again.status_id, again.remote_id, again.attempts) == (row.status_id, row.remote_id, 1)


def test_polls_need_mastodon_and_enough_combinations(tmp_path):
    from bot.config import ConfigError

    path = tiny_config(tmp_path, extra="[polls]\nenabled = true\n", picker='allow = ["goldfish", "stingray"]\n'
                       'min_classes = 2\nmax_classes = 2\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "polls.enabled: the poll for the next mutant is a Mastodon poll" in text
    assert "polls.options: a poll offers 4 different class combinations, but [picker] can make only 1" in text


@pytest.mark.parametrize("mode, keys, instead", [
    ("deepdream", 'layer = "conv2"\n', "patterns the net already sees"),
    ("guide", 'guide = "{guide}"\n', "a guide picture's look"),
    ("randomise", "", "every class pushed up or down at random"),
])
def test_polls_are_refused_in_a_mode_that_dreams_no_chosen_class(tmp_path, mode, keys, instead):
    """The winner's classes would be recorded and announced, but never dreamt."""
    from types import SimpleNamespace

    from bot.config import ConfigError

    path = poll_config(tmp_path, SimpleNamespace(base_url="https://mastodon.example"))
    guide = write_photo(tmp_path / "clouds.png", 7)
    lucid = path.read_text()
    path.write_text(lucid.replace('model = "tiny"', f'model = "tiny"\nmode = "{mode}"\n'
                                  + keys.format(guide=guide.as_posix())))
    with pytest.raises(ConfigError) as err:
        load_config(path, environ=ENV)
    assert str(err.value).startswith("1 problem in the config:")  # only this one
    assert (f"polls.enabled: a poll lets followers choose the classes of the next dream, but recipe.mode = "
            f"'{mode}' dreams no chosen class ({instead}), so the winner would never show; set "
            'polls.enabled = false, or recipe.mode = "lucid"') in str(err.value)
    path.write_text(path.read_text().replace("[polls]\nenabled = true", "[polls]\nenabled = false"))
    assert not load_config(path, environ=ENV).polls.enabled  # polls off: that mode is fine
    path.write_text(lucid)
    assert load_config(path, environ=ENV).polls.enabled  # and polls in lucid mode are


def test_random_draws_for_the_poll_are_different_combinations(mock, tmp_path):
    """The picker's draws for one poll never repeat a combination, even from a small pool."""
    path = poll_config(tmp_path, mock, polls="options = 4\n")
    text = path.read_text().replace(PICKER, 'allow = ["goldfish", "stingray", "peacock"]\nmin_classes = 1\n'
                                            'max_classes = 2\n')
    path.write_text(text)
    pipe, store = start_bot(path)
    cycle(pipe, tmp_path, 1)
    keys = [o.key for o in store.running_poll().options]
    assert len(keys) == len(set(keys)) == 4 and store.recent_combos(1)[0] not in keys


def test_the_tallies_wait_a_little_past_the_closing_time():
    from bot.polls.runner import _due

    ago = lambda **kw: (datetime.now(timezone.utc) - timedelta(**kw)).isoformat(timespec="seconds")  # noqa: E731
    assert not _due(None) and not _due(ago(seconds=-60))
    assert not _due(ago(seconds=30))  # the server's clock may be a little behind this one
    assert _due(ago(minutes=3))
