"""COCO keypoint AP/AR: equal to pycocotools' COCOeval to 1e-9, edge cases and bad input."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from posekit.errors import DataError
from posekit.metrics import COCO_KEYS, coco_eval, evaluate_coco
from posekit.skeleton import COCO17, CROWDPOSE14, MPII16, KeypointSpec

TOL = 1e-9


def assert_same(ours: dict, ref: dict) -> None:
    diff = {k: (ours[k], ref[k]) for k in COCO_KEYS if abs(ours[k] - ref[k]) > TOL}
    assert not diff, diff


def gt_as_results(gt: dict, score: float = 1.0) -> list[dict]:
    return [dict(image_id=a["image_id"], category_id=a["category_id"], keypoints=list(a["keypoints"]),
                 score=score) for a in gt["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]


@pytest.fixture(scope="module")
def coco_sample(shared_data):
    return json.loads((shared_data / "coco" / "test_coco.json").read_text())


# ------------------------------------------------------------------- exact agreement
@pytest.mark.parametrize("images,seed", [(60, 0), (250, 1), (400, 7)])
def test_synthetic_bench_matches_pycocotools(make_bench, coco_oracle, images, seed):
    gt, dt = make_bench(images, seed)
    ours = coco_eval(gt, dt)
    assert_same(ours, coco_oracle(gt, dt))
    assert 0.0 < ours["AP"] < 1.0  # a non-trivial case


def _perturb(gt: dict, rng: np.random.Generator, how: str) -> list[dict]:
    out = []
    for a in gt["annotations"]:
        if a["iscrowd"]:
            continue
        kp = np.array(a["keypoints"], dtype=np.float64).reshape(-1, 3)
        s = np.sqrt(a["area"])
        xy = kp[:, :2].copy()
        if how == "noise":
            xy += rng.normal(0, 1, xy.shape) * COCO17.sigmas_array()[:, None] * s * rng.uniform(0.2, 3)
        elif how == "shift":
            xy += rng.uniform(-0.1, 0.1, 2) * s
        elif how == "drop_dup_fp":
            if rng.random() < 0.3:
                continue
            if rng.random() < 0.5:  # a duplicate, slightly off
                d = np.concatenate([xy + rng.normal(0, 0.05 * s, xy.shape), rng.random((len(xy), 1))], 1)
                out.append(dict(image_id=a["image_id"], category_id=1, keypoints=d.ravel().tolist(),
                                score=float(rng.random())))
            xy += rng.normal(0, 0.02 * s, xy.shape)
        elif how == "ties":
            xy += rng.normal(0, 0.03 * s, xy.shape)
        det = np.concatenate([xy, rng.random((len(xy), 1))], axis=1)
        score = float(rng.choice([0.5, 0.9])) if how == "ties" else float(rng.random())
        out.append(dict(image_id=a["image_id"], category_id=1, keypoints=det.ravel().tolist(), score=score))
    if how == "drop_dup_fp":  # false positives
        for im in gt["images"]:
            for _ in range(2):
                x0, y0 = rng.uniform(0, im["width"] * 0.7), rng.uniform(0, im["height"] * 0.7)
                d = np.concatenate([rng.uniform(0, 150, (17, 2)) + [x0, y0], rng.random((17, 1))], 1)
                out.append(dict(image_id=im["id"], category_id=1, keypoints=d.ravel().tolist(),
                                score=float(rng.random())))
    return out


@pytest.mark.parametrize("how", ["noise", "shift", "drop_dup_fp", "ties"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_sample_perturbed_matches_pycocotools(coco_sample, coco_oracle, how, seed):
    dt = _perturb(coco_sample, np.random.default_rng(seed), how)
    assert_same(coco_eval(coco_sample, dt), coco_oracle(coco_sample, dt))


def test_ground_truth_as_results_scores_one(coco_sample, coco_oracle):
    dt = gt_as_results(coco_sample)
    ours = coco_eval(coco_sample, dt)
    assert all(ours[k] == 1.0 for k in COCO_KEYS), ours
    assert_same(ours, coco_oracle(coco_sample, dt))


def test_accepts_paths(shared_data, tmp_path, coco_sample):
    p = tmp_path / "res.json"
    p.write_text(json.dumps(gt_as_results(coco_sample)))
    assert coco_eval(shared_data / "coco" / "test_coco.json", str(p))["AP"] == 1.0


# ------------------------------------------------------------------------ edge cases
def _tiny_gt(n_images=3) -> dict:
    rng = np.random.default_rng(5)
    images, anns = [], []
    for i in range(1, n_images + 1):
        images.append(dict(id=i, width=640, height=480, file_name=f"{i}.jpg"))
        for _ in range(3):
            x0, y0, w, h = rng.uniform(0, 300), rng.uniform(0, 200), rng.uniform(60, 200), rng.uniform(90, 250)
            kp = np.concatenate([rng.uniform([x0, y0], [x0 + w, y0 + h], (17, 2)), np.full((17, 1), 2.0)], 1)
            anns.append(dict(id=len(anns) + 1, image_id=i, category_id=1, iscrowd=0, area=w * h * 0.6,
                             bbox=[x0, y0, w, h], num_keypoints=17, keypoints=kp.ravel().tolist()))
    return dict(images=images, annotations=anns,
                categories=[dict(id=1, name="person", keypoints=list(COCO17.names))])


def _noisy(gt: dict, seed: int, scale: float = 8.0, score=None) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for a in gt["annotations"]:
        kp = np.array(a["keypoints"], dtype=np.float64).reshape(17, 3)
        kp[:, :2] += rng.normal(0, scale, (17, 2))
        kp[:, 2] = rng.random(17)
        out.append(dict(image_id=a["image_id"], category_id=1, keypoints=kp.ravel().tolist(),
                        score=float(rng.random()) if score is None else score))
    return out


def test_no_ground_truth_gives_minus_one(coco_oracle):
    gt = _tiny_gt()
    dt = _noisy(gt, 0)
    gt["annotations"] = []
    ours = coco_eval(gt, dt)
    assert all(v == -1 for v in ours.values())
    assert_same(ours, coco_oracle(gt, dt))


def test_only_ignored_ground_truth(coco_oracle):
    gt = _tiny_gt()
    dt = _noisy(gt, 1)
    for a in gt["annotations"]:
        a["num_keypoints"] = 0
    assert_same(coco_eval(gt, dt), coco_oracle(gt, dt))


def test_no_detections_scores_zero():
    ours = coco_eval(_tiny_gt(), [])
    assert all(ours[k] == 0.0 for k in COCO_KEYS), ours


def test_crowd_only_images(coco_oracle):
    gt = _tiny_gt(4)
    dt = _noisy(gt, 2)
    for a in gt["annotations"]:
        if a["image_id"] in (1, 3):
            a["iscrowd"] = 1
            if a["id"] % 2:
                a["num_keypoints"] = 0
                a["keypoints"] = [0] * 51
    assert_same(coco_eval(gt, dt), coco_oracle(gt, dt))


def test_more_than_20_detections_per_image(coco_oracle):
    gt = _tiny_gt(2)
    dt = []
    for seed in range(9):  # 27 detections per image, some good, most poor
        dt += _noisy(gt, 10 + seed, scale=4.0 + 6 * seed)
    assert sum(d["image_id"] == 1 for d in dt) > 20
    assert_same(coco_eval(gt, dt), coco_oracle(gt, dt))


def test_tied_scores_within_and_across_images(coco_oracle):
    gt = _tiny_gt(4)
    dt = _noisy(gt, 3, scale=12.0, score=0.5) + _noisy(gt, 4, scale=3.0, score=0.5)
    assert_same(coco_eval(gt, dt), coco_oracle(gt, dt))
    # reordering tied results changes the matching in the same way for both
    dt2 = dt[::-1]
    assert_same(coco_eval(gt, dt2), coco_oracle(gt, dt2))


def test_images_absent_from_results(coco_oracle):
    gt = _tiny_gt(5)
    dt = [d for d in _noisy(gt, 6) if d["image_id"] in (2, 4)]
    assert_same(coco_eval(gt, dt), coco_oracle(gt, dt))


def test_results_with_boxes_use_box_area(coco_oracle):
    gt = _tiny_gt(3)
    dt = _noisy(gt, 7)
    rng = np.random.default_rng(0)
    for d in dt:
        d["bbox"] = [10.0, 10.0, float(rng.uniform(5, 200)), float(rng.uniform(5, 200))]
    assert_same(coco_eval(gt, dt), coco_oracle(gt, dt))


def test_unlabelled_ground_truth_box_rule(coco_oracle):
    """Ground truth with no labelled keypoint (not crowd, num_keypoints > 0 in the field) is
    scored with COCO's enlarged-box distance."""
    gt = _tiny_gt(2)
    dt = _noisy(gt, 8)
    for a in gt["annotations"][::2]:
        a["keypoints"] = [0.0] * 51  # no v > 0, but num_keypoints still says 17
    assert_same(coco_eval(gt, dt), coco_oracle(gt, dt))


def test_ground_truth_id_zero_quirk(coco_oracle):
    gt = _tiny_gt(2)
    gt["annotations"][0]["id"] = 0
    dt = _noisy(gt, 9, scale=2.0)
    assert_same(coco_eval(gt, dt), coco_oracle(gt, dt))


def test_custom_spec_sigmas(make_bench, coco_oracle):
    gt, dt = make_bench(80, 3)
    gt, dt = copy.deepcopy(gt), copy.deepcopy(dt)
    for a in gt["annotations"]:
        a["keypoints"] = a["keypoints"][:42]
        a["num_keypoints"] = int(sum(v > 0 for v in a["keypoints"][2::3]))
    for d in dt:
        d["keypoints"] = d["keypoints"][:42]
    gt["categories"][0]["keypoints"] = list(CROWDPOSE14.names)
    ours = coco_eval(gt, dt, spec=CROWDPOSE14)
    assert_same(ours, coco_oracle(gt, dt, sigmas=CROWDPOSE14.sigmas_array()))
    assert coco_eval(gt, dt) == ours            # the spec found from the category's names
    unnamed = copy.deepcopy(gt)
    unnamed["categories"][0]["keypoints"] = [f"j{i}" for i in range(14)]   # 14: three specs
    with pytest.raises(DataError, match="cannot tell the keypoint spec"):
        coco_eval(unnamed, dt)
    assert coco_eval(unnamed, dt, spec=CROWDPOSE14) == ours
    no_sigmas = KeypointSpec("x14", CROWDPOSE14.names, CROWDPOSE14.limbs, None, "test")
    with pytest.raises(DataError, match="no OKS sigmas"):
        coco_eval(gt, dt, spec=no_sigmas)
    assert_same(coco_eval(gt, dt, spec=no_sigmas, sigmas=CROWDPOSE14.sigmas), ours)


def test_precision_array_layout(make_bench):
    gt, dt = make_bench(60, 0)
    res = evaluate_coco(gt, dt)
    assert res.precision.shape == (10, 101, 1, 3) and res.recall.shape == (10, 1, 3)
    assert res.cat_ids == (1,)
    assert abs(res.stats["AP"] - res.precision[:, :, 0, 0].mean()) < 1e-12


# ------------------------------------------------------------------------- bad input
def _bad(dt: list, i: int, **change) -> list:
    dt = copy.deepcopy(dt)
    for k, v in change.items():
        if v is None:
            del dt[i][k]
        else:
            dt[i][k] = v
    return dt


@pytest.mark.parametrize("change,match", [
    (dict(keypoints=[1.0] * 50), "50 values, expected 51"),
    (dict(keypoints=[float("nan")] * 51), "NaN"),
    (dict(image_id=999), "unknown image_id 999"),
    (dict(score=None), "no 'score'"),
    (dict(score=float("nan")), "score"),
    (dict(category_id=2), "category_id 2"),
])
def test_bad_results_name_file_and_index(tmp_path, change, match):
    gt = _tiny_gt(2)
    dt = _bad(_noisy(gt, 0), 3, **change)
    p = tmp_path / "results.json"
    p.write_text(json.dumps(dt))
    with pytest.raises(DataError, match=match) as e:
        coco_eval(gt, p)
    assert str(p) in str(e.value) and "[3]" in str(e.value)


def test_bad_files(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(DataError, match="broken.json"):
        coco_eval(p, [])
    with pytest.raises(DataError, match="missing.json"):
        coco_eval(tmp_path / "missing.json", [])
    with pytest.raises(DataError, match="list"):
        coco_eval(_tiny_gt(1), {"image_id": 1})


def test_spec_keypoint_count_mismatch():
    with pytest.raises(DataError, match="spec mpii16"):
        coco_eval(_tiny_gt(1), [], spec=MPII16)


# ------------------------------------------------------------- randomised agreement
def _random_scene(seed: int) -> tuple[dict, list]:
    """Small scenes that stress the rules: crowds, ignored and duplicated ground truth, areas
    around the range bounds, tied scores, crowded images, images without anything."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for i in range(1, int(rng.integers(1, 5)) + 1):
        images.append(dict(id=i * 7, width=400, height=300))
        people = []
        for _ in range(int(rng.integers(0, 6))):
            side = float(rng.choice([20, 31.9, 32, 60, 95.9, 96, 150]))
            x0, y0 = rng.uniform(0, 250, 2)
            kp = np.concatenate([rng.uniform([x0, y0], [x0 + side, y0 + side], (17, 2)),
                                 rng.choice([0, 1, 2], (17, 1), p=[0.3, 0.2, 0.5])], axis=1)
            kp[kp[:, 2] == 0, :2] = 0
            area = side * side * float(rng.choice([1.0, 0.999]))
            ann = dict(id=len(anns) + 1, image_id=i * 7, category_id=1, keypoints=kp.ravel().tolist(),
                       iscrowd=int(rng.random() < 0.15), area=area, bbox=[x0, y0, side, side],
                       num_keypoints=int((kp[:, 2] > 0).sum()))
            if rng.random() < 0.1:
                ann["num_keypoints"] = 0
            anns.append(ann)
            people.append((kp, side))
            if rng.random() < 0.15:  # an exact duplicate annotation: equal OKS ties
                anns.append({**ann, "id": len(anns) + 1})
        n_det = int(rng.integers(0, 30)) if rng.random() < 0.2 else int(rng.integers(0, 6))
        for _ in range(n_det):
            if people and rng.random() < 0.8:
                kp, side = people[int(rng.integers(len(people)))]
                xy = kp[:, :2] + rng.normal(0, side * float(rng.choice([0.01, 0.05, 0.15])), (17, 2))
            else:
                xy = rng.uniform(0, 300, (17, 2))
            d = np.concatenate([xy, rng.random((17, 1))], axis=1)
            score = float(rng.choice([0.3, 0.6, 0.9])) if rng.random() < 0.5 else float(rng.random())
            dets.append(dict(image_id=i * 7, category_id=1, keypoints=d.ravel().tolist(), score=score))
    rng.shuffle(dets)
    gt = dict(images=images, annotations=anns,
              categories=[dict(id=1, name="person", keypoints=list(COCO17.names))])
    return gt, dets


def test_random_scenes_match_pycocotools(coco_oracle):
    checked = 0
    for seed in range(120):
        gt, dt = _random_scene(seed)
        if not dt:
            continue
        ours, ref = coco_eval(gt, dt), coco_oracle(gt, dt)
        bad = {k: (ours[k], ref[k]) for k in COCO_KEYS if abs(ours[k] - ref[k]) > TOL}
        assert not bad, (seed, bad)
        checked += 1
    assert checked > 80


def test_equal_oks_goes_to_the_last_ground_truth(coco_oracle):
    """Two people labelled at the same 10 joints (B also has 7 more): a detection exact on all
    17 has OKS 1 with both, and COCOeval gives it the *last* (B); a second detection, exact on
    the 10 only, then still matches A. The other choice would leave it unmatched."""
    gt = _tiny_gt(1)
    a = gt["annotations"][0]
    kp = np.array(a["keypoints"], dtype=np.float64).reshape(17, 3)
    kp_a = kp.copy()
    kp_a[10:] = 0
    gt["annotations"] = [
        {**a, "id": 1, "keypoints": kp_a.ravel().tolist(), "num_keypoints": 10},
        {**a, "id": 2, "keypoints": kp.ravel().tolist(), "num_keypoints": 17},
    ]
    far = kp.copy()
    far[10:, :2] += 500
    dt = [dict(image_id=1, category_id=1, keypoints=kp.ravel().tolist(), score=0.9),
          dict(image_id=1, category_id=1, keypoints=far.ravel().tolist(), score=0.8)]
    ours = coco_eval(gt, dt)
    assert ours["AR"] == 1.0
    assert_same(ours, coco_oracle(gt, dt))
