"""The `dream` command, in-process for speed and as a subprocess where the exact stderr matters."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dreamer.cli import main
from tests.conftest import PHOTOS, ROOT

TINY = ["--model", "tiny", "--steps", "4", "-q"]  # the views engine: tiles flags would be refused


@pytest.fixture
def small_photo(tmp_path):
    p = tmp_path / "small.jpg"
    Image.open(PHOTOS / "chelsea.jpg").resize((160, 106)).save(p)
    return p


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "dreamer", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)


def test_dream_writes_picture_sidecar_and_metadata(small_photo, tmp_path, capsys):
    out = tmp_path / "out" / "fish.png"
    assert main([str(small_photo), "--classes", "goldfish, stingray:0.5", "--seed", "5", "-o", str(out), *TINY]) == 0
    assert Image.open(out).size == (160, 106)
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["recipe"]["classes"] == {"1": 1.0, "6": 0.5}
    assert side["recipe"]["seed"] == 5
    assert side["recipe"]["class_names"]["6"] == "stingray"
    from dreamer.image_io import read_embedded_recipe

    assert read_embedded_recipe(out)["seed"] == 5


def test_sidecar_recipe_remakes_the_same_picture(small_photo, tmp_path):
    a = tmp_path / "a.png"
    b = tmp_path / "b.png"
    assert main([str(small_photo), "--random-classes", "2", "--group", "fish", "-o", str(a), *TINY]) == 0
    assert main([str(small_photo), "--recipe", str(a.with_suffix(".json")), "-o", str(b), "-q"]) == 0
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_folder_output_and_several_inputs(small_photo, tmp_path):
    second = tmp_path / "second.png"
    Image.new("RGB", (90, 70), (200, 30, 30)).save(second)
    outdir = tmp_path / "dreams"
    assert main([str(small_photo), str(second), "-c", "1", "--seed", "1", "-o", str(outdir) + "/", "--format", "webp", *TINY]) == 0
    assert sorted(p.name for p in outdir.glob("*.webp")) == ["second_goldfish_s1.webp", "small_goldfish_s1.webp"]


def test_batch_dreams_the_photos_k_at_a_time_as_each_alone(small_photo, tmp_path, monkeypatch):
    import dreamer.render_batch as rb

    photos = [small_photo]
    for i, colour in enumerate([(200, 30, 30), (20, 160, 90)]):
        photos.append(tmp_path / f"p{i}.png")
        Image.new("RGB", (90 + 20 * i, 70), colour).save(photos[-1])
    batches = []
    real = rb.dream_batch
    monkeypatch.setattr(rb, "dream_batch", lambda images, *a, **k: batches.append(len(images)) or real(images, *a, **k))
    common = ["-c", "1, 2", "--seed", "3", "--format", "png", *TINY]
    assert main([*map(str, photos), "-o", str(tmp_path / "one") + "/", *common]) == 0
    assert main([*map(str, photos), "-o", str(tmp_path / "batched") + "/", "--batch", "2", *common]) == 0
    assert batches == [2, 1]
    names = sorted(p.name for p in (tmp_path / "one").glob("*.png"))
    assert len(names) == 3 and names == sorted(p.name for p in (tmp_path / "batched").glob("*.png"))
    for name in names:
        a, b = (np.asarray(Image.open(tmp_path / d / name), dtype=int) for d in ("one", "batched"))
        assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_save_steps_writes_one_picture_per_step(small_photo, tmp_path):
    out = tmp_path / "s.jpg"
    assert main([str(small_photo), "-c", "1", "-o", str(out), "--save-steps", *TINY]) == 0
    assert len(list((tmp_path / "s_steps").glob("step_*.png"))) == 4


def test_dive_frames_and_resume(small_photo, tmp_path):
    folder = tmp_path / "dive"
    args = [str(small_photo), "-c", "goldfish", "--frames", "3", "--zoom", "1.1", "--rotate", "3", "--seed", "1", "-o", str(folder), *TINY]
    assert main(args) == 0
    frames = sorted(folder.glob("frame_*.png"))
    assert len(frames) == 3
    gif = Image.open(folder / "dive.gif")
    assert getattr(gif, "n_frames", 1) == 3
    last = np.asarray(Image.open(frames[-1])).copy()
    frames[-1].unlink()
    assert main(args + ["--start-frame", "2"]) == 0
    assert np.array_equal(np.asarray(Image.open(frames[-1])), last)


def test_listings(capsys):
    assert main(["--list-classes", "goldf"]) == 0
    assert "   1  goldfish" in capsys.readouterr().out
    assert main(["--list-layers", "--model", "tiny"]) == 0
    assert "conv2  (default)" in capsys.readouterr().out
    assert main(["--list-models"]) == 0
    assert "efficientnet-lite0" in capsys.readouterr().out
    assert main(["--list-groups"]) == 0
    assert "fish" in capsys.readouterr().out


def test_unknown_class_suggests(small_photo, capsys):
    assert main([str(small_photo), "--classes", "goldfsh", *TINY]) == 2
    err = capsys.readouterr().err
    assert "goldfish" in err and "Traceback" not in err


@pytest.mark.parametrize("content,expect", [
    (b"", "empty"),
    (b"<html><body>nope</body></html>", "not an image"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "truncated"),
])
def test_bad_images_one_clear_line_no_traceback(tmp_path, content, expect):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    res = run_cli(bad, "-c", "goldfish", "--model", "tiny", "-q", "-o", tmp_path / "x.jpg")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "bad.png" in res.stderr and expect in res.stderr.lower()
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,expect", [
    (["missing.jpg", "-c", "1"], "missing.jpg"),
    (["IN", "-c", "1", "--octaves", "0"], "octaves"),
    (["IN", "-c", "1", "-o", "x.gif"], "--output"),
    (["IN", "--mode", "deepdream", "--layer", "nope"], "nope"),
    (["IN", "-c", "1", "--device", "cuda:7"], "cuda"),
    ([], "no input photo"),
    (["IN", "--recipe", "missing.toml"], "missing.toml"),
    (["IN", "-c", "1", "--batch", "0"], "--batch 0"),
    (["IN", "-c", "1", "--batch", "2", "--save-steps"], "--save-steps"),
    (["IN", "-c", "1", "--batch", "2", "--method", "tiles"], "--method tiles"),
])
def test_usage_errors(args, expect, small_photo, capsys):
    args = [str(small_photo) if a == "IN" else a for a in args]
    assert main(args + ["--model", "tiny", "-q"]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err


# --- arguments checked first, every misspelt class named, quiet on a closed pipe ------------
@pytest.mark.parametrize("args,expect", [
    ([], "classes is empty"),
    (["--classes", ""], "classes is empty"),
    (["--preset", "subtle"], "classes is empty"),
    (["--mode", "guide"], "guide is unset"),
    (["-c", "1", "--model", "nope"], "unknown model 'nope'"),
    (["-c", "1", "--model", "nets/none.onnx"], "nets/none.onnx"),
    (["-c", "1", "--weights", "none.pt"], "none.pt"),
    (["-c", "1", "--mode", "guide", "--guide", "none.jpg"], "none.jpg"),
    (["-c", "1", "--device", "cuda:7"], "cuda"),
    (["-c", "1", "--device", "tpu"], "device"),
    (["SECOND", "-c", "1"], "missing-second.jpg"),
    (["-c", "1", "--hybrid-partner", "efficientnet-lite0"], "hybrid_partner = 'efficientnet-lite0': must be a "
                                                            "different net from model"),
    (["-c", "1, 6", "--model", "tiny", "--hybrid-partner", "tiny"], "must be a different net from model ('tiny')"),
])
def test_argument_errors_come_before_the_model_loads(args, expect, small_photo, monkeypatch, capsys):
    import dreamer.render

    def no_loading(*a, **kw):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(dreamer.render, "load_net", no_loading)
    monkeypatch.setattr(dreamer.render, "create_model", no_loading)
    args = [str(small_photo) if a == "IN" else a for a in args]
    args = ["missing-second.jpg" if a == "SECOND" else a for a in args]
    if "--device" in args and "cuda" in args[args.index("--device") + 1]:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    assert main([str(small_photo), *args, "-o", str(small_photo.with_name("o.jpg"))]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err and "step" not in err  # no progress bar
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("spec,terms", [
    ("goldfsh, stingrey", ["goldfish", "stingray"]),
    ("goldfsh, goldfish, peacok, ostrch", ["goldfish", "peacock", "ostrich"]),
    ("crane, stingrey", ["134", "517", "stingray"]),
    ("goldfsh:0.5, 5000", ["goldfish", "5000"]),
])
def test_every_misspelt_class_gets_its_suggestion(spec, terms, small_photo, capsys):
    assert main([str(small_photo), "--classes", spec, *TINY]) == 2
    err = capsys.readouterr().err
    assert all(t in err for t in terms) and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("query", ["zzzz", "qqqqqq xyz", "!!!"])
def test_list_classes_says_when_nothing_matches(query, capsys):
    assert main(["--list-classes", query]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "no class matches" in captured.err


@pytest.mark.parametrize("cmd", [
    ["-m", "dreamer", "--list-classes"],
    ["-m", "dreamer", "--list-classes", "dog"],
    ["-m", "dreamer", "--list-groups"],
    ["-m", "dreamer", "--list-models"],
    ["run_bot.py", "status", "--config", "config/demo.toml"],
    ["run_bot.py", "check-config", "--dry-run", "--config", "config/demo.toml"],
])
def test_quiet_when_the_reader_closes_the_pipe(cmd):
    read, write = os.pipe()
    os.close(read)  # like `| head` that has already gone: every write meets a closed pipe
    try:
        res = subprocess.run([sys.executable, *cmd], stdout=write, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    finally:
        os.close(write)
    assert res.stderr == "" and res.returncode == 141, res.stderr
