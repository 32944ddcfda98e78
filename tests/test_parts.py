"""What a cycle takes from the config, decided once when its parts are built (bot/parts.py), and
what the request worker takes (bot/requests/settings.py)."""
from __future__ import annotations

from PIL import Image

from bot import kept_photos
from bot.config import load_config
from bot.kept_photos import Keeping
from bot.parts import build_parts
from bot.requests.settings import RequestSettings
from bot.retry import Backoff
from bot.sources.fetch import FetchPolicy
from bot_helpers import tiny_config

REMIX = ('[publishers.mastodon]\nenabled = true\napi_base_url = "https://m.example"\naccess_token_env = "LDB_TOKEN"\n'
         '[requests]\nenabled = true\nremix = true\nremix_keep_days = 3\n')


def _cfg(tmp_path, extra=REMIX):
    return load_config(tiny_config(tmp_path, extra=extra, bot="retry_seconds = 7\n"), environ={"LDB_TOKEN": "x" * 12})


def test_photos_are_kept_only_where_someone_can_remix_them(tmp_path):
    cfg = _cfg(tmp_path)
    assert Keeping.from_config(cfg) == Keeping(3.0, cfg.base_recipe().max_pixels)
    r, m = cfg.requests, cfg.publishers.mastodon
    for off in (r.model_copy(update={"enabled": False}), r.model_copy(update={"remix": False})):
        assert Keeping.from_config(cfg.model_copy(update={"requests": off})).days == 0
    no_mastodon = cfg.publishers.model_copy(update={"mastodon": m.model_copy(update={"enabled": False})})
    assert Keeping.from_config(cfg.model_copy(update={"publishers": no_mastodon})).days == 0


def test_a_dry_runs_parts_post_to_the_outbox_and_keep_no_photos(tmp_path):
    cfg = _cfg(tmp_path)
    parts = build_parts(cfg, dry_run=True)
    assert list(parts.publishers) == ["outbox"] and parts.keep.days == 0
    assert parts.backoff == Backoff(7.0, cfg.bot.retry_max_minutes * 60) and parts.data_dir == cfg.data_dir
    assert (parts.bot, parts.caption, parts.dive, parts.admin) == (cfg.bot, cfg.caption, cfg.dive, cfg.admin)


def test_a_kept_photo_is_what_the_engine_sees_and_none_is_kept_for_zero_days(tmp_path):
    photo = Image.new("RGB", (400, 100), "red")
    assert kept_photos.keep(Keeping(0.0, 4096), photo, "k0", tmp_path) is None
    assert not (tmp_path / kept_photos.FOLDER).exists()
    kept = kept_photos.keep(Keeping(1.0, 4096), photo, "k1", tmp_path)
    with Image.open(kept) as got:
        assert got.format == "JPEG" and got.width * got.height <= 4096 and got.width == 4 * got.height


def test_the_request_worker_takes_its_sections_and_what_follows_from_them(tmp_path):
    cfg = _cfg(tmp_path, extra=REMIX + "also_publish = true\ndive_frames = 48\n[dive]\nfps = 12\n")
    s = RequestSettings.from_config(cfg)
    assert cfg.enabled_publishers() == ["outbox", "mastodon"] and s.also_publish_to == ("outbox",)
    assert s.dive_seconds == 4.0 and s.recipe == cfg.base_recipe() and s.fetch == FetchPolicy.from_config(cfg.fetch)
    assert s.backoff == Backoff(7.0, cfg.bot.retry_max_minutes * 60) and s.data_dir == cfg.data_dir
    assert (s.requests, s.bot, s.admin, s.picker, s.dive, s.caption) == (
        cfg.requests, cfg.bot, cfg.admin, cfg.picker, cfg.dive, cfg.caption)
