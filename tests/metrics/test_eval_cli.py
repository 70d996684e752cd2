"""The ``posekit eval`` command, driven through its own ``register`` on a local parser."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from posekit.commands import eval as eval_cmd
from posekit.data.formats import read_mpii_json
from posekit.errors import DataError


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="posekit")
    eval_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def coco_files(shared_data, tmp_path_factory):
    gt_path = shared_data / "coco" / "test_coco.json"
    gt = json.loads(gt_path.read_text())
    names = {im["id"]: im["file_name"] for im in gt["images"]}
    preds = []
    for i, a in enumerate(gt["annotations"]):
        if a["iscrowd"] or a["num_keypoints"] == 0:
            continue
        key = {"image_id": a["image_id"]} if i % 2 else {"file_name": names[a["image_id"]]}
        preds.append({**key, "category_id": 1, "keypoints": a["keypoints"], "score": 0.9})
    out = tmp_path_factory.mktemp("coco_cli") / "pred.json"
    out.write_text(json.dumps(preds))
    return gt_path, out


@pytest.fixture(scope="module")
def mpii_files(shared_data, tmp_path_factory):
    """The MPII sample and its ground truth as predictions, in posekit's frame: the reader's
    0-based float32 values (the file is 1-based), written exactly."""
    gt_path = shared_data / "mpii" / "test_mpii.json"
    preds = [{"file_name": r.file_name, "score": 1.0, "keypoints": r.keypoints[0].tolist()}
             for r in read_mpii_json(gt_path)]
    out = tmp_path_factory.mktemp("mpii_cli") / "pred.json"
    out.write_text(json.dumps(preds))
    return gt_path, out


def _json(capsys, argv) -> dict:
    assert run([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("metric", ["coco", "pck", "pcp", "pdj"])
def test_ground_truth_as_prediction_coco(capsys, coco_files, metric):
    gt, pred = coco_files
    out = _json(capsys, [str(gt), str(pred), "--metric", metric])
    if metric == "coco":
        assert all(v == 1.0 for v in out.values()) and len(out) == 10
    elif metric == "pck":
        assert out["mean"] == 1.0 and out["auc"] == 1.0
    elif metric == "pcp":
        assert out["strict"]["mean"] == 1.0 and out["loose"]["mean"] == 1.0
    else:
        assert out["mean_at_0.2"] == 1.0


@pytest.mark.parametrize("metric", ["pck", "pckh", "pcp", "pdj", "mpii-map"])
def test_ground_truth_as_prediction_mpii(capsys, mpii_files, metric):
    gt, pred = mpii_files
    out = _json(capsys, [str(gt), str(pred), "--metric", metric])
    if metric in ("pck", "pckh"):
        assert out["mean"] == 1.0 and out["mpii"]["Mean"] == 1.0
    elif metric == "pcp":
        assert out["strict"]["mean"] == 1.0 and "head" in out["strict"]
    elif metric == "pdj":
        assert out["mean_at_0.2"] == 1.0
    else:
        assert out["mAP"] == 1.0


def test_pck_of_perturbed_predictions(capsys, mpii_files, tmp_path):
    gt, pred = mpii_files
    preds = json.loads(pred.read_text())
    rng = np.random.default_rng(0)
    for p in preds:
        for kp in p["keypoints"]:
            kp[0] += float(rng.normal(0, 60))
    noisy = tmp_path / "noisy.json"
    noisy.write_text(json.dumps(preds))
    out = _json(capsys, [str(gt), str(noisy), "--metric", "pckh"])
    assert 0.0 < out["mean"] < 1.0


def test_table_output_and_plot(capsys, mpii_files, tmp_path):
    pytest.importorskip("matplotlib")
    gt, pred = mpii_files
    png = tmp_path / "pdj.png"
    assert run([str(gt), str(pred), "--metric", "pdj", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("PDJ") and "mean_at_0.2" in text
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_unknown_image_names_the_file_and_index(coco_files, tmp_path):
    gt, _ = coco_files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"file_name": "nope.jpg", "keypoints": [0.0] * 51, "score": 1.0}]))
    with pytest.raises(DataError, match=r"bad\.json\[0\].*nope\.jpg"):
        run([str(gt), str(bad), "--metric", "pck"])
    with pytest.raises(DataError, match=r"bad\.json\[0\].*nope\.jpg"):
        run([str(gt), str(bad), "--metric", "coco"])
    bad.write_text(json.dumps([{"image_id": 785, "keypoints": [1.0] * 51}]))
    with pytest.raises(DataError, match=r"bad\.json\[0\]: result has no 'score'"):
        run([str(gt), str(bad), "--metric", "coco"])


def test_wrong_keypoint_count(coco_files, tmp_path):
    gt, _ = coco_files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 785, "keypoints": [0.0] * 50, "score": 1.0}]))
    with pytest.raises(DataError, match=r"\[0\].*50 keypoint numbers fit no known .*51"):
        run([str(gt), str(bad), "--metric", "pdj"])
    # 42 = 14 x 3 fits three specs: the error asks which
    bad.write_text(json.dumps([{"image_id": 785, "keypoints": [0.0] * 42, "score": 1.0}]))
    with pytest.raises(DataError, match=r"aic14.*crowdpose14.*--remap"):
        run([str(gt), str(bad), "--metric", "pdj"])
    # named explicitly, each prediction must fit the named spec
    bad.write_text(json.dumps([{"image_id": 785, "keypoints": [0.0] * 42, "score": 1.0},
                               {"image_id": 785, "keypoints": [0.0] * 51, "score": 1.0}]))
    with pytest.raises(DataError, match=r"bad\.json\[1\]: 51 keypoint numbers; crowdpose14 needs 42"):
        run([str(gt), str(bad), "--metric", "pdj", "--remap", "crowdpose14"])


def test_pckh_needs_head_information(coco_files):
    gt, pred = coco_files
    with pytest.raises(DataError, match="head"):
        run([str(gt), str(pred), "--metric", "pckh"])


def test_empty_predictions_score_zero(capsys, coco_files, tmp_path):
    gt, _ = coco_files
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    out = _json(capsys, [str(gt), str(empty), "--metric", "coco"])
    assert out["AP"] == 0.0 and out["AR"] == 0.0
    assert _json(capsys, [str(gt), str(empty), "--metric", "pck"])["mean"] == 0.0


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        run(["--help"])
    assert e.value.code == 0
    assert "--metric" in capsys.readouterr().out


def test_aic_ground_truth_spec_inferred(capsys, shared_data, tmp_path):
    """AIC's COCO-style file: 14 joints named 'Right Shoulder', ..., no 'area' field."""
    gt_path = shared_data / "aic" / "test_aic.json"
    gt = json.loads(gt_path.read_text())
    preds = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
             for a in gt["annotations"] if a.get("num_keypoints", 1) > 0]
    p = tmp_path / "aic_pred.json"
    p.write_text(json.dumps(preds))
    out = _json(capsys, [str(gt_path), str(p), "--metric", "coco"])
    assert out["AP"] == 1.0
    assert _json(capsys, [str(gt_path), str(p), "--metric", "pckh"])["mean"] == 1.0
