"""The bot: dreams photos into ImageNet classes on a schedule and posts them; answers requests.

Where each piece lives:
- pipeline.py: one cycle (source -> picker -> render -> caption -> publishers, recorded in the
  store); scheduler.py runs cycles, retries and requests; cli.py is `run_bot.py`'s commands.
- render.py: the one boundary with the engine (`Renderer`, `make_dream`, engine errors).
- queue.py: `RenderQueue`, renders on huey (embedded SQLite or Redis) and the worker's side;
  queue_bot.py the bot's side (`RemoteRender`, status); queue_sweep.py cleans up after the dead;
  render_batcher.py dreams a worker's waiting jobs in one batch (`[queue] batch`).
- config.py loads the TOML (sections in config_sections.py and config_services.py, error lines in
  config_errors.py, the [recipe] table in config_recipe.py, cross-checks in config_check.py).
- sources/ (photos in), picker.py (classes), caption.py, publishers/ (outbox, Mastodon, Tumblr),
  requests/ (dreams asked for by mention), polls/ (followers vote for the next mutant),
  store/ (SQLite state), notify.py (the admin's messages).
"""
