"""Dive videos (dreamer.dive, dreamer.video, `dream --video`) on the tiny random-weight net:
what PyAV reads back, the glide's motion, resume after a kill, and clear errors."""
import gc
import json
import os
import shutil
import subprocess
import sys
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

from dreamer import dive as dive_mod
from dreamer.cli import main
from dreamer.dive import (DiveError, DiveSettings, between, camera, dive_frames, dive_video, edge_weight,
                          keyframes, parts_dir)
from dreamer.recipe import Recipe
from dreamer.transform import to_image, to_tensor, zoom_rotate
from dreamer.video import frames, probe, read_video_metadata
from tests.conftest import PHOTOS, ROOT

TINY = ["--model", "tiny", "--steps", "3", "-q"]
RECIPE = Recipe.from_flat(model="tiny", classes={"1": 1.0}, steps=3, frames=13, zoom=1.03, rotate=1.0, seed=7)


@pytest.fixture
def photo(tmp_path):
    p = tmp_path / "odd.jpg"  # odd sides: the video must come out even
    Image.open(PHOTOS / "chelsea.jpg").resize((161, 107)).save(p)
    return p


def decoded(path):
    return [np.asarray(im, dtype=float) for im in frames(path)]


def where_keys_went(video, pngs):
    """The video's frame count, and for each stored keyframe the video frame most like it and how
    much closer that one is than the next best: a key reused after a resume sits at its own
    frame, unlike its neighbours but for the codec's loss. (Two separate runs of the engine are
    not compared pixel for pixel: the same dream can come out a little different run to run.)"""
    out = [np.asarray(im.convert("L"), dtype=float) for im in frames(video)]  # 4:2:0 keeps luma whole
    found = []
    for png in pngs:
        key = np.asarray(Image.open(png).convert("L"), dtype=float)
        diffs = sorted((np.abs(f - key).mean(), i) for i, f in enumerate(out))
        found.append((diffs[0][1], diffs[0][0] / diffs[1][0]))
    return len(out), found


def run_cli(*args, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "dreamer", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)


def test_cli_writes_the_mp4_asked_for_and_its_metadata_remakes_it(photo, tmp_path):
    out, gif = tmp_path / "dive.mp4", tmp_path / "dive.gif"
    assert main([str(photo), "-c", "goldfish", "--frames", "10", "--fps", "12", "--glide", "3",
                 "--video-size", "96", "--seed", "2", "--video", str(out), "--preview", str(gif), *TINY]) == 0
    info = probe(out)
    assert (info.frames, info.fps, info.width, info.height) == (10, 12, 96, 62)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    meta = read_video_metadata(out)
    assert meta["recipe"]["seed"] == 2 and meta["recipe"]["classes"] == {"1": 1.0}
    assert meta["recipe"]["class_names"] == {"1": "goldfish"} and meta["recipe"]["source"] == "odd.jpg"
    assert meta["dive"] == {"fps": 12, "glide": 3, "ease": 0.15, "size": 96}
    assert json.loads(out.with_suffix(".json").read_text())["dive"] == meta["dive"]
    assert not parts_dir(out).exists()  # the keyframes go once the video is whole
    preview = Image.open(gif)
    assert preview.n_frames > 2 and preview.width == 96

    again = tmp_path / "again.mp4"  # the recipe and the dive settings travel in the file
    assert main([str(photo), "--recipe", str(out), "--video", str(again), "-q"]) == 0
    assert read_video_metadata(again) == meta
    b = probe(again)
    assert (b.frames, b.fps, b.width, b.height) == (info.frames, info.fps, info.width, info.height)


def test_webm_is_vp9(photo, tmp_path):
    out = tmp_path / "dive.webm"
    assert main([str(photo), "-c", "1", "--frames", "5", "--fps", "10", "--glide", "2",
                 "--video-size", "64", "--video", str(out), *TINY]) == 0
    info = probe(out)
    assert (info.frames, info.fps, info.width, info.height, info.codec) == (5, 10, 64, 42, "vp9")
    assert read_video_metadata(out)["dive"]["fps"] == 10


def test_a_killed_dive_resumes_with_no_frame_lost_or_doubled(photo, tmp_path):
    out = tmp_path / "dive.mp4"
    args = [photo, "-c", "goldfish", "--frames", "13", "--fps", "12", "--glide", "3", "--video-size", "64",
            "--zoom", "1.06", "--rotate", "3", "--ease", "0", "--video", out, *TINY]  # no --seed: the rerun finds the dive's own
    killed = run_cli(*args, env={"LUCID_TEST_KILL_AT": "dive:2"})
    assert killed.returncode == -9, killed.stderr
    assert not out.exists()
    parts = parts_dir(out)
    kept = tmp_path / "kept"
    shutil.copytree(parts, kept)
    assert sorted(p.name for p in kept.glob("key_*.png")) == ["key_00000.png", "key_00003.png", "key_00006.png"]

    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at frame 9/13" in resumed.stderr and "Traceback" not in resumed.stderr
    assert not parts.exists()
    count, found = where_keys_went(out, sorted(kept.glob("key_*.png")))
    assert count == 13 and [at for at, _ in found] == [0, 3, 6]
    assert max(ratio for _, ratio in found) < 0.5  # the codec's loss, well below a frame's motion


class Boom(Exception):
    pass


def test_resume_after_a_failure_dreams_only_the_keyframes_left(tmp_path):
    image = Image.open(PHOTOS / "chelsea.jpg")
    settings = DiveSettings(fps=12, glide=2, ease=0.0, size=64)  # every frame moves (see where_keys_went)
    out = tmp_path / "dive.mp4"

    def fail_at_key_3(p):
        if p.dream is not None and p.key == 3:
            raise Boom

    with pytest.raises(Boom):
        dive_video(image, RECIPE, out, settings, progress=fail_at_key_3)
    parts = parts_dir(out)
    (parts / "key_00006.png.tmp").write_bytes(b"half a png")  # a kill while storing key 3
    with pytest.raises(DiveError, match="recipe.steps"):  # another dive's keyframes are not used
        dive_video(image, RECIPE.replace(steps=4), out, settings)

    kept = tmp_path / "kept"
    shutil.copytree(parts, kept)
    result = dive_video(image, RECIPE, out, settings)
    assert (result.keys, result.dreamt, result.resumed_at) == (7, 4, 6)
    count, found = where_keys_went(out, sorted(kept.glob("key_*.png")))
    assert count == 13 and [at for at, _ in found] == [0, 2, 4] and max(r for _, r in found) < 0.5


def test_frames_are_streamed_not_kept(tmp_path, monkeypatch):
    alive = []
    real_write = dive_mod.VideoWriter.write

    def write(self, frame):
        real_write(self, frame)
        alive.append(weakref.ref(frame))
        gc.collect()
        assert sum(r() is not None for r in alive) <= 3  # two keyframes and the frame in hand

    monkeypatch.setattr(dive_mod.VideoWriter, "write", write)
    dive_video(Image.open(PHOTOS / "chelsea.jpg"), RECIPE.replace(frames=20), tmp_path / "d.mp4",
               DiveSettings(glide=3, size=64))
    assert len(alive) == 20


def test_camera_eases_in_and_out():
    assert [camera(n, 10, 0) for n in range(10)] == list(range(10))
    cam = [camera(n, 49, 0.25) for n in range(49)]
    speed = np.diff(cam)
    assert cam[0] == 0 and speed[0] < 0.05 and speed[-1] < 0.05  # starts and stops gently
    assert np.allclose(speed[20:28], 1)  # cruises at the recipe's zoom per frame
    assert np.all(np.diff(speed[:12]) > 0) and np.allclose(speed, speed[::-1])


def test_keyframes_end_on_the_last_frame():
    assert keyframes(10, 3) == [0, 3, 6, 9]
    assert keyframes(11, 3) == [0, 3, 6, 9, 10]
    assert keyframes(1, 6) == [0] and keyframes(5, 1) == [0, 1, 2, 3, 4]


def test_between_fades_the_next_keyframe_in_and_shows_no_reflection():
    a, b = torch.rand(1, 3, 40, 60), torch.rand(1, 3, 40, 60)
    assert torch.allclose(between(a, b, 0.25, 0, 0, 1.0, 0.0), a + 0.25 * (b - a))  # no motion: a plain fade
    w = edge_weight(40, 60, 0.8, 0.0)[0, 0]  # zoomed out: the border shows what lies outside
    assert w[20, 30] == 1 and w[0].max() == 0 and w[:, 0].max() == 0
    assert torch.all(edge_weight(40, 60, 1.0, 0.0) == 1)  # the keyframe itself is shown whole


def test_the_glide_moves_every_frame_and_fades_the_dream_in(tmp_path):
    # a strong, smooth detail (the tiny net's own is pixel noise, which any motion scrambles)
    recipe = RECIPE.replace(strength=1.0, decay=2.0)
    settings = DiveSettings(glide=4, ease=0.0, size=96)
    parts = tmp_path / "parts"
    parts.mkdir()
    photo = Image.open(PHOTOS / "chelsea.jpg").resize((96, 64))
    fr = list(dive_frames(photo, recipe, settings, parts))
    assert len(fr) == 13
    arr = [np.asarray(f, dtype=float) for f in fr]
    assert min(np.abs(arr[n] - arr[n - 1]).mean() for n in range(1, 13)) > 0.5  # every frame moves
    # What the camera's motion does not explain: each frame against the last one carried along.
    # Faded in, a keyframe's new detail is spread over the glide; popped in, all of it lands on
    # the keyframe (ratio about 1).
    cam = recipe.video
    carried = [np.asarray(to_image(zoom_rotate(to_tensor(fr[n - 1]), cam.zoom, cam.rotate)), dtype=float)
               for n in range(1, 13)]
    news = [np.abs(arr[n] - carried[n - 1]).mean() for n in range(1, 13)]
    per_glide = [sum(news[i:i + 4]) for i in range(0, 12, 4)]
    assert max(news) < 0.6 * min(per_glide)


@pytest.mark.parametrize("args,says", [
    (["--video", "x.avi"], "use one of .mp4, .webm"),
    (["--frames", "0", "--video", "x.mp4"], "frames = 0"),
    (["--fps", "12"], "add --video"),
    (["--video", "x.mp4", "--fps", "0"], "fps = 0"),
    (["--video", "x.mp4", "--glide", "0"], "glide = 0"),
    (["--video", "x.mp4", "--ease", "0.9"], "ease = 0.9"),
    (["--video", "x.mp4", "--video-size", "8"], "size = 8"),
    (["--video", "x.mp4", "-o", "y.jpg"], "leave out --output"),
    (["--video", "x.mp4", "--start-frame", "3"], "resumes by itself"),
    (["--video", "x.mp4", "--preview", "p.png"], "GIF"),
])
def test_bad_video_arguments_are_one_clear_line(photo, tmp_path, capsys, args, says):
    args = [a.replace("x.", str(tmp_path / "x.")) for a in args]
    assert main([str(photo), "-c", "goldfish", *args, *TINY]) == 2
    err = capsys.readouterr().err
    assert says in err and err.startswith("dream: error:") and "Traceback" not in err
    assert not list(tmp_path.glob("x.*"))


def test_two_photos_for_one_video_is_an_error(photo, tmp_path, capsys):
    assert main([str(photo), str(photo), "-c", "1", "--video", str(tmp_path / "x.mp4"), *TINY]) == 2
    assert "single photo" in capsys.readouterr().err
