"""``posekit eval`` that a user can trust: ground truth in posekit's frame (read by the data
readers), remapped keypoint specs, unknown images, a table that says each number once, plot
paths checked first, and the COCO numbers equal to pycocotools' on the same files."""

from __future__ import annotations

import argparse
import copy
import json

import numpy as np
import pytest

from posekit.commands import eval as eval_cmd
from posekit.data.formats import read_coco, read_coco_ground_truth, read_mpii_json
from posekit.errors import DataError
from posekit.skeleton import COCO17, CROWDPOSE14, MPII16, remap_keypoints


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="posekit")
    eval_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", *argv])
    return args.func(args)


def _json(capsys, argv) -> dict:
    assert run([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def _mpii_preds(shared_data) -> list[dict]:
    """The MPII sample's people as predictions in posekit's frame (the reader's values)."""
    return [{"file_name": r.file_name, "score": 1.0, "keypoints": r.keypoints[0].tolist()}
            for r in read_mpii_json(shared_data / "mpii" / "test_mpii.json")]


# ------------------------------------------------------------------ the 1-pixel offset
@pytest.mark.parametrize("metric", ["pck", "pckh"])
def test_mpii_ground_truth_is_in_posekit_frame(capsys, shared_data, tmp_path, metric):
    """Predictions equal to the ground truth in posekit's frame are exact: PCK at alpha 0 is 1
    and the AUC is 1. Reading MPII's 1-based file without converting it would put every
    ground-truth joint one pixel off."""
    gt = shared_data / "mpii" / "test_mpii.json"
    pred = _write(tmp_path / "p.json", _mpii_preds(shared_data))
    assert _json(capsys, [str(gt), str(pred), "--metric", metric, "--alpha", "0"])["mean"] == 1.0
    out = _json(capsys, [str(gt), str(pred), "--metric", metric])
    assert out["auc"] == 1.0 and out["auc_mmpose"] == pytest.approx(0.95)   # MMPose: 0 < 0 fails


def test_jhmdb_coco_style_ground_truth_is_in_posekit_frame(capsys, shared_data, tmp_path):
    """MMPose's COCO-style J-HMDB file is 1-based: eval reads it through the reader, which
    converts it, so predictions in posekit's frame score exactly: the reader's own values at
    alpha 0, the records' float32 values at alpha 0.001 (0.16 px here; one pixel off fails)."""
    gt = shared_data / "jhmdb" / "test_jhmdb_sub1.json"
    truth = read_coco_ground_truth(gt)
    exact = [{"image_id": int(truth.image_ids[i]), "score": 1.0, "keypoints": truth.keypoints[p[0]].tolist()}
             for i, p in enumerate(truth.people_of_images())]
    out = _json(capsys, [str(gt), str(_write(tmp_path / "e.json", exact)), "--metric", "pck", "--alpha", "0"])
    assert out["mean"] == 1.0
    preds = [{"image_id": r.image_id, "score": 1.0, "keypoints": r.keypoints[0].tolist()}
             for r in read_coco(gt)]
    pred = _write(tmp_path / "p.json", preds)
    assert _json(capsys, [str(gt), str(pred), "--metric", "pck", "--alpha", "0.001"])["mean"] == 1.0
    for p in preds:
        p["keypoints"] = [[x + 1, y, s] for x, y, s in p["keypoints"]]
    pred = _write(tmp_path / "p1.json", preds)
    assert _json(capsys, [str(gt), str(pred), "--metric", "pck", "--alpha", "0.001"])["mean"] == 0.0


def _structs(rows: list[dict]) -> np.ndarray:
    """A 1 x N MATLAB struct array for scipy.io.savemat."""
    fields = list(rows[0])
    arr = np.zeros((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for f in fields:
            arr[0, i][f] = row[f]
    return arr


def test_mpii_mat_ground_truth_with_real_head_boxes(capsys, tmp_path):
    """The official .mat release is read too, head boxes from the file: a prediction 7 px off
    is right for a head box of diagonal 25 (head size 15) and wrong for one of 10 (6)."""
    import scipy.io

    def person(x0, head_w, head_h):
        pts = _structs([{"id": j, "x": float(x0 + 10 * j), "y": 50.0, "is_visible": 1} for j in range(16)])
        return {"x1": 1.0, "y1": 1.0, "x2": 1.0 + head_w, "y2": 1.0 + head_h,
                "annopoints": {"point": pts}}

    annolist = _structs([{"image": {"name": "a.jpg"},
                          "annorect": _structs([person(100, 15, 20), person(400, 6, 8)])}])
    mat = tmp_path / "m.mat"
    scipy.io.savemat(str(mat), {"RELEASE": {"annolist": annolist}})
    preds = []
    for x0 in (100, 400):
        kp = [[x0 + 10 * j - 1 + 7, 49.0, 1.0] for j in range(16)]     # 0-based, 7 px right
        preds.append({"file_name": "a.jpg", "score": 1.0, "keypoints": kp})
    pred = _write(tmp_path / "p.json", preds)
    out = _json(capsys, [str(mat), str(pred), "--metric", "pckh"])
    assert out["mean"] == 0.5 and out["per_joint"]["head_top"] == 0.5


# ------------------------------------------------------------------------- remapping
def test_coco17_predictions_on_mpii16_ground_truth(capsys, shared_data, tmp_path):
    """COCO-17 predictions (found from their 51 numbers) are scored on the 12 joints COCO-17
    and MPII-16 share; the output says so."""
    gt = shared_data / "mpii" / "test_mpii.json"
    preds = _mpii_preds(shared_data)
    for p in preds:
        kp = remap_keypoints(np.asarray(p["keypoints"], np.float32)[None], MPII16, COCO17)[0]
        p["keypoints"] = kp.ravel().tolist()
    pred = _write(tmp_path / "p.json", preds)
    out = _json(capsys, [str(gt), str(pred), "--metric", "pckh", "--alpha", "0"])
    assert out["mean"] == 1.0 and len(out["per_joint"]) == 12
    assert "pelvis" not in out["per_joint"] and "right_ankle" in out["per_joint"]
    assert "scored the 12 keypoints" in out["notes"][0] and "head_top" in out["notes"][0]
    assert run([str(gt), str(pred), "--metric", "mpii-map", "--remap", "coco17"]) == 0
    text = capsys.readouterr().out
    assert "mAP" in text and "note: predictions are coco17, ground truth mpii16" in text


def _noisy_results(annotations: list[dict], seed: int, sigma: float, low: float) -> list[dict]:
    """COCO-17 results: the non-crowd labelled annotations, moved by N(0, sigma) px, with
    scores uniform in [low, 1)."""
    rng = np.random.default_rng(seed)
    results = []
    for a in annotations:
        if a["iscrowd"] or a["num_keypoints"] == 0:
            continue
        kp = np.asarray(a["keypoints"], np.float64).reshape(17, 3)
        kp[:, :2] += rng.normal(0, sigma, (17, 2))
        results.append({"image_id": a["image_id"], "category_id": 1,
                        "score": float(rng.uniform(low, 1)), "keypoints": kp.ravel().tolist()})
    return results


def _crowdpose_gt(shared_data) -> dict:
    """The COCO sample as CrowdPose-14 ground truth: 12 joints carried over, plus a labelled
    head top and neck (so that they exist and are visibly not scored)."""
    gt = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    for a in gt["annotations"]:
        kp = np.asarray(a["keypoints"], np.float32).reshape(1, 17, 3)
        cp = remap_keypoints(kp, COCO17, CROWDPOSE14)[0]
        if kp[0, 0, 2] > 0:
            cp[12] = [kp[0, 0, 0], kp[0, 0, 1] - 20, 2]             # head top above the nose
            cp[13] = [kp[0, 0, 0], kp[0, 0, 1] + 20, 2]             # neck below it
        a["keypoints"] = cp.ravel().tolist()
        a["num_keypoints"] = int((cp[:, 2] > 0).sum())
    gt["categories"] = [{"id": 1, "name": "person", "supercategory": "person",
                         "keypoints": list(CROWDPOSE14.names), "skeleton": []}]
    return gt


def test_coco17_results_on_crowdpose14_equal_pycocotools_on_the_common_joints(
        capsys, shared_data, tmp_path, coco_oracle):
    raw = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    gt = _crowdpose_gt(shared_data)
    gt_path = _write(tmp_path / "crowdpose.json", gt)
    results = _noisy_results(raw["annotations"], seed=0, sigma=4, low=0.5)
    pred = _write(tmp_path / "res.json", results)
    out = _json(capsys, [str(gt_path), str(pred), "--metric", "coco"])
    assert "scored the 12 keypoints" in out.pop("notes")[0]
    # the oracle: pycocotools on the 12 common joints, cut out by hand, CrowdPose's sigmas
    keep = [i for i, n in enumerate(CROWDPOSE14.names) if n in COCO17.names]
    src = [COCO17.names.index(CROWDPOSE14.names[i]) for i in keep]
    gt12 = copy.deepcopy(gt)
    for a in gt12["annotations"]:
        sub = np.asarray(a["keypoints"]).reshape(14, 3)[keep]
        a["keypoints"], a["num_keypoints"] = sub.ravel().tolist(), int((sub[:, 2] > 0).sum())
    gt12["categories"][0]["keypoints"] = [CROWDPOSE14.names[i] for i in keep]
    res12 = [{**r, "keypoints": np.asarray(r["keypoints"]).reshape(17, 3)[src].ravel().tolist()}
             for r in results]
    expected = coco_oracle(gt12, res12, sigmas=np.array(CROWDPOSE14.sigmas)[keep])
    for key, v in expected.items():
        assert out[key] == pytest.approx(v, abs=1e-9), key
    assert 0.1 < out["AP"] < 1.0


def test_coco_metric_equals_pycocotools_on_the_same_files(capsys, shared_data, tmp_path, coco_oracle):
    """No remapping: the command scores the ground-truth file as it is, so its numbers are
    pycocotools' on the same two files."""
    gt_path = shared_data / "coco" / "test_coco.json"
    gt = json.loads(gt_path.read_text())
    results = _noisy_results(gt["annotations"], seed=1, sigma=6, low=0.3)
    pred = _write(tmp_path / "res.json", results)
    out = _json(capsys, [str(gt_path), str(pred), "--metric", "coco"])
    expected = coco_oracle(gt, results)
    for key, v in expected.items():
        assert out[key] == pytest.approx(v, abs=1e-9), key


# -------------------------------------------------------------------- unknown images
def test_predictions_for_unknown_images(capsys, shared_data, tmp_path):
    gt = shared_data / "mpii" / "test_mpii.json"
    preds = _mpii_preds(shared_data)
    extra = [dict(preds[0], file_name="other1.jpg"), dict(preds[1], file_name="other2.jpg")]
    pred = _write(tmp_path / "p.json", [preds[0], *extra, *preds[1:]])
    with pytest.raises(DataError) as e:
        run([str(gt), str(pred), "--metric", "pckh"])
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{pred}[1]: ")
    assert "2 of 7 predictions name images that are not in" in msg and "'other1.jpg'" in msg
    assert "--skip-unknown" in msg
    out = _json(capsys, [str(gt), str(pred), "--metric", "pckh", "--skip-unknown"])
    assert out["mean"] == 1.0 and out["notes"] == [
        f"skipped 2 prediction(s) naming images that are not in {gt}"]
    assert run([str(gt), str(pred), "--metric", "mpii-map", "--skip-unknown"]) == 0
    assert "note: skipped 2 prediction(s)" in capsys.readouterr().out


def test_mpii_map_notes_images_without_predictions(capsys, shared_data, tmp_path):
    gt = shared_data / "mpii" / "test_mpii.json"
    pred = _write(tmp_path / "p.json", _mpii_preds(shared_data)[:3])
    out = _json(capsys, [str(gt), str(pred), "--metric", "mpii-map"])
    assert out["mAP"] == 1.0
    assert out["notes"][0].startswith("2 image(s) with ground-truth people have no prediction")


# ------------------------------------------------------------------ table and plots
def test_table_says_each_number_once(capsys, shared_data, tmp_path):
    gt = shared_data / "mpii" / "test_mpii.json"
    pred = _write(tmp_path / "p.json", _mpii_preds(shared_data))
    for metric, mean_key in (("pck", "mean"), ("pckh", "mean"), ("mpii-map", "mAP")):
        assert run([str(gt), str(pred), "--metric", metric]) == 0
        lines = capsys.readouterr().out.splitlines()
        names = [ln.split()[0] for ln in lines[1:]]
        assert names.count("mean") + names.count("mAP") == 1, (metric, lines)
        assert names.count(mean_key) == 1
    out = _json(capsys, [str(gt), str(pred), "--metric", "pck"])
    assert "mean" not in out["per_joint"] and len(out["per_joint"]) == 16
    out = _json(capsys, [str(gt), str(pred), "--metric", "mpii-map"])
    assert "mean" not in out["per_joint"] and len(out["per_joint"]) == 14   # no pelvis, thorax


def test_plot_path_checked_before_any_work(capsys, shared_data, tmp_path):
    gt = shared_data / "mpii" / "test_mpii.json"
    pred = _write(tmp_path / "p.json", _mpii_preds(shared_data))
    with pytest.raises(DataError, match="is a folder"):
        run([str(gt), str(pred), "--metric", "pck", "--plot", str(tmp_path)])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="file"):
        run([str(gt), str(pred), "--metric", "pck", "--plot", str(blocker / "sub" / "p.png")])
    assert capsys.readouterr().out == ""                      # nothing printed before the error
    pytest.importorskip("matplotlib")
    no_suffix = tmp_path / "plots" / "curve"
    assert run([str(gt), str(pred), "--metric", "pck", "--plot", str(no_suffix)]) == 0
    assert no_suffix.read_bytes()[:4] == b"\x89PNG"           # exactly that path, as PNG


def test_file_name_wins_over_the_ids_predict_gives_without_gt(capsys, shared_data, tmp_path):
    """``posekit predict`` without ``--gt`` numbers its images 1, 2, 3... in input order (here
    the reverse of the ground truth's order) and writes each image's relative ``file_name``:
    the file name must decide, or every prediction is scored against another person."""
    gt = shared_data / "mpii" / "test_mpii.json"
    preds = _mpii_preds(shared_data)[::-1]
    for n, p in enumerate(preds, start=1):
        p["image_id"] = n
        p["file_name"] = "photos/" + p["file_name"]
    pred = _write(tmp_path / "p.json", preds)
    assert _json(capsys, [str(gt), str(pred), "--metric", "pckh", "--alpha", "0"])["mean"] == 1.0
