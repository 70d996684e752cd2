"""``posekit predict`` and ``posekit models`` through the CLI entry point."""

from __future__ import annotations

import json
import shutil

import pytest

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
    from posekit.errors import PosekitError
    from posekit.pretrained import load_pretrained
    try:
        load_pretrained("movenet_multipose", "cpu")
    except (PosekitError, OSError) as e:
        pytest.skip(f"pretrained weights unavailable (npm or cache): {e}")
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
