"""`run_bot.py`'s commands as argparse sub-commands (issue 29): each name reaches its own
command, options count before and after the name, and a line that names no command, or a word
too many, is argparse's usage error (exit 2), as it always was."""
from __future__ import annotations

import io

import pytest

from bot import cli
from bot_helpers import tiny_config

NO_TOKEN = "LUCID_TEST_UNSET_TOKEN"


@pytest.fixture
def config(tmp_path):
    (tmp_path / "inbox").mkdir()
    return tiny_config(tmp_path)


# Each command's own words: what only that command prints, on stdout or stderr.
OWN_WORDS = ("idle: no new photo", ": OK", "no cycles yet", "made /", "[queue] url is not set", "login: say which")


@pytest.mark.parametrize("argv,code,says", [
    (["--once"], 0, "idle: no new photo"),  # no command: run
    (["run", "--once"], 0, "idle: no new photo"),
    (["check-config"], 0, ": OK"),
    (["status"], 0, "no cycles yet"),
    (["init"], 0, "made /"),
    (["worker"], 2, "[queue] url is not set"),
    (["login"], 2, "login: say which"),
])
def test_each_command_reaches_its_own(config, capsys, argv, code, says):
    out = io.StringIO()
    assert cli.main([*argv, "--config", str(config)], out=out) == code
    said = out.getvalue() + capsys.readouterr().err
    assert says in said, said
    assert [words for words in OWN_WORDS if words in said] == [says], said


def test_options_count_before_and_after_the_command_name():
    p = cli.commands.parser()
    assert p.parse_args(["--config", "a.toml", "status"]).config == "a.toml"
    assert p.parse_args(["status", "--config", "a.toml"]).config == "a.toml"
    # one left out after the name does not undo the one before it
    before = p.parse_args(["--config", "a.toml", "--dry-run", "--log-level", "ERROR", "status", "--log-json"])
    assert (before.config, before.dry_run, before.log_level, before.log_json) == ("a.toml", True, "ERROR", True)
    assert p.parse_args(["--config", "a.toml", "status", "--config", "b.toml"]).config == "b.toml"  # the last wins
    login = p.parse_args(["--instance", "https://a.example", "login", "mastodon"])
    assert (login.instance, login.target) == ("https://a.example", "mastodon")


def test_only_run_without_dry_run_needs_the_accounts_secrets(tmp_path, capsys, monkeypatch):
    (tmp_path / "inbox").mkdir()
    path = tiny_config(tmp_path, extra=f'[publishers.mastodon]\nenabled = true\napi_base_url = "https://m.example"\n'
                                       f'access_token_env = "{NO_TOKEN}"\n')
    monkeypatch.delenv(NO_TOKEN, raising=False)
    assert cli.main(["--once", "--config", str(path)], out=io.StringIO()) == 2
    assert NO_TOKEN in capsys.readouterr().err
    assert cli.main(["status", "--config", str(path)], out=io.StringIO()) == 0
    assert cli.main(["--once", "--dry-run", "--config", str(path)], out=(once := io.StringIO())) == 0
    assert once.getvalue().startswith("idle:"), capsys.readouterr().err


COMMANDS = "valid commands: run, check-config, status, worker, init, login"
OPTIONS = "valid options: --help, --instance, --online, --config, --once, --dry-run, --log-json, --log-level"


@pytest.mark.parametrize("argv,message", [
    (["dance"], f"run_bot.py: error: unknown command 'dance'; {COMMANDS}"),
    (["statsu"], f"run_bot.py: error: unknown command 'statsu' (did you mean status?); {COMMANDS}"),
    (["--config", "a.toml", "chek-config"],
     f"run_bot.py: error: unknown command 'chek-config' (did you mean check-config?); {COMMANDS}"),
    (["status", "now"], "run_bot.py: error: unexpected argument 'now'"),
    (["run", "status"], "run_bot.py: error: unexpected argument 'status'"),
    (["login", "mastodon", "now"], "run_bot.py: error: unrecognized arguments: now"),
    (["--loud"], f"run_bot.py: error: unknown option '--loud'; {OPTIONS}"),
    # argparse took "x", the misspelt option's value, for the command: "invalid choice: 'x'"
    (["--confg", "x"], f"run_bot.py: error: unknown option '--confg' (did you mean --config?); {OPTIONS}"),
    (["--confg=x", "status"], f"run_bot.py: error: unknown option '--confg' (did you mean --config?); {OPTIONS}"),
    (["status", "--confg", "x"], f"run_bot.py: error: unknown option '--confg' (did you mean --config?); {OPTIONS}"),
    (["--once", "--dryrun"], f"run_bot.py: error: unknown option '--dryrun' (did you mean --dry-run?); {OPTIONS}"),
    (["--lo"], "run_bot.py: error: ambiguous option: --lo could match --log-json, --log-level"),  # argparse's own
])
def test_a_wrong_command_line_is_a_usage_error(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: run_bot.py ") and err.endswith(message + "\n"), err


def test_abbreviations_and_values_are_not_misspellings():
    """argparse takes a unique start of an option ("--conf"), and an option's value is no
    command ("dance" here is a config file): neither is reported as misspelt."""
    from bot.cli.spelling import misspelt

    p = cli.commands.parser()
    line = ["--conf", "dance", "--log-level", "ERROR", "status", "--dry"]
    args = p.parse_args(line)
    assert (args.config, args.log_level, args.command, args.dry_run) == ("dance", "ERROR", "status", True)
    assert misspelt(line, p) is None
    assert misspelt(["--instance=https://a.example", "login", "mastodon"], p) is None
    assert misspelt(["--help", "statsu"], p) is None  # argparse shows the help first, as it always did
