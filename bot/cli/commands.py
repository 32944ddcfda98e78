"""`python run_bot.py`: run the bot, one cycle, check a config, or show what the bot has done.

Exit codes: 0 fine, 1 a cycle failed or the bot stopped on an error, 2 the config (or the
command line) is wrong; the message says what to change, never a traceback. 141 (as for
SIGPIPE) when whoever read the output closed it early (`status | head`), silently.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, Sequence, TextIO

if TYPE_CHECKING:
    from bot.config import Config
    from bot.parts import Parts
    from bot.store import Store

DEFAULT_CONFIG = "config/bot.toml"
log = logging.getLogger("bot")

COMMAND_HELP = ("run (default): run on the schedule; check-config: check the file and the folders "
                "it names, and exit; init: make every folder and URL list the config names (the "
                "bot makes its own when it starts; this also makes a read-only source's); "
                "status: next runs, last posts, queues, failures; "
                "worker: render from the [queue] url's Redis (as many as you have GPUs); "
                "login mastodon|tumblr: get the account's credentials")

# What a command does with the parsed line: its exit code. `render` is the test's or --once's
# renderer (None: the queue's); `out` is where the command writes what it reports.
Command = Callable[[argparse.Namespace, Any, TextIO], int]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_bot.py",
        description="Lucid Dream Bot: dreams ImageNet classes into photos on a schedule and posts them.",
        epilog="Start with: python run_bot.py --once --config config/demo.toml",
    )
    _add_options(p, after_command=False)
    p.set_defaults(func=_run_command)  # no command: run
    commands = p.add_subparsers(dest="command", help=COMMAND_HELP)
    for name, func in (("run", _run_command), ("check-config", _check_config_command), ("status", _status_command),
                       ("worker", _worker_command), ("init", _init_command)):
        # A second word is refused in _main, by the top parser, as it always was.
        _command(commands, name, func).add_argument("unexpected", nargs="?", default=argparse.SUPPRESS,
                                                    help=argparse.SUPPRESS)
    _command(commands, "login", _login_command).add_argument(
        "target", nargs="?", metavar="mastodon|tumblr", help="the platform to log in to")
    return p


def _command(commands, name: str, func: Command) -> argparse.ArgumentParser:
    sub = commands.add_parser(name)
    _add_options(sub, after_command=True)
    sub.set_defaults(func=func)
    return sub


def _add_options(p: argparse.ArgumentParser, *, after_command: bool) -> None:
    """The options, which every command takes before or after its name. After it, one left out
    is absent (SUPPRESS), not its default: otherwise it would undo the same option given before."""
    def default(value):
        return argparse.SUPPRESS if after_command else value

    p.add_argument("--instance", default=default(None), help="login mastodon: the server, e.g. https://botsin.space")
    p.add_argument("--online", action="store_true", default=default(False),
                   help="check-config: also log in to each platform")
    p.add_argument("--config", default=default(os.environ.get("LUCID_BOT_CONFIG", DEFAULT_CONFIG)),
                   help=f"the TOML config (default: $LUCID_BOT_CONFIG or {DEFAULT_CONFIG})")
    p.add_argument("--once", action="store_true", default=default(False), help="run one cycle now and exit")
    p.add_argument("--dry-run", action="store_true", default=default(False),
                   help="publish only to the outbox (no accounts needed)")
    p.add_argument("--log-json", action="store_true", default=default(False),
                   help="log JSON lines instead of plain text")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), default=default(None),
                   help="overrides bot.log_level")


def main(argv: Sequence[str] | None = None, *, render=None, out: TextIO | None = None) -> int:
    try:
        code = _main(argv, render=render, out=out)
        (out or sys.stdout).flush()  # a reader that went away shows here, not at exit
        return code
    except BrokenPipeError:
        # `run_bot.py status | head`: the reader left, which is no error of ours. Point stdout
        # at /dev/null so the interpreter's last flush cannot complain; exit as SIGPIPE would.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass  # stdout is no file (a test's buffer)
        return 141


def _main(argv: Sequence[str] | None, *, render, out: TextIO | None) -> int:
    from bot import logs
    from bot.cli.spelling import misspelt

    out = out or sys.stdout
    p = parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    problem = misspelt(argv, p)
    if problem:
        p.error(problem)
    args = p.parse_args(argv)
    logs.setup(logs.LogFormat.JSON if args.log_json else logs.LogFormat.PLAIN, args.log_level or "INFO")
    if "unexpected" in vars(args):  # a second word after a command other than login
        p.error(f"unexpected argument {args.unexpected!r}")
    func: Command = args.func
    return func(args, render, out)


def _config(args: argparse.Namespace, *, need_secrets: bool = False) -> Config | None:
    """The config, loaded for a command that needs it, with logging set up as it says; None
    (after saying why on stderr) when it cannot be used."""
    from bot import logs
    from bot.config import ConfigError, load_config

    try:
        cfg = load_config(args.config, need_secrets=need_secrets)
    except ConfigError as exc:
        print(f"{args.config}: the config cannot be used.\n{exc}", file=sys.stderr)
        return None
    logs.add_secrets(cfg.secret_values())
    logs.setup(logs.LogFormat.JSON if args.log_json else cfg.bot.log_format, args.log_level or cfg.bot.log_level)
    return cfg


def _run_command(args: argparse.Namespace, render: Any, out: TextIO) -> int:
    cfg = _config(args, need_secrets=not args.dry_run)
    return 2 if cfg is None else _run(cfg, args, render, out)


def _status_command(args: argparse.Namespace, render: Any, out: TextIO) -> int:
    from bot.cli.status import show_status

    cfg = _config(args)
    return 2 if cfg is None else show_status(cfg, out)


def _worker_command(args: argparse.Namespace, render: Any, out: TextIO) -> int:
    cfg = _config(args)
    return 2 if cfg is None else _worker(cfg, args, render)


def _init_command(args: argparse.Namespace, render: Any, out: TextIO) -> int:
    cfg = _config(args)
    return 2 if cfg is None else _init(cfg, args, out)


def _check_config_command(args: argparse.Namespace, render: Any, out: TextIO) -> int:
    return _check_config(args, out)


def _login_command(args: argparse.Namespace, render: Any, out: TextIO) -> int:
    from bot.cli.accounts import run_login

    return run_login(args, out)


def _worker(cfg, args, render) -> int:
    """A render worker: takes jobs from the Redis queue until SIGTERM/SIGINT. The engine keeps
    its model loaded (dreamer caches it), so only the first render pays for loading it."""
    from bot import queue
    from bot.config.config_warnings import shown_url

    if not cfg.queue.url:
        print(f"{args.config}: [queue] url is not set: the embedded queue renders inside the bot "
              "process. Set url = \"redis://host:6379/0\" to run workers apart.", file=sys.stderr)
        return 2
    try:
        q = queue.RenderQueue.from_config(cfg)
        q.huey.storage.conn.ping()
    except Exception as exc:
        print(f"{args.config}: cannot reach the queue at {shown_url(cfg.queue.url)}: {exc}", file=sys.stderr)
        return 1
    state = q.serve_here(render=render)
    log.info("worker %s: taking renders from %s with %d thread(s)%s", state.name, shown_url(cfg.queue.url),
             cfg.queue.workers,
             f", up to {cfg.queue.batch} jobs per batch" if cfg.queue.batch > 1 else "")
    q.consumer(cfg.queue.workers).run()
    state.stop()
    return 0


def _queue_render(cfg, render):
    """The render the bot uses, and the in-process consumer to stop at exit (or None).
    An injected `render` (tests, `--once`) is used directly; otherwise renders go through
    the queue: embedded (consumer threads here) or Redis (worker processes elsewhere)."""
    from bot.queue import RenderQueue
    from bot.queue.remote import RemoteRender

    if render is not None:
        return render, None
    q = RenderQueue.from_config(cfg)
    consumer = None
    if not cfg.queue.url:
        q.serve_here()
        consumer = q.consumer(cfg.queue.workers, in_process=True)
        consumer.start()
    return RemoteRender(q), consumer


def _check_config(args, out: TextIO) -> int:
    """Every problem in one pass: the file's, then the folders and lists it names."""
    from bot import logs
    from bot.config import ConfigError
    from bot.config import check_file
    from bot.scheduler import _describe, next_runs

    # Secrets are part of what a deploy needs: check them too unless this is for a dry run.
    cfg, problems = check_file(args.config, need_secrets=not args.dry_run)
    if problems:
        print(f"{args.config}: the config cannot be used.\n{ConfigError(problems)}", file=sys.stderr)
        return 2
    logs.add_secrets(cfg.secret_values())
    print(f"{args.config}: OK", file=out)
    print(f"  schedule:   {_describe(cfg.schedule)}; next: "
          + ", ".join(t.isoformat(timespec='minutes') for t in next_runs(cfg.schedule)), file=out)
    print("  sources:    " + ", ".join(f"{n} ({s.type})" for n, s in zip(cfg.source_names(), cfg.sources)), file=out)
    print(f"  publishers: {', '.join(cfg.enabled_publishers())}" + (" (dry run: outbox only)" if args.dry_run else ""),
          file=out)
    print(f"  data dir:   {cfg.data_dir}", file=out)
    from bot.config.config_warnings import config_warnings
    from bot.folders import to_make

    for line in config_warnings(cfg):  # works, but lets others in or not as it reads: said, not refused
        print(f"  warning:    {line}", file=out)

    # Honest about what is not there yet: the bot makes these when it starts.
    for item in to_make(cfg.model_dump(), cfg.path):
        print(f"  to make:    {item.path} ({item.what}; made when the bot starts"
              + (", with no URL in it yet)" if item.is_list else ")"), file=out)
    if args.online:  # log in to each enabled platform: the account, its limits, the blog
        from bot.cli.accounts import check_online

        if online := check_online(cfg, out):
            print(f"{args.config}: the accounts cannot be used.\n{ConfigError(online)}", file=sys.stderr)
            return 1
    return 0


def _init(cfg, args, out: TextIO) -> int:
    """Make what the config names but nobody has made yet, then say what is still wrong."""
    from bot.config.check import environment_problems
    from bot.folders import init_folders

    try:
        made = init_folders(cfg.model_dump(), cfg.path)
    except OSError as exc:
        print(f"{args.config}: cannot make {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    for path in made:
        print(f"made {path}", file=out)
    if not made:
        print("nothing to make: every folder and list exists", file=out)
    left = environment_problems(cfg.model_dump(), cfg.path)
    for line in left:
        print(f"{args.config}: {line}", file=sys.stderr)
    return 2 if left else 0


def _run(cfg, args, render, out: TextIO) -> int:
    from bot.parts import BuildError, build_parts
    from bot.pipeline import Pipeline
    from bot.cli.status import open_store
    from bot.store import CycleOutcome, StoreError

    from bot.config.check import environment_problems
    from bot.folders import make_missing, made_line, source_problems

    stop = environment_problems(cfg.model_dump(), cfg.path, sources=False)
    if stop:
        print(f"{args.config}: cannot start:\n" + "\n".join(f"  {line}" for line in stop), file=sys.stderr)
        return 2
    try:
        for made in make_missing(cfg.model_dump(), cfg.path):
            log.info("%s", made_line(made))
    except OSError as exc:
        print(f"{args.config}: cannot start: cannot make {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    for line in source_problems(cfg.model_dump(), cfg.path.parent, cfg.path):  # it may appear later (a mount)
        log.warning("%s", line)
    from bot.config.config_warnings import config_warnings

    for line in config_warnings(cfg):
        log.warning("%s", line)
    try:
        store = open_store(cfg, args.dry_run)  # a dry run uses up no photo of the real bot
        parts = build_parts(cfg, store, dry_run=args.dry_run)
    except (StoreError, BuildError) as exc:
        print(f"{args.config}: cannot start: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, BuildError) else 1
    _forget_old_feeds(store, parts)
    try:
        if args.once:
            if cfg.queue.url and render is None:  # one render, by the workers
                from bot.queue import RenderQueue
                from bot.queue.remote import RemoteRender

                render = RemoteRender(RenderQueue.from_config(cfg))
            result = Pipeline(parts, store, render=render).run_cycle()
            print(f"{result.outcome}: {result.message}", file=out)
            if "outbox" in parts.publishers and result.dream_id:
                print(f"outbox: {(cfg.outbox_dir / 'index.html')}", file=out)
            return 1 if result.outcome == CycleOutcome.FAILED else 0
        try:
            render, consumer = _queue_render(cfg, render)
        except Exception as exc:
            print(f"{args.config}: cannot start the render queue: {exc}", file=sys.stderr)
            return 1
        try:
            return _serve(cfg, store, args, render, parts)
        finally:
            if consumer is not None:
                consumer.stop(graceful=True)
    finally:
        store.close()


def _forget_old_feeds(store: "Store", parts: "Parts") -> None:
    """Delete the stored copies (bot/store/feeds.py) of feeds no longer in the config."""
    from bot.sources.feed import FeedSource

    try:
        gone = store.forget_feeds_except(s.url for s in parts.sources if isinstance(s, FeedSource))
    except Exception as exc:  # noqa: BLE001 - housekeeping: a locked database must not stop the bot
        log.warning("cannot delete the stored copies of feeds no longer configured: %s", exc)
        return
    if gone:
        log.info("deleted the stored copies of %d feed(s) no longer configured", gone)


def _serve(cfg, store, args, render, parts) -> int:
    from bot.pipeline import Pipeline
    from bot.scheduler import BotRunner

    pipeline = Pipeline(parts, store, render=render)
    runner = BotRunner(cfg, store, dry_run=args.dry_run, blocking=True, pipeline=pipeline, render=render)

    def stop(signum, _frame):
        log.info("signal %d: stopping after the running cycle", signum)
        runner.scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    try:
        runner.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        runner.shutdown(wait=True)  # lets a running cycle finish its posts
    log.info("stopped")
    return 0
