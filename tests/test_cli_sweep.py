"""`dream` as a user new to it types it: each test here failed (a lost file, a traceback, a
message nobody could act on, or a flag silently not doing what it said) before the fix it guards."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from dreamer.cli import main
from tests.conftest import ROOT
from tests.test_unseen_inputs_engine import TINY, photo  # noqa: F401 - the fixture, shared


# --- files the run writes besides the dream ------------------------------------------------------


@pytest.mark.parametrize("name", ["photo.png", "other.jpg", "folder", "recipe.txt"])
def test_save_recipe_names_a_toml_or_json_file_and_replaces_no_picture(tmp_path, photo, capsys, name):
    # Before: any name was written as TOML text, `--save-recipe photo.png` the photo being dreamt.
    other = tmp_path / "other.jpg"
    Image.new("RGB", (20, 20), (0, 90, 200)).save(other)
    (tmp_path / "folder").mkdir()
    kept = {p: p.read_bytes() for p in (photo, other)}
    target = tmp_path / name
    assert main([str(photo), *TINY, "-o", str(tmp_path / "dream.png"), "--save-recipe", str(target)]) == 2
    err = capsys.readouterr().err
    assert "a recipe is TOML or JSON text" in err and "Traceback" not in err
    assert all(p.read_bytes() == data for p, data in kept.items())
    assert not (tmp_path / "dream.png").exists() and not (tmp_path / "recipe.txt").exists()


def test_a_preview_that_names_the_gif_being_dreamt_is_refused_before_the_dive(tmp_path, capsys):
    # Before: the dive was dreamt and its preview then replaced the GIF it was dreamt from.
    gif = tmp_path / "cat.gif"
    frames = [Image.new("RGB", (40, 30), c) for c in ((200, 0, 0), (0, 200, 0))]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    before = gif.read_bytes()
    args = [str(gif), *TINY, "--frames", "4", "--glide", "2", "--video", str(tmp_path / "dive.mp4")]
    assert main([*args, "--preview", str(tmp_path / "." / "cat.gif")]) == 2
    assert "is the photo being dreamt" in capsys.readouterr().err
    assert gif.read_bytes() == before and not (tmp_path / "dive.mp4").exists()


# --- where the dream goes ------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["dreams.v2/", "new.png/"])
def test_an_output_with_a_trailing_slash_is_a_folder_whatever_its_name(tmp_path, photo, folder):
    # Before: the slash was lost, so `-o dreams.v2/` was refused as no picture name, `-o new.png/`
    # wrote a file new.png, and two photos were refused "need --output to be a folder".
    second = tmp_path / "second.png"
    Image.new("RGB", (40, 30), (10, 120, 40)).save(second)
    out = f"{tmp_path}/{folder}"
    assert main([str(photo), str(second), *TINY, "-o", out]) == 0
    assert sorted(p.name for p in (tmp_path / folder).iterdir()) == [
        "photo_goldfish_s5.jpg", "photo_goldfish_s5.json", "second_goldfish_s5.jpg", "second_goldfish_s5.json"]
    assert main([str(photo), *TINY, "--seed", "6", "-o", out]) == 0
    assert (tmp_path / folder / "photo_goldfish_s6.jpg").is_file()


def test_a_quoted_tilde_is_the_home_folder_not_a_folder_named_tilde(tmp_path, photo, monkeypatch):
    # Before: `-o "~/My dreams/x.png"` made ./~/My dreams/x.png; a quoted photo, recipe or guide
    # under ~ was "no such file" (the guide after passing the check that found it).
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    photo.rename(home / "photo.png")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert main(["~/photo.png", *TINY, "-o", "~/My dreams/x.png", "--save-recipe", "~/r.toml"]) == 0
    assert (home / "My dreams" / "x.png").is_file() and (home / "r.toml").is_file()
    assert main(["~/photo.png", "--recipe", "~/r.toml", "-q", "-o", "~/again/"]) == 0
    assert main(["~/photo.png", "--model", "tiny", "--steps", "1", "-q", "--guide", "~/photo.png",
                 "-o", "~/guided.png"]) == 0
    assert (home / "guided.png").is_file() and list((home / "again").glob("*.jpg"))
    assert not (work / "~").exists()


@pytest.mark.parametrize("name,existing", [("still.jpg", False), ("dive.mp4", False), ("notes", True),
                                            ("old.png", True)])
def test_a_dive_into_a_files_name_is_refused_before_the_net_loads(tmp_path, photo, capsys, monkeypatch,
                                                                   name, existing):
    # Before: a folder named still.jpg (or dive.mp4) of frames, and an existing file "[Errno 17]
    # File exists" once the net was loaded.
    import dreamer.render

    monkeypatch.setattr(dreamer.render, "create_model", lambda *a, **k: pytest.fail("the net was loaded"))
    out = tmp_path / name
    if existing:
        out.write_bytes(b"a file of the user's")
    assert main([str(photo), *TINY, "--frames", "3", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "makes a dive, a folder of frames" in err and "Errno" not in err
    assert out.is_file() if existing else not out.exists()


def test_a_dive_into_a_folder_typed_with_a_slash_keeps_its_name(tmp_path, photo):
    assert main([str(photo), *TINY, "--frames", "2", "-o", f"{tmp_path}/dive.png/"]) == 0
    assert (tmp_path / "dive.png" / "frame_00001.png").is_file()


def test_an_output_that_is_a_photo_not_a_dream_is_kept_and_a_dream_is_made_again_over(tmp_path, photo, capsys):
    # Before: `dream photo.png -o holiday.jpg` replaced the photo holiday.jpg without a word.
    holiday = tmp_path / "holiday.jpg"
    Image.new("RGB", (30, 20), (0, 80, 200)).save(holiday)
    before = holiday.read_bytes()
    assert main([str(photo), *TINY, "-o", str(holiday)]) == 2
    assert "is there already and is no dream" in capsys.readouterr().err and holiday.read_bytes() == before
    dream = tmp_path / "dream.jpg"
    assert main([str(photo), *TINY, "-o", str(dream)]) == 0
    assert main([str(photo), *TINY, "--seed", "6", "-o", str(dream)]) == 0  # its own dream: made again


UNWRITABLE = "/proc/dreams"  # a folder no one, root included, can make a file in


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize("flags", [["-o", f"{UNWRITABLE}.png"], ["-o", f"{UNWRITABLE}/"],
                                   ["--frames", "2", "-o", UNWRITABLE],
                                   ["--frames", "4", "--glide", "2", "--video", f"{UNWRITABLE}.mp4"],
                                   ["--frames", "4", "--glide", "2", "--video", "VIDEO",
                                    "--preview", f"{UNWRITABLE}.gif"]])
def test_an_output_in_a_folder_that_takes_no_file_is_refused_before_the_net_loads(
        tmp_path, photo, capsys, monkeypatch, flags):
    # Before: the whole dream was dreamt, then lost at saving it ("cannot write in /proc").
    import dreamer.render

    monkeypatch.setattr(dreamer.render, "create_model", lambda *a, **k: pytest.fail("the net was loaded"))
    flags = [str(tmp_path / "v.mp4") if f == "VIDEO" else f for f in flags]
    assert main([str(photo), *TINY, *flags]) == 2
    assert "cannot write in /proc" in capsys.readouterr().err


# --- flags the run would not have used ----------------------------------------------------------


@pytest.mark.parametrize("flags,unused", [
    (["--mode", "deepdream", "-c", "goldfish"], "--classes"),
    (["--layer", "conv2", "-c", "goldfish"], "--layer"),
    (["--guide", "PHOTO", "-c", "goldfish"], "--classes"),
    (["--randomise", "-c", "goldfish"], "--classes"),
    (["--random-classes", "2", "--mode", "randomise"], "--random-classes"),
    (["--mode", "lucid", "-c", "goldfish", "--guide", "PHOTO"], "--guide"),
])
def test_a_flag_the_mode_does_not_dream_is_refused(tmp_path, photo, capsys, flags, unused):
    # Before: dreamt without it, `--mode deepdream -c goldfish` a layer's patterns named photo_goldfish.
    flags = [str(photo) if f == "PHOTO" else f for f in flags]
    assert main([str(photo), "--model", "tiny", "--steps", "1", "-q", *flags, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert f"it does not use {unused}" in err and "--mode" in err and not (tmp_path / "x.png").exists()


def test_the_mode_a_refusal_suggests_is_said_without_the_flags_it_would_refuse(tmp_path, photo, capsys):
    # "--guide g.jpg -c goldfish": "use --mode lucid" alone was refused in turn, for --guide
    assert main([str(photo), "--model", "tiny", "--steps", "1", "-q", "--guide", str(photo), "-c", "goldfish",
                 "-o", str(tmp_path / "x.png")]) == 2
    assert "use --mode lucid (which dreams the classes) without --guide" in capsys.readouterr().err


def test_format_names_the_pictures_of_a_folder_written_with_its_slash(tmp_path, photo):
    # -o new.png/ is a folder (plan_outputs), so --format webp is what its dream is written as
    out = tmp_path / "new.png"
    assert main([str(photo), "--model", "tiny", "--steps", "1", "-q", "-c", "goldfish", "--format", "webp",
                 "-o", f"{out}/"]) == 0
    assert [p.suffix for p in out.iterdir() if p.suffix != ".json"] == [".webp"]


@pytest.mark.parametrize("flags", [["--guide", "PHOTO", "--layer", "conv2"], ["--layer", "conv2"],
                                   ["--mode", "deepdream"], ["-c", "goldfish"], ["--randomise"]])
def test_the_flags_a_mode_reads_still_dream(tmp_path, photo, flags):
    flags = [str(photo) if f == "PHOTO" else f for f in flags]
    assert main([str(photo), "--model", "tiny", "--steps", "1", "-q", *flags, "-o", str(tmp_path / "x.png")]) == 0


@pytest.mark.parametrize("flags,says", [
    (["-c", "goldfish", "--group", "fish"], "add --random-classes N, or name the group in --classes as @fish"),
    (["-c", "goldfish", "--frames", "2", "--save-steps", "-o", "DIR"], "--save-steps saves a single picture's"),
    (["-c", "goldfish", "--zoom", "1.1"], "--zoom turns a dive's camera"),
    (["-c", "goldfish", "--rotate", "3"], "--rotate turns a dive's camera"),
    (["-c", "goldfish", "--format", "png"], "-o OUT.jpg names a JPG file: name it OUT.png"),
    (["-c", "goldfish", "--format", "webp", "--frames", "2", "-o", "DIR"], "a dive's frames are PNG"),
    (["--random-classes", "0"], "--random-classes must be 1..10"),
])
def test_a_flag_this_kind_of_run_does_not_use_is_refused(tmp_path, photo, capsys, flags, says):
    # Before: each was dropped without a word (a JPEG for --format png, no steps saved, no zoom),
    # and --random-classes 0 was "classes is empty".
    out = tmp_path / "OUT.jpg"
    flags = [str(tmp_path / "dive") if f == "DIR" else f for f in flags]
    args = [str(photo), "--model", "tiny", "--steps", "1", "-q", *flags]
    assert main(args if "-o" in flags else [*args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert says.replace("OUT", str(tmp_path / "OUT")) in err, err
    assert not out.exists() and not (tmp_path / "dive").exists()


@pytest.mark.parametrize("flags", [["--format", "png", "-o", "FOLDER/"], ["--format", "jpg", "-o", "OUT.jpeg"],
                                   ["--random-classes", "2", "--group", "fish", "-o", "OUT.png"],
                                   ["--frames", "2", "--zoom", "1.1", "--rotate", "2", "-o", "FOLDER/"]])
def test_those_flags_where_they_apply_still_dream(tmp_path, photo, flags):
    flags = [f.replace("FOLDER", str(tmp_path / "f")).replace("OUT", str(tmp_path / "o")) for f in flags]
    assert main([str(photo), "--model", "tiny", "--steps", "1", "-q", "--seed", "2", *flags,
                 *([] if "--random-classes" in flags else ["-c", "goldfish"])]) == 0


# --- class weights -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["goldfish:1e308", "goldfish:1e300, stingray:1e300", "goldfish:-5000"])
def test_a_weight_past_the_limit_is_refused_not_dreamt_black(tmp_path, photo, capsys, spec):
    # Before: float32 overflowed, a black picture (one class) or "Total of weights must be finite"
    # once the net was loaded (two).
    out = tmp_path / "x.png"
    assert main([str(photo), "--model", "tiny", "--steps", "1", "-q", "-c", spec, "-o", str(out)]) == 2
    assert "is too large: weights are relative" in capsys.readouterr().err and not out.exists()


def test_a_recipe_files_weight_past_the_limit_is_refused(tmp_path, photo, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text('model = "tiny"\nsteps = 1\n[classes]\ngoldfish = 1e300\nstingray = 1e300\n')
    assert main([str(photo), "--recipe", str(recipe), "-q", "-o", str(tmp_path / "x.png")]) == 2
    assert "classes.goldfish = 1e+300: weight must be from -1000 to 1000" in capsys.readouterr().err


def test_weights_up_to_the_limit_still_dream(tmp_path, photo):
    assert main([str(photo), "--model", "tiny", "--steps", "1", "-q", "-c", "goldfish:1000, stingray:-1000",
                 "-o", str(tmp_path / "x.png")]) == 0


# --- Ctrl-C as the run starts ---------------------------------------------------------------------

# Ctrl-C the moment torch starts loading, deterministically: an import hook sends the SIGINT.
CTRL_C_AT_TORCH = """
import builtins, os, signal, sys
real_import = builtins.__import__
def ctrl_c_at_torch(name, *args, **kwargs):
    if name == "torch" and "torch" not in sys.modules:
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)
builtins.__import__ = ctrl_c_at_torch
from dreamer.cli import main
sys.exit(main(["--list-models"]))
"""


def test_ctrl_c_while_torch_loads_is_one_line_and_exit_130():
    # Before: a page of traceback from `import dreamer.cli` (at times torch swallowed the
    # interrupt and the dream went on, or the process aborted).
    # as from a terminal: Ctrl-C not ignored, whatever an earlier test left this process with
    res = subprocess.run([sys.executable, "-c", CTRL_C_AT_TORCH], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert (res.returncode, res.stderr, res.stdout) == (130, "dream: interrupted\n", "")


@pytest.fixture
def terminal_ctrl_c():
    """Python's own Ctrl-C handler, as a dream started from a terminal has it: a test run may
    have left this process with another (a consumer's, or SIGINT ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_interrupts_held_raises_a_ctrl_c_its_block_would_have_swallowed(terminal_ctrl_c):
    from dreamer.cli_common import interrupts_held

    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            try:  # like torch's import at times: the interrupt lands in code that swallows it
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
            except BaseException:  # noqa: BLE001
                pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_gets_out_of_a_block_that_hangs(terminal_ctrl_c):
    from dreamer.cli_common import interrupts_held

    reached = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)  # held: the block goes on
            time.sleep(0.05)
            reached.append("after the first")
            os.kill(os.getpid(), signal.SIGINT)  # the user's second: out now, not at the block's end
            time.sleep(0.05)
            reached.append("after the second")
    assert reached == ["after the first"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- no console ----------------------------------------------------------------------------------


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_closed_stdout_or_stderr_still_dreams_and_exits_0(tmp_path, photo, monkeypatch, closed):
    # Python makes a closed stream None (`dream ... 2>&-`, pythonw): before, the progress bar failed
    # the dream (stderr), or the last flush made a saved dream an exit-1 "internal error" (stdout).
    monkeypatch.setattr(sys, closed, None)
    out = tmp_path / "x.png"
    assert main([str(photo), "--model", "tiny", "--steps", "2", "--seed", "5", "-c", "goldfish", "-o", str(out)]) == 0
    assert out.is_file()


# --- photos that are not there -------------------------------------------------------------------


@pytest.mark.parametrize("name,why", [("-", "standard input: dream reads photos from files"),
                                      ("holiday*.jpg", "no file matches this pattern"),
                                      ("link.jpg", "a link to gone.jpg, which is not there")])
def test_a_missing_photo_says_why_where_its_name_does_not(tmp_path, capsys, monkeypatch, name, why):
    # Before: "no such photo: -", "no such photo: holiday*.jpg", "no such photo: link.jpg".
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link.jpg").symlink_to("gone.jpg")
    assert main([name, *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dream: error: no such photo: {name} (") and why in err, err


def test_classify_with_a_labels_file_that_does_not_fit_the_net_says_so(tmp_path, photo, capsys):
    # Before: "class id 180 is out of range: this model has 2 classes" (the file has 2, the net 1000).
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    assert main(["--classify", str(photo), "--model", "tiny", "--labels", str(labels)]) == 2
    assert "the labels file names 2 classes, but model 'tiny' has 1000" in capsys.readouterr().err


def test_a_photo_with_a_long_name_gets_a_dream_name_a_folder_can_hold(tmp_path, photo):
    # Before: the name was the photo's (240 bytes) and more, and the dream was lost at saving it.
    long = tmp_path / ("é" * 120 + ".png")  # 240 bytes of UTF-8
    photo.rename(long)
    assert main([str(long), *TINY, "-o", f"{tmp_path}/out/"]) == 0
    assert main([str(long), *TINY, "-o", f"{tmp_path}/out/"]) == 0  # and a second one beside it
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 4 and all(len(n.encode()) <= 210 for n in names), names
    assert names[0].startswith("é" * 50) and names[0].endswith("_goldfish_s5-2.jpg")


# --- Ctrl-C in a dive ----------------------------------------------------------------------------


def ctrl_c_at_dream(monkeypatch, module, n):
    """Ctrl-C during the n-th dream (1-based) of `module`'s dives."""
    real, calls = module.dream, []

    def dream(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "dream", dream)


def test_an_interrupted_frame_dive_says_how_to_go_on_seed_included(tmp_path, photo, capsys, monkeypatch):
    # Before: "dream: interrupted"; the seed drawn at random was recorded only at the end, so the
    # same command again began another dive, in another folder.
    import dreamer.animate

    monkeypatch.chdir(tmp_path)
    args = [str(photo), "--model", "tiny", "--steps", "1", "-q", "-c", "goldfish", "--frames", "4"]
    ctrl_c_at_dream(monkeypatch, dreamer.animate, 3)
    assert main(args) == 130
    err = capsys.readouterr().err
    folder = next(Path("out").iterdir())
    seed = folder.name.split("_s")[-1].removesuffix("_dive")
    assert err == (f"dream: interrupted; 2 of 4 frames are in {folder}; to go on, the same command with "
                   f"-o {folder} --seed {seed} --start-frame 2\n")
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main([*args, "-o", str(folder), "--seed", seed, "--start-frame", "2"]) == 0
    assert (folder / "frame_00003.png").is_file() and (folder / "recipe.json").is_file()


def test_an_interrupted_video_dive_says_the_same_command_goes_on(tmp_path, photo, capsys, monkeypatch):
    import dreamer.dive

    video = tmp_path / "dive.mp4"
    ctrl_c_at_dream(monkeypatch, dreamer.dive, 2)
    assert main([str(photo), *TINY, "--frames", "4", "--glide", "2", "--video", str(video)]) == 130
    assert capsys.readouterr().err == ("dream: interrupted; the same command again goes on from the last "
                                       f"keyframe, kept in {video}.parts\n")


# --- listings ------------------------------------------------------------------------------------


def test_list_models_puts_every_description_in_one_column(capsys):
    assert main(["--list-models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    starts = {len(line) - len(line.split(None, 1)[1]) for line in lines}  # where the words begin
    assert len(lines) > 3 and len(starts) == 1, lines


@pytest.mark.parametrize("flags,says", [(["--fps", "30"], "--fps only applies to a video"),
                                        (["--fps", "30", "--glide", "2"], "--fps, --glide only apply to a video")])
def test_video_flags_without_a_video_are_named_in_a_sentence(photo, capsys, flags, says):
    assert main([str(photo), *TINY, *flags]) == 2
    assert says in capsys.readouterr().err  # before: "--fps only apply to a video"


# --- the environment -----------------------------------------------------------------------------


@pytest.mark.parametrize("value,noted", [("abc", True), ("0", True), ("-2", True), ("1.5", True), (" 2 ", False),
                                         ("", False)])
def test_a_workers_count_that_is_none_is_noted_and_taken_as_1(tmp_path, photo, capsys, monkeypatch, value, noted):
    # Before: taken as 1 without a word.
    from dreamer import threads

    monkeypatch.setenv("LUCID_DREAM_WORKERS", value)
    assert main([str(photo), *TINY, "-o", str(tmp_path / "x.png")]) == 0
    err = capsys.readouterr().err
    assert ("LUCID_DREAM_WORKERS" in err) is noted, err
    assert threads.workers() == (2 if value == " 2 " else 1)


@pytest.mark.parametrize("recipe", ["dive.mp4", "dive.json"])
def test_a_dive_videos_recipe_without_video_says_how_to_make_it_again(tmp_path, photo, capsys, recipe):
    # Before: a folder of frames, each dreamt whole with no glide between: another film, in several
    # times the time, where the README promises `--recipe dive.mp4` makes the video again.
    assert main([str(photo), *TINY, "--frames", "4", "--glide", "2", "--video", str(tmp_path / "dive.mp4")]) == 0
    capsys.readouterr()
    assert main([str(photo), "--recipe", str(tmp_path / recipe), "-q", "-o", f"{tmp_path}/again/"]) == 2
    assert "is a dive video's: add --video OUT.mp4" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()
    assert main([str(photo), "--recipe", str(tmp_path / recipe), "-q", "--frames", "1",
                 "-o", str(tmp_path / "still.png")]) == 0
