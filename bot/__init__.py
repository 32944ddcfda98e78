"""The bot: dreams photos into ImageNet classes on a schedule and posts them; answers requests.

Where each piece lives, in the order a photo goes through them:
- sources/ (photos in) -> picker.py (classes) -> render/ (the one boundary with the engine;
  queue/ runs it on huey workers) -> caption.py (places_text.py) -> publishers/ (outbox, Mastodon, Tumblr);
  pipeline.py is one such cycle (parts.py builds its parts from the config), recorded in store/
  (SQLite state); posting.py is each post's steps.
- scheduler.py runs cycles, retries and requests; requests/ (dreams asked for by mention, and
  remixes, from the photos kept_photos.py keeps) and polls/ (followers vote for the next
  mutant) join the same steps.
- config/ loads the operator's TOML; cli/ is `run_bot.py`'s commands (status, login, init);
  notify.py the admin's messages; folders.py, logs.py, retry.py, extras.py, failpoints.py are
  shared helpers.
"""
