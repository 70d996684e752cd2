"""COCO AP of ImageRecords and arrays, with no JSON in between (what evaluating a trained model
does): equal to pycocotools' COCOeval on the same ground truth and results as JSON."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import posekit.data.formats.coco as coco_format
import posekit.metrics.coco as coco_metric
from posekit.data.formats import (
    CocoGroundTruth, CocoResults, parse_coco, read_coco, read_coco_ground_truth, read_mpii_json,
    records_to_coco,
)
from posekit.errors import DataError
from posekit.metrics import COCO_KEYS, coco_eval

TOL = 1e-9


def assert_same(ours: dict, ref: dict) -> None:
    diff = {k: (ours[k], ref[k]) for k in COCO_KEYS if abs(ours[k] - ref[k]) > TOL}
    assert not diff, diff


def as_arrays(results: list[dict]) -> CocoResults:
    kp = np.array([r["keypoints"] for r in results], np.float64).reshape(len(results), -1, 3)
    return CocoResults.create([r["image_id"] for r in results], kp, [r["score"] for r in results])


def noisy_results(gt: dict, seed: int) -> list[dict]:
    """The labelled people of ``gt`` moved by 2 to 12 px, with random scores; float32 values
    (what a model gives)."""
    rng = np.random.default_rng(seed)
    out = []
    for a in gt["annotations"]:
        if a["iscrowd"] or a["num_keypoints"] == 0:
            continue
        kp = np.asarray(a["keypoints"], np.float32).reshape(-1, 3)
        kp[:, :2] += rng.normal(0, rng.uniform(2, 12), kp[:, :2].shape).astype(np.float32)
        kp[:, 2] = rng.random(len(kp))
        out.append({"image_id": a["image_id"], "category_id": 1,
                    "keypoints": kp.astype(np.float64).ravel().tolist(), "score": float(rng.random())})
    return out


def test_records_and_arrays_equal_pycocotools(make_bench, coco_oracle):
    gt, dt = make_bench(250, 1)
    records = parse_coco(gt).to_records()                      # float32, boxes xyxy
    ours = coco_eval(records, as_arrays(dt))
    assert_same(ours, coco_oracle(gt, dt))                     # the file itself
    assert_same(ours, coco_oracle(records_to_coco(records), dt))   # the records, written
    assert 0.0 < ours["AP"] < 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_real_sample_read_once(shared_data, coco_oracle, seed):
    """The COCO sample read once (records, or the parsed arrays) and scored with arrays."""
    path = shared_data / "coco" / "test_coco.json"
    gt = json.loads(path.read_text())
    dt = noisy_results(gt, seed)
    ref = coco_oracle(gt, dt)
    for truth in (read_coco(path), read_coco_ground_truth(path), path, gt):
        assert_same(coco_eval(truth, as_arrays(dt)), ref)
    assert_same(coco_eval(read_coco(path), dt), ref)


def test_records_in_makes_no_json(make_bench, monkeypatch):
    """Records and arrays in: nothing is serialised or parsed, no COCO dict is built."""
    gt, dt = make_bench(60, 0)
    records = parse_coco(gt).to_records()
    results = as_arrays(dt)
    expected = coco_eval(gt, dt)

    def forbidden(*args, **kwargs):
        raise AssertionError("a round trip through JSON")

    for name in ("dumps", "dump", "loads", "load"):
        monkeypatch.setattr(json, name, forbidden)
    for module in (coco_format, coco_metric):
        for name in ("records_to_coco", "parse_coco", "read_coco_ground_truth", "parse_coco_results"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, forbidden)
    assert coco_eval(records, results) == expected


def test_records_without_image_ids_get_the_written_ids(shared_data, coco_oracle):
    """Records without image ids (and without annotation ids) are numbered as
    ``records_to_coco`` numbers them; results name images through those ids."""
    path = shared_data / "coco" / "test_coco.json"
    gt = json.loads(path.read_text())
    dt = noisy_results(gt, 2)
    records = read_coco(path)
    position = {r.image_id: i for i, r in enumerate(records)}
    bare = [replace(r, image_id=None, ann_ids=None) for r in records]
    truth = CocoGroundTruth.from_records(bare)
    written = records_to_coco(bare)
    assert truth.image_ids.tolist() == [im["id"] for im in written["images"]]
    assert truth.ann_ids.tolist() == [a["id"] for a in written["annotations"]]
    ids = truth.image_ids[[position[r["image_id"]] for r in dt]]
    renamed = [{**r, "image_id": int(i)} for r, i in zip(dt, ids)]
    assert_same(coco_eval(truth, as_arrays(renamed)), coco_oracle(written, renamed))
    assert_same(coco_eval(truth, as_arrays(renamed)), coco_oracle(gt, dt))


def test_from_records_equals_the_parse_of_the_written_file(shared_data):
    """MPII records (head boxes, scales, centres, no areas in the source) give the same arrays
    directly as through ``records_to_coco`` and the parser (in float32, the records' values)."""
    records = read_mpii_json(shared_data / "mpii" / "test_mpii.json")
    direct = CocoGroundTruth.from_records(records)
    parsed = parse_coco(records_to_coco(records))
    for field in ("image_ids", "image_index", "num_keypoints", "crowd", "ann_ids"):
        np.testing.assert_array_equal(getattr(direct, field), getattr(parsed, field), err_msg=field)
    for field in ("keypoints", "boxes_xywh", "areas", "head_boxes", "scales", "centers"):
        np.testing.assert_array_equal(getattr(direct, field).astype(np.float32),
                                      getattr(parsed, field).astype(np.float32), err_msg=field)
    assert direct.spec is parsed.spec and direct.images == parsed.images


def test_arrays_checked():
    kp = np.zeros((2, 17, 3))
    with pytest.raises(DataError, match=r"scores has shape \(3,\), expected \(2,\)"):
        CocoResults.create([1, 2], kp, [0.5, 0.5, 0.5])
    with pytest.raises(DataError, match="keypoints has shape"):
        CocoResults.create([1, 2], kp[:, :, :2], [0.5, 0.5])
    kp[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        CocoResults.create([1, 2], kp, [0.5, 0.5])
    with pytest.raises(DataError, match="ground truth must be"):
        coco_eval(42, [])
    empty = CocoResults.create([], np.zeros((0, 17, 3)), [])
    assert len(empty) == 0 and empty.keypoints.shape == (0, 17, 3)
