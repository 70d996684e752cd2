"""Readers and writers of posekit.data.formats: real samples (../shared/data) and small files
built here in the documented layouts of the official releases (scipy.io.savemat)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from posekit.data.formats import (
    detect_format, parse_coco, parse_coco_results, read_annotations, read_coco,
    read_coco_ground_truth, read_coco_results, read_flic, read_lsp, read_mpii_json, read_mpii_mat,
    write_coco, write_mpii_json,
)
from posekit.data.formats._common import image_size
from posekit.data.formats.flic import FLIC_SLOTS
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.skeleton import AIC14, COCO17, FLIC11, JHMDB15, LSP14, MPII16


def assert_records_equal(a: list[ImageRecord], b: list[ImageRecord]) -> None:
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        for f in ("file_name", "width", "height", "spec", "image_id", "extra"):
            assert getattr(x, f) == getattr(y, f), (i, f)
        for f in ("keypoints", "boxes", "areas", "crowd", "head_boxes", "scales", "centers", "ann_ids"):
            u, v = getattr(x, f), getattr(y, f)
            assert (u is None) == (v is None), (i, f)
            if u is not None:
                assert u.dtype == v.dtype and u.shape == v.shape, (i, f)
                np.testing.assert_array_equal(u, v, err_msg=f"record {i} field {f}")


def expect_error(fn, *needles: str) -> DataError:
    with pytest.raises(DataError) as ei:
        fn()
    msg = str(ei.value)
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    return ei.value


# --------------------------------------------------------------------------- COCO


def test_coco_sample_counts_boxes_and_round_trip(shared_data, tmp_path):
    path = shared_data / "coco" / "test_coco.json"
    recs = read_coco(path)
    assert len(recs) == 4 and sum(r.num_people for r in recs) == 14
    assert all(r.spec is COCO17 for r in recs)
    raw = json.loads(path.read_text())
    first = raw["annotations"][0]
    r0 = next(r for r in recs if r.image_id == first["image_id"])
    p = list(r0.ann_ids).index(first["id"])
    x, y, w, h = first["bbox"]
    np.testing.assert_allclose(r0.boxes[p], [x, y, x + w, y + h], rtol=1e-6)
    assert r0.areas[p] == np.float32(first["area"])
    np.testing.assert_array_equal(r0.keypoints[p].ravel(), np.float32(first["keypoints"]))
    # unlabelled keypoints (v = 0) and people with no labelled keypoint are kept
    assert any((r.keypoints[:, :, 2] == 0).any() for r in recs)
    assert sum(int((r.keypoints[:, :, 2] > 0).sum(1).min() == 0) for r in recs if r.num_people) >= 1
    assert r0.extra["segmentation"][p] == first["segmentation"]

    out = tmp_path / "coco.json"
    write_coco(recs, out)
    assert_records_equal(recs, read_coco(out))
    # the written file is valid COCO for pycocotools
    from pycocotools.coco import COCO

    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(out))
    assert len(gt.getImgIds()) == 4 and len(gt.getAnnIds()) == 14
    assert gt.loadCats(1)[0]["keypoints"] == list(COCO17.names)


def _coco_dict(anns, images=None):
    images = images or [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
                        {"id": 2, "file_name": "empty.jpg", "width": 50, "height": 40}]
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.names),
                            "skeleton": []}]}


def test_coco_crowd_area_unlabelled_and_empty_images(tmp_path):
    kp = [0] * 51
    kp[0:3] = [10, 20, 2]     # nose visible
    kp[15:18] = [30, 40, 1]   # left shoulder occluded
    anns = [
        {"id": 7, "image_id": 1, "category_id": 1, "keypoints": kp, "bbox": [5, 6, 30, 40],
         "area": 123.5, "iscrowd": 0, "num_keypoints": 2},
        {"id": 8, "image_id": 1, "category_id": 1, "keypoints": [0] * 51, "bbox": [50, 10, 40, 60],
         "area": 2000, "iscrowd": 1, "num_keypoints": 0, "segmentation": {"counts": "abc", "size": [80, 100]}},
        {"id": 9, "image_id": 1, "category_id": 1, "keypoints": kp},  # no bbox, no area
    ]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_coco_dict(anns)))
    a, empty = read_coco(path)
    assert empty.num_people == 0 and empty.keypoints.shape == (0, 17, 3) and empty.boxes.shape == (0, 4)
    assert a.num_people == 3
    np.testing.assert_array_equal(a.crowd, [False, True, False])
    np.testing.assert_array_equal(a.boxes[0], [5, 6, 35, 46])
    np.testing.assert_array_equal(a.boxes[2], [10, 20, 30, 40])      # tight box of labelled points
    np.testing.assert_allclose(a.areas, [123.5, 2000, 400])          # missing area -> box area
    np.testing.assert_array_equal(a.keypoints[0, [0, 5, 1], 2], [2, 1, 0])
    np.testing.assert_array_equal(a.ann_ids, [7, 8, 9])
    assert a.extra["segmentation"] == [None, {"counts": "abc", "size": [80, 100]}, None]
    out = tmp_path / "w.json"
    write_coco([a, empty], out)
    assert_records_equal([a, empty], read_coco(out))
    written = json.loads(out.read_text())
    assert [x["num_keypoints"] for x in written["annotations"]] == [2, 0, 2]
    assert written["annotations"][1]["iscrowd"] == 1
    assert written["annotations"][0]["bbox"] == [5, 6, 30, 40]


def test_coco_style_aic_and_jhmdb_specs_found_from_names(shared_data, tmp_path):
    aic = read_coco(shared_data / "aic" / "test_aic.json")
    assert len(aic) == 3 and sum(r.num_people for r in aic) == 9 and aic[0].spec is AIC14
    out = tmp_path / "aic.json"
    write_coco(aic, out)
    assert_records_equal(aic, read_annotations(out))
    jh = read_annotations(shared_data / "jhmdb" / "test_jhmdb_sub1.json")
    assert jh[0].spec is JHMDB15  # "head" is an alias of head_top


def test_coco_results_list(shared_data):
    res = read_coco_results(shared_data / "coco" / "test_coco_det_AP_H_56.json")
    assert len(res) == 118
    raw = json.loads((shared_data / "coco" / "test_coco_det_AP_H_56.json").read_text())[0]
    x, y, w, h = raw["bbox"]
    np.testing.assert_allclose(res[0].box, [x, y, x + w, y + h], rtol=1e-6)
    assert res[0].image_id == raw["image_id"] and res[0].keypoints is None
    assert detect_format(shared_data / "coco" / "test_coco_det_AP_H_56.json") == "coco_results"


def test_coco_ground_truth_arrays_keep_the_file(shared_data):
    """The one parse keeps what COCO's evaluation reads, as in the file (float64, xywh, the
    file's num_keypoints); the records are made from it."""
    path = shared_data / "coco" / "test_coco.json"
    raw = json.loads(path.read_text())
    gt = read_coco_ground_truth(path)
    assert gt.spec is COCO17 and gt.category_id == 1 and gt.num_images == 4 and gt.num_people == 14
    assert gt.image_ids.tolist() == [im["id"] for im in raw["images"]]
    anns = raw["annotations"]
    assert gt.boxes_xywh.tolist() == [a["bbox"] for a in anns]               # exact, float64
    assert gt.areas.tolist() == [a["area"] for a in anns]
    assert gt.num_keypoints.tolist() == [a["num_keypoints"] for a in anns]
    assert gt.ann_ids.tolist() == [a["id"] for a in anns]
    np.testing.assert_array_equal(gt.keypoints.reshape(len(anns), -1), [a["keypoints"] for a in anns])
    assert [gt.image_ids[i] for i in gt.image_index] == [a["image_id"] for a in anns]
    assert_records_equal(gt.to_records(), read_coco(path))


def test_coco_parse_fields_categories_and_errors():
    kp = [10, 20, 2] * 17
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": kp, "bbox": [1.25, 2, 3, 4],
             "area": 7.5, "num_keypoints": 0, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "keypoints": [1, 2]},      # another category
            {"id": 3, "image_id": 2, "keypoints": kp}]                            # no category: kept
    d = _coco_dict(anns)
    d["categories"].append({"id": 2, "name": "dog"})
    gt = parse_coco(d)
    assert gt.ann_ids.tolist() == [1, 3] and gt.image_index.tolist() == [0, 1]
    assert gt.num_keypoints.tolist() == [0, 17]          # the file's 0 kept (COCO ignores it)
    assert gt.boxes_xywh[0].tolist() == [1.25, 2, 3, 4] and gt.areas[0] == 7.5
    assert gt.boxes_xywh[1].tolist() == [10, 20, 0, 0] and gt.areas[1] == 0   # tight box
    bad_images = ((([{"id": 1}, {"id": 1}]), "images[1]", "duplicate image id 1"),
                  (([{"id": 1.5}]), "images[0]", "image id must be an integer"),
                  (([{"file_name": "a.jpg"}]), "images[0]", "missing field 'id'"),
                  (([1]), "images[0]", "not an object"))
    for images, where, needle in bad_images:
        expect_error(lambda: parse_coco(_coco_dict([], images), "f.json"), f"f.json[{where}]", needle)
    for change, needle in ((dict(num_keypoints=2.5), "num_keypoints must be an integer"),
                           (dict(area="big"), "area must be a finite number"),
                           (dict(bbox=[0, 0, -1, 2]), "w, h >= 0"),
                           (dict(keypoints="x" * 51), "keypoints must be a list of 51 numbers, got str"),
                           (dict(id="seven"), "annotation id must be an integer")):
        bad = [dict(anns[0], **change)]
        expect_error(lambda: parse_coco(_coco_dict(bad), "f.json"), "f.json[annotations[0]]", needle)


def test_coco_results_first_entry_decides_and_errors(tmp_path):
    kp = [1.0, 2.0, 0.5] * 17
    res = parse_coco_results([{"image_id": 1, "score": 0.9, "keypoints": kp, "bbox": [0, 0, 2, 3]},
                              {"image_id": 2, "category_id": 1, "score": 0.5, "keypoints": kp,
                               "bbox": [1, 1, 1, 1]}])
    assert res.keypoints.shape == (2, 17, 3) and res.boxes_xywh.tolist() == [[0, 0, 2, 3], [1, 1, 1, 1]]
    assert res.category_ids.tolist() == [1, 1] and res.scores.tolist() == [0.9, 0.5]
    e = res.to_list()[0]
    assert e.box.tolist() == [0, 0, 2, 3] and e.keypoints.dtype == np.float32
    boxes_only = parse_coco_results([{"image_id": 1, "score": 1}, {"image_id": 1, "score": 1, "keypoints": kp}])
    assert boxes_only.keypoints is None and boxes_only.boxes_xywh is None
    for bad, needle in (([{"image_id": 1, "score": 1, "keypoints": kp}, {"image_id": 1, "score": 1}],
                         "[1]: result has no 'keypoints'"),
                        ([{"image_id": 1, "score": float("inf")}], "[0]: score must be a finite number"),
                        ([{"image_id": "a", "score": 1}], "[0]: image_id must be an integer"),
                        ([{"image_id": 1, "score": 1, "keypoints": kp[:50]}], "expected a multiple of 3"),
                        ({"image_id": 1}, "expected a JSON list")):
        expect_error(lambda: parse_coco_results(bad, "r.json"), "r.json", needle)
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"image_id": 1, "score": 1, "keypoints": kp}]))
    expect_error(lambda: read_coco_results(path, num_keypoints=14), f"{path}[0]", "51 values, expected 42")


# --------------------------------------------------------------------------- MPII JSON


def test_mpii_json_sample_conventions_and_round_trips(shared_data, tmp_path):
    path = shared_data / "mpii" / "test_mpii.json"
    raw = json.loads(path.read_text())
    recs = read_mpii_json(path)
    assert len(recs) == 5 and all(r.num_people == 1 and r.spec is MPII16 for r in recs)
    r, e = recs[0], raw[0]
    assert (r.width, r.height) == (1280, 720) and "size_estimated" not in r.extra  # from the jpg header
    # 1-based MATLAB -> 0-based; scale * 200 = person height in px
    np.testing.assert_allclose(r.keypoints[0, :, :2], np.float32(e["joints"]) - 1, atol=1e-4)
    np.testing.assert_allclose(r.scales, [e["scale"] * 200], rtol=1e-6)
    np.testing.assert_allclose(r.centers[0], np.float32(e["center"]) - 1)
    # unlabelled joints: (x, y, v) = 0, never (-1, -1) - 1
    r3 = recs[2]
    assert raw[2]["joints_vis"][0] == 0
    np.testing.assert_array_equal(r3.keypoints[0, [0, 5]], 0)
    # estimated head box: square on the neck/top midpoint with 0.6 * diagonal = neck-top distance
    for rec in recs:
        hb, kp = rec.head_boxes[0], rec.keypoints[0]
        seg = np.linalg.norm(kp[8, :2] - kp[9, :2])
        np.testing.assert_allclose(0.6 * np.hypot(hb[2] - hb[0], hb[3] - hb[1]), seg, rtol=1e-5)
        np.testing.assert_allclose((hb[:2] + hb[2:]) / 2, (kp[8, :2] + kp[9, :2]) / 2, atol=1e-3)
        assert rec.extra["head_boxes_estimated"] is True
    # read -> COCO -> read, and read -> MPII JSON -> read
    write_coco(recs, tmp_path / "mpii_coco.json")
    assert_records_equal(recs, read_annotations(tmp_path / "mpii_coco.json"))
    write_mpii_json(recs, tmp_path / "mpii.json")
    again = read_mpii_json(tmp_path / "mpii.json", image_dir=shared_data / "mpii")
    assert_records_equal(recs, again)
    back = json.loads((tmp_path / "mpii.json").read_text())
    assert back[2]["joints"][0] == [-1, -1] and back[2]["joints_vis"] == raw[2]["joints_vis"]
    np.testing.assert_allclose(back[0]["scale"], raw[0]["scale"], rtol=1e-6)


def test_mpii_json_groups_people_by_image_and_estimates_size(tmp_path):
    j = [[10.0 + k, 20.0 + 2 * k] for k in range(16)]
    entries = [{"image": "a.jpg", "joints": j, "joints_vis": [1] * 16, "center": [15, 30], "scale": 0.5},
               {"image": "b.jpg", "joints": j, "joints_vis": [1] * 16, "center": [15, 30], "scale": 0.5},
               {"image": "a.jpg", "joints": j, "joints_vis": [0] * 8 + [1] * 8, "center": [-1, -1], "scale": -1}]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(entries))
    a, b = read_mpii_json(path)   # no images anywhere: sizes estimated
    assert a.num_people == 2 and b.num_people == 1 and list(a.ann_ids) == [1, 3]
    assert a.extra["size_estimated"] is True and (a.width, a.height) == (25, 50)  # ceil(max+1) of 0-based pts
    np.testing.assert_array_equal(a.scales, [100, 0])


# --------------------------------------------------------------------------- MPII .mat


def _struct_array(rows: list[dict], fields: list[str]) -> np.ndarray:
    arr = np.zeros((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for f in fields:
            arr[0, i][f] = row.get(f, np.zeros((0, 0)))
    return arr


def _points(pts: list[tuple[int, float, float, int | None]]) -> np.ndarray:
    rows = [{"id": i, "x": x, "y": y, "is_visible": np.zeros((0, 0)) if v is None else v} for i, x, y, v in pts]
    return _struct_array(rows, ["id", "x", "y", "is_visible"])


def _write_mpii_mat(path: Path) -> None:
    rect_fields = ["x1", "y1", "x2", "y2", "annopoints", "scale", "objpos"]
    person0 = {"x1": 101.0, "y1": 51.0, "x2": 141.0, "y2": 91.0, "scale": 1.5,
               "objpos": {"x": 121.0, "y": 201.0},
               "annopoints": {"point": _points([(0, 11.0, 301.0, 1), (9, 121.0, 52.0, 1),
                                                (8, 121.0, 90.0, 0), (13, 150.0, 120.0, None)])}}
    person1 = {"x1": 301.0, "y1": 41.0, "x2": 331.0, "y2": 81.0, "scale": 1.2,
               "objpos": {"x": 311.0, "y": 181.0},
               "annopoints": {"point": _points([(6, 310.0, 200.0, 1)])}}   # one point: squeezed
    test_person = {"scale": 2.0, "objpos": {"x": 51.0, "y": 61.0}}       # test image: no points
    annolist = _struct_array([
        {"image": {"name": "img1.jpg"}, "annorect": _struct_array([person0, person1], rect_fields)},
        {"image": {"name": "img2.jpg"}, "annorect": _struct_array([test_person], rect_fields)},
        {"image": {"name": "img3.jpg"}, "annorect": np.zeros((0, 0))},  # no people
    ], ["image", "annorect", "frame_sec", "vididx"])
    single = np.empty((3, 1), dtype=object)
    single[0, 0], single[1, 0], single[2, 0] = np.array([[1], [2]]), np.array([[1]]), np.zeros((0, 0))
    act = _struct_array([{"act_name": "curling", "cat_name": "sports", "act_id": 5},
                         {"act_name": np.zeros((0, 0)), "cat_name": np.zeros((0, 0)), "act_id": -1},
                         {"act_name": "x", "cat_name": "y", "act_id": 2}], ["act_name", "cat_name", "act_id"]).T
    release = {"annolist": annolist, "img_train": np.array([[1, 0, 1]]), "single_person": single,
               "act": act, "version": "12"}
    scipy.io.savemat(str(path), {"RELEASE": release})


def test_mpii_mat_release_layout(tmp_path):
    path = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    _write_mpii_mat(path)
    assert detect_format(path) == "mpii"
    imgs = tmp_path / "images"
    imgs.mkdir()
    cv2.imwrite(str(imgs / "img1.jpg"), np.zeros((480, 640, 3), np.uint8))
    cv2.imwrite(str(imgs / "img2.jpg"), np.zeros((200, 300, 3), np.uint8))
    cv2.imwrite(str(imgs / "img3.jpg"), np.zeros((100, 120, 3), np.uint8))
    r1, r2, r3 = read_mpii_mat(path)
    assert (r1.width, r1.height, r3.width) == (640, 480, 120)
    assert r1.num_people == 2 and r2.num_people == 1 and r3.num_people == 0
    k = r1.keypoints[0]
    np.testing.assert_array_equal(k[0], [10, 300, 2])        # 1-based -> 0-based, visible
    np.testing.assert_array_equal(k[9], [120, 51, 2])
    np.testing.assert_array_equal(k[8], [120, 89, 1])        # is_visible 0 -> occluded
    np.testing.assert_array_equal(k[13], [149, 119, 2])      # is_visible missing -> visible
    np.testing.assert_array_equal(k[[1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 14, 15]], 0)  # absent -> unlabelled
    np.testing.assert_array_equal(r1.keypoints[1, 6], [309, 199, 2])
    np.testing.assert_array_equal(r1.head_boxes, [[100, 50, 140, 90], [300, 40, 330, 80]])
    np.testing.assert_allclose(r1.scales, [300, 240])
    np.testing.assert_array_equal(r1.centers, [[120, 200], [310, 180]])
    np.testing.assert_array_equal(r2.keypoints, 0)
    np.testing.assert_array_equal(r2.head_boxes, 0)           # no head box -> zeros
    np.testing.assert_array_equal(r2.centers, [[50, 60]])
    assert r1.extra == {"is_train": True, "single_person": [0, 1],
                        "activity": {"act_name": "curling", "cat_name": "sports", "act_id": 5}}
    assert r2.extra["is_train"] is False and r2.extra["single_person"] == [0]
    assert r3.extra["single_person"] == []
    # -> COCO -> read again: head boxes, scales, centres and extra survive
    write_coco([r1, r2, r3], tmp_path / "out.json")
    assert_records_equal([r1, r2, r3], read_coco(tmp_path / "out.json"))


def test_mpii_mat_bad_layout_and_missing_image(tmp_path):
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(str(bad), {"annolist": np.zeros(3)})
    expect_error(lambda: read_mpii_mat(bad), str(bad), "RELEASE")
    path = tmp_path / "m.mat"
    _write_mpii_mat(path)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    cv2.imwrite(str(imgs / "img1.jpg"), np.zeros((48, 64, 3), np.uint8))
    e = expect_error(lambda: read_mpii_mat(path, image_dir=imgs), str(path), "img2.jpg", "not found")
    assert e.index == 1


# --------------------------------------------------------------------------- LSP


def _lsp_points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(5, 90, size=(n, 14, 2)).round(2)


def test_lsp_original_layout_invisible_flag(tmp_path):
    xy = _lsp_points(3, 0)
    invisible = np.zeros((3, 14))
    invisible[0, [2, 5]] = 1
    joints = np.concatenate([xy, invisible[..., None]], -1).transpose(2, 1, 0)   # 3 x 14 x N
    assert joints.shape == (3, 14, 3)
    path = tmp_path / "joints.mat"
    scipy.io.savemat(str(path), {"joints": joints})
    (tmp_path / "images").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "images" / f"im{i + 1:04d}.jpg"), np.zeros((100 + i, 120, 3), np.uint8))
    assert detect_format(path) == "lsp"
    recs = read_lsp(path)
    assert [r.file_name for r in recs] == ["im0001.jpg", "im0002.jpg", "im0003.jpg"]
    assert [(r.width, r.height) for r in recs] == [(120, 100), (120, 101), (120, 102)]
    assert recs[0].spec is LSP14 and recs[0].extra == {"release": "lsp"}
    np.testing.assert_allclose(recs[1].keypoints[0, :, :2], xy[1] - 1, rtol=1e-6)   # 1-based
    v = recs[0].keypoints[0, :, 2]
    assert v[2] == 1 and v[5] == 1 and (np.delete(v, [2, 5]) == 2).all()   # 1 = invisible -> occluded
    assert (recs[1].keypoints[0, :, 2] == 2).all()


def test_lsp_extended_layout_visible_flag(tmp_path):
    xy = _lsp_points(4, 1)
    visible = np.ones((4, 14))
    visible[3, [0, 13]] = 0
    joints = np.concatenate([xy, visible[..., None]], -1).transpose(1, 2, 0)     # 14 x 3 x N
    path = tmp_path / "joints.mat"
    scipy.io.savemat(str(path), {"joints": joints})
    recs = read_annotations(path)   # no image folder -> sizes estimated
    assert len(recs) == 4 and recs[0].file_name == "im00001.jpg"
    assert recs[0].extra == {"release": "lspet", "size_estimated": True}
    np.testing.assert_allclose(recs[3].keypoints[0, :, :2], xy[3] - 1, rtol=1e-6)   # 1-based
    v = recs[3].keypoints[0, :, 2]
    assert v[0] == 1 and v[13] == 1 and (v[1:13] == 2).all()                   # 1 = visible
    assert recs[0].width == math.ceil(xy[0, :, 0].max())      # ceil(max + 1) of 0-based points
    write_coco(recs, tmp_path / "lspet.json")
    assert_records_equal(recs, read_annotations(tmp_path / "lspet.json"))


def test_lsp_bad_layout_nan_and_flags(tmp_path):
    path = tmp_path / "joints.mat"
    scipy.io.savemat(str(path), {"joints": np.zeros((2, 14, 5))})
    expect_error(lambda: read_lsp(path), str(path), "shape (2, 14, 5)", "3x14xN")
    j = np.zeros((3, 14, 4))
    j[0, 3, 2] = np.nan
    scipy.io.savemat(str(path), {"joints": j})
    e = expect_error(lambda: read_lsp(path), f"{path}[2]", "joint 3 (left_hip)", "NaN")
    assert e.index == 2
    j = np.zeros((14, 3, 2))
    j[0, 2, 1] = 7
    scipy.io.savemat(str(path), {"joints": j})
    expect_error(lambda: read_lsp(path), f"{path}[1]", "visibility flags")
    other = tmp_path / "other.mat"
    scipy.io.savemat(str(other), {"foo": np.zeros(3)})
    expect_error(lambda: read_lsp(other), "no 'joints'")
    expect_error(lambda: detect_format(other), str(other), "unknown layout")


# --------------------------------------------------------------------------- FLIC


def _write_flic(path: Path, coords_shape=(2, 29)) -> np.ndarray:
    rows, coords_all = [], []
    for i in range(2):
        c = np.full(coords_shape, np.nan)
        if coords_shape == (2, 29):
            for s in FLIC_SLOTS:
                c[:, s] = [100 * i + s + 0.5, 200 + s]
            if i == 1:
                c[:, 16] = np.nan   # nose not labelled
        coords_all.append(c)
        rows.append({"coords": c, "filepath": f"movie-{i:05d}.jpg", "imgdims": np.array([480.0, 720.0, 3.0]),
                     "torsobox": np.array([[10.0, 20.0, 30.0, 40.0]]), "istrain": i == 0, "istest": i == 1,
                     "moviename": "m", "currframe": float(i)})
    arr = _struct_array(rows, ["coords", "filepath", "imgdims", "torsobox", "istrain", "istest",
                               "moviename", "currframe"])
    scipy.io.savemat(str(path), {"examples": arr})
    return np.stack(coords_all)


def test_flic_examples_mat(tmp_path):
    path = tmp_path / "examples.mat"
    coords = _write_flic(path)
    assert detect_format(path) == "flic"
    a, b = read_annotations(path)
    assert a.spec is FLIC11 and (a.width, a.height) == (720, 480) and a.file_name == "movie-00000.jpg"
    # slot mapping: FLIC11 joint k comes from coords column FLIC_SLOTS[k]
    np.testing.assert_allclose(a.keypoints[0, :, 0], coords[0, 0, FLIC_SLOTS] - 1)   # 1-based
    assert a.keypoints[0, FLIC11.index("right_hip"), 1] == 208      # slot 9: 209 - 1
    assert a.keypoints[0, FLIC11.index("nose"), 1] == 215           # slot 16: 216 - 1
    np.testing.assert_array_equal(b.keypoints[0, FLIC11.index("nose")], 0)   # NaN -> unlabelled
    assert (a.keypoints[0, :, 2] == 2).all()
    assert a.extra == {"torso_box": [9.0, 19.0, 29.0, 39.0], "is_train": True, "is_test": False}
    write_coco([a, b], tmp_path / "flic.json")
    assert_records_equal([a, b], read_annotations(tmp_path / "flic.json"))


def test_flic_wrong_layout_and_inf(tmp_path):
    path = tmp_path / "examples.mat"
    _write_flic(path, coords_shape=(2, 14))
    expect_error(lambda: read_flic(path), f"{path}[0]", "coords has shape (2, 14)")
    rows = [{"coords": np.full((2, 29), np.inf), "filepath": "x.jpg", "imgdims": np.array([4.0, 5.0, 3.0])}]
    scipy.io.savemat(str(path), {"examples": _struct_array(rows, ["coords", "filepath", "imgdims"])})
    expect_error(lambda: read_flic(path), f"{path}[0]", "infinite")


# --------------------------------------------------------------------------- AI Challenger raw


def test_aic_raw_visibility_order_and_sizes(tmp_path):
    def person(seed, vis):
        rng = np.random.default_rng(seed)
        kp = []
        for k in range(14):
            x, y = rng.integers(10, 90, 2)
            v = vis[k]
            kp += [0, 0, 3] if v == 3 else [int(x), int(y), v]
        return kp
    vis_a = [1] * 10 + [2, 2, 3, 3]
    entries = [{"image_id": "abc", "url": "u",
                "keypoint_annotations": {"human2": person(1, vis_a), "human10": person(2, [1] * 14),
                                         "human1": person(3, [2] * 14)},
                "human_annotations": {"human1": [5, 6, 50, 60], "human2": [50, 60, 5, 6],
                                      "human10": [1, 2, 3, 4]}},
               {"image_id": "def", "keypoint_annotations": {}, "human_annotations": {}}]
    path = tmp_path / "aic_raw.json"
    path.write_text(json.dumps(entries))
    cv2.imwrite(str(tmp_path / "abc.jpg"), np.zeros((77, 99, 3), np.uint8))
    assert detect_format(path) == "aic"
    a, b = read_annotations(path)
    assert a.spec is AIC14 and a.file_name == "abc.jpg" and (a.width, a.height) == (99, 77)
    assert b.num_people == 0 and b.extra == {"size_estimated": True}
    np.testing.assert_array_equal(a.keypoints[0, :, 2], [1] * 14)   # human1: AIC 2 -> 1
    np.testing.assert_array_equal(a.keypoints[1, :, 2], [2] * 10 + [1, 1, 0, 0])     # human2
    np.testing.assert_array_equal(a.keypoints[2, :, 2], [2] * 14)                    # human10 last
    np.testing.assert_array_equal(a.keypoints[1, 12:], 0)                            # v=3 -> (0,0,0)
    np.testing.assert_array_equal(a.boxes, [[5, 6, 50, 60], [5, 6, 50, 60], [1, 2, 3, 4]])
    raw_h2 = np.float32(entries[0]["keypoint_annotations"]["human2"]).reshape(14, 3)
    np.testing.assert_array_equal(a.keypoints[1, :12, :2], raw_h2[:12, :2])
    write_coco([a, b], tmp_path / "aic_coco.json")
    assert_records_equal([a, b], read_annotations(tmp_path / "aic_coco.json"))
    bad = [{"image_id": "abc", "keypoint_annotations": {"human1": [1, 2, 4] * 14}}]
    path.write_text(json.dumps(bad))
    expect_error(lambda: read_annotations(path), f"{path}[0]", "human1", "1, 2 or 3")
    bad[0]["keypoint_annotations"]["human1"] = [1, 2, 1] * 13
    path.write_text(json.dumps(bad))
    expect_error(lambda: read_annotations(path), f"{path}[0]", "39 values, expected 42")


# --------------------------------------------------------------------------- bad input


def test_malformed_json_names_file_and_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [1, 2,\n  "annotations": ]}')
    expect_error(lambda: read_annotations(path), str(path), "malformed JSON", "line 2")
    expect_error(lambda: read_coco(path), str(path), "malformed JSON")
    expect_error(lambda: read_annotations(tmp_path / "nope.json"), "nope.json", "not found")


def test_coco_wrong_keypoint_count_nan_inf_and_visibility(tmp_path):
    good = [10, 20, 2] * 17
    path = tmp_path / "bad.json"
    for kp, needle in (([10, 20, 2] * 16, "48 values, expected 51"),
                       (good[:3] + [float("nan"), 1, 2] + good[6:], "NaN or infinite"),
                       (good[:3] + [float("inf"), 1, 2] + good[6:], "NaN or infinite"),
                       ([10, 20, 3] * 17, "visibility must be 0, 1 or 2")):
        anns = [{"id": 1, "image_id": 1, "keypoints": good},
                {"id": 2, "image_id": 1, "keypoints": kp}]
        path.write_text(json.dumps(_coco_dict(anns)))   # json writes NaN / Infinity literals
        e = expect_error(lambda: read_coco(path), f"{path}[annotations[1]]", needle)
        assert e.path == str(path) and e.index == "annotations[1]"
    anns = [{"id": 1, "image_id": 1, "keypoints": good, "bbox": [0, 0, float("nan"), 1]}]
    path.write_text(json.dumps(_coco_dict(anns)))
    expect_error(lambda: read_coco(path), "annotations[0]", "bbox")
    anns = [{"id": 1, "image_id": 99, "keypoints": good}]
    path.write_text(json.dumps(_coco_dict(anns)))
    expect_error(lambda: read_coco(path), "annotations[0]", "unknown image id 99")
    images = [{"id": 1, "file_name": "a.jpg", "height": 3}]
    path.write_text(json.dumps(_coco_dict([], images)))
    expect_error(lambda: read_coco(path), "images[0]", "missing field 'width'")


def test_mpii_json_wrong_count_and_nan(tmp_path):
    path = tmp_path / "m.json"
    e = {"image": "a.jpg", "joints": [[1, 2]] * 16, "joints_vis": [1] * 16, "center": [3, 4], "scale": 1}
    path.write_text(json.dumps([e, dict(e, joints=[[1, 2]] * 14)]))
    expect_error(lambda: read_mpii_json(path), f"{path}[1]", "(14, 2)", "(16, 2)")
    path.write_text(json.dumps([e, e, dict(e, center=[float("inf"), 1])]))
    expect_error(lambda: read_mpii_json(path), f"{path}[2]", "center", "NaN or infinite")


def test_detect_format_rejects_unknown(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps([{"foo": 1}]))
    expect_error(lambda: detect_format(p), str(p), "unknown annotation format")
    p.write_text("[]")
    expect_error(lambda: read_annotations(p), "empty JSON list")
    notmat = tmp_path / "y.mat"
    notmat.write_text("hello")
    expect_error(lambda: read_annotations(notmat), str(notmat), "cannot read .mat")


def test_image_size_headers_match_opencv(tmp_path):
    img = np.zeros((37, 53, 3), np.uint8)
    for ext in (".png", ".jpg"):
        cv2.imwrite(str(tmp_path / f"a{ext}"), img)
        assert image_size(tmp_path / f"a{ext}") == (53, 37)
    cv2.imwrite(str(tmp_path / "p.jpg"), img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert image_size(tmp_path / "p.jpg") == (53, 37)
    assert image_size(tmp_path / "missing.jpg") is None
