"""Every 1-based (MATLAB) source is converted once, in its reader: a joint stored at MATLAB
(1, 1), the centre of the top-left pixel, reads as posekit's (0, 0) whatever the format; files
posekit writes are marked 0-based and read back unchanged."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from posekit.data.formats import (
    detect_format, read_annotations, read_coco, read_flic, read_jhmdb_mat, read_lsp,
    read_mpii_json, read_mpii_mat, write_coco, write_mpii_json,
)
from posekit.skeleton import FLIC11, JHMDB15, LSP14, MPII16

from test_formats import _points, _struct_array, _write_flic, assert_records_equal


def _lsp_file(path: Path, layout: str) -> None:
    """One image: joint 0 at MATLAB (1, 1), joint 1 at (5.5, 7), the others at (20, 30)."""
    xy = np.tile([20.0, 30.0], (14, 1))
    xy[0], xy[1] = [1, 1], [5.5, 7]
    if layout == "lsp":     # 3 x 14 x N, flag 1 = invisible
        joints = np.concatenate([xy, np.zeros((14, 1))], 1).T[:, :, None]
    else:                   # 14 x 3 x N, flag 1 = visible
        joints = np.concatenate([xy, np.ones((14, 1))], 1)[:, :, None]
    scipy.io.savemat(str(path), {"joints": joints})


@pytest.mark.parametrize("layout", ["lsp", "lspet"])
def test_lsp_matlab_origin_reads_as_zero(tmp_path, layout):
    path = tmp_path / "joints.mat"
    _lsp_file(path, layout)
    (r,) = read_lsp(path)
    assert r.spec is LSP14 and r.extra["release"] == layout
    np.testing.assert_array_equal(r.keypoints[0, 0], [0, 0, 2])
    np.testing.assert_array_equal(r.keypoints[0, 1, :2], [4.5, 6])


def test_lsp_and_mpii_agree_on_the_same_point(tmp_path):
    """Mixed MPII + LSP training: the same MATLAB point gives the same record coordinates."""
    lsp = tmp_path / "joints.mat"
    _lsp_file(lsp, "lsp")
    mpii = tmp_path / "m.json"
    joints = [[1.0, 1.0]] * 16
    mpii.write_text(json.dumps([{"image": "a.jpg", "joints": joints, "joints_vis": [1] * 16,
                                 "center": [1, 1], "scale": 1}]))
    a = read_lsp(lsp)[0].keypoints[0, LSP14.index("right_ankle"), :2]
    b = read_mpii_json(mpii)[0].keypoints[0, MPII16.index("right_ankle"), :2]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, [0, 0])


def test_flic_matlab_origin_reads_as_zero(tmp_path):
    path = tmp_path / "examples.mat"
    c = np.full((2, 29), np.nan)
    c[:, 0] = [1, 1]          # left shoulder at MATLAB (1, 1)
    c[:, 16] = [3.5, 2]       # nose
    rows = [{"coords": c, "filepath": "f.jpg", "imgdims": np.array([10.0, 12.0, 3.0]),
             "torsobox": np.array([[1.0, 1.0, 8.0, 9.0]])}]
    scipy.io.savemat(str(path), {"examples": _struct_array(rows, ["coords", "filepath", "imgdims",
                                                                  "torsobox"])})
    (r,) = read_flic(path)
    np.testing.assert_array_equal(r.keypoints[0, FLIC11.index("left_shoulder")], [0, 0, 2])
    np.testing.assert_array_equal(r.keypoints[0, FLIC11.index("nose")], [2.5, 1, 2])
    np.testing.assert_array_equal(r.keypoints[0, FLIC11.index("left_eye")], [0, 0, 0])  # NaN slot
    assert r.extra["torso_box"] == [0.0, 0.0, 7.0, 8.0]


def test_flic_written_as_coco_is_zero_based(tmp_path):
    coords = _write_flic(tmp_path / "examples.mat")
    write_coco(read_flic(tmp_path / "examples.mat"), tmp_path / "flic.json")
    written = json.loads((tmp_path / "flic.json").read_text())
    assert written["info"]["posekit_coordinates"] == "0-based pixel centres"
    assert written["annotations"][0]["keypoints"][:2] == [coords[0, 0, 0] - 1, coords[0, 1, 0] - 1]


def test_mpii_matlab_origin_reads_as_zero(tmp_path):
    path = tmp_path / "m.mat"
    rect = {"x1": 1.0, "y1": 1.0, "x2": 11.0, "y2": 21.0, "scale": 1.0, "objpos": {"x": 1.0, "y": 1.0},
            "annopoints": {"point": _points([(0, 1.0, 1.0, 1), (9, 4.0, 2.0, 1)])}}
    annolist = _struct_array([{"image": {"name": "a.jpg"},
                               "annorect": _struct_array([rect], list(rect))}], ["image", "annorect"])
    scipy.io.savemat(str(path), {"RELEASE": {"annolist": annolist}})
    (r,) = read_mpii_mat(path)
    np.testing.assert_array_equal(r.keypoints[0, 0], [0, 0, 2])
    np.testing.assert_array_equal(r.head_boxes[0], [0, 0, 10, 20])
    np.testing.assert_array_equal(r.centers[0], [0, 0])
    j = tmp_path / "m.json"
    j.write_text(json.dumps([{"image": "a.jpg", "joints": [[1, 1]] * 16, "joints_vis": [1] * 16,
                              "center": [1, 1], "scale": 1}]))
    np.testing.assert_array_equal(read_mpii_json(j)[0].keypoints[0, :, :2], 0)


# ----------------------------------------------------------------------------- J-HMDB
def _jhmdb_tree(root: Path, frames: int = 3) -> tuple[Path, np.ndarray]:
    """``root/joint_positions/catch/clipA/joint_positions.mat`` and its frames under
    ``root/Rename_Images/catch/clipA``; joint 0 (neck) of frame 1 at MATLAB (1, 1)."""
    rng = np.random.default_rng(0)
    pos = rng.uniform(5, 60, (2, 15, frames)).round(3)
    pos[:, 0, 0] = [1, 1]
    mat = root / "joint_positions" / "catch" / "clipA" / "joint_positions.mat"
    mat.parent.mkdir(parents=True)
    scipy.io.savemat(str(mat), {"pos_img": pos, "pos_world": pos / 100,
                                "scale": np.linspace(1, 2, frames)[None], "viewpoint": "E"})
    frames_dir = root / "Rename_Images" / "catch" / "clipA"
    frames_dir.mkdir(parents=True)
    for t in range(frames):
        cv2.imwrite(str(frames_dir / f"{t + 1:05d}.png"), np.zeros((240, 320, 3), np.uint8))
    return mat, pos


def test_jhmdb_mat_reader(tmp_path):
    mat, pos = _jhmdb_tree(tmp_path)
    assert detect_format(mat) == "jhmdb"
    recs = read_annotations(mat)
    assert len(recs) == 3 and all(r.spec is JHMDB15 and r.num_people == 1 for r in recs)
    assert [r.file_name for r in recs] == ["clipA/00001.png", "clipA/00002.png", "clipA/00003.png"]
    assert (recs[0].width, recs[0].height) == (320, 240)      # from Rename_Images/catch/clipA
    np.testing.assert_array_equal(recs[0].keypoints[0, 0], [0, 0, 2])
    np.testing.assert_allclose(recs[2].keypoints[0, :, :2], pos[:, :, 2].T - 1, rtol=1e-6)
    assert (np.concatenate([r.keypoints[0, :, 2] for r in recs]) == 2).all()
    assert recs[1].extra == {"frame": 2, "scale": 1.5, "viewpoint": "E"}
    # written as COCO (marked 0-based) and read back: no second shift
    write_coco(recs, tmp_path / "jhmdb.json")
    again = read_annotations(tmp_path / "jhmdb.json")
    assert again[0].spec is JHMDB15
    assert_records_equal(recs, again)


def test_jhmdb_mat_errors_and_estimated_sizes(tmp_path):
    bad = tmp_path / "joint_positions.mat"
    scipy.io.savemat(str(bad), {"pos_img": np.zeros((2, 14, 3))})
    with pytest.raises(Exception, match=r"2 x 15 x T"):
        read_jhmdb_mat(bad)
    scipy.io.savemat(str(bad), {"pos_img": np.full((2, 15, 1), 7.0)})
    (r,) = read_jhmdb_mat(bad)                      # no frames folder: size estimated
    assert r.extra["size_estimated"] is True and r.file_name == f"{tmp_path.name}/00001.png"


def test_jhmdb_coco_style_sample_is_one_based(shared_data, tmp_path):
    """MMPose's COCO-style J-HMDB file holds J-HMDB's 1-based values; MMPose's loaders subtract
    1 (keypoints and box); posekit's reader does the same, once."""
    path = shared_data / "jhmdb" / "test_jhmdb_sub1.json"
    raw = json.loads(path.read_text())
    recs = read_coco(path)
    ann = raw["annotations"][0]
    r0 = next(r for r in recs if r.image_id == ann["image_id"])
    kp = np.float32(ann["keypoints"]).reshape(15, 3)
    np.testing.assert_allclose(r0.keypoints[0, :, :2], kp[:, :2] - 1, atol=1e-5)
    x, y, w, h = ann["bbox"]
    np.testing.assert_allclose(r0.boxes[0], [x - 1, y - 1, x - 1 + w, y - 1 + h])
    # the override, and the round trip through posekit's own (0-based) COCO output
    np.testing.assert_allclose(read_coco(path, one_based=False)[0].keypoints[0, :, :2], kp[:, :2])
    write_coco(recs, tmp_path / "j.json")
    assert_records_equal(recs, read_coco(tmp_path / "j.json"))


def test_jhmdb_coco_style_origin_and_unlabelled(tmp_path):
    kp = [20.0, 30.0, 2.0] * 15
    kp[0:3] = [1.0, 1.0, 2.0]          # neck at MATLAB (1, 1)
    kp[3:6] = [0.0, 0.0, 0.0]          # belly unlabelled: stays (0, 0, 0)
    d = {"images": [{"id": 1, "file_name": "c/00001.png", "width": 320, "height": 240}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": kp,
                          "bbox": [1, 1, 10, 20]}],
         "categories": [{"id": 1, "name": "person", "keypoints": list(JHMDB15.names)}]}
    p = tmp_path / "j.json"
    p.write_text(json.dumps(d))
    (r,) = read_coco(p)
    np.testing.assert_array_equal(r.keypoints[0, :2], [[0, 0, 2], [0, 0, 0]])
    np.testing.assert_array_equal(r.boxes[0], [0, 0, 10, 20])


# ------------------------------------------------------------------ MPII JSON head boxes
def test_mpii_json_head_box_field_round_trip(tmp_path):
    e = {"image": "a.jpg", "joints": [[10.0 + k, 20.0] for k in range(16)], "joints_vis": [1] * 16,
         "center": [15, 30], "scale": 0.5}
    path = tmp_path / "m.json"
    path.write_text(json.dumps([dict(e, head_box=[1, 1, 31, 41]), dict(e, image="b.jpg")]))
    a, b = read_mpii_json(path)
    np.testing.assert_array_equal(a.head_boxes, [[0, 0, 30, 40]])         # 1-based -> 0-based
    assert "head_boxes_estimated" not in a.extra and b.extra["head_boxes_estimated"] is True
    write_mpii_json([a, b], tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())
    assert out[0]["head_box"] == [1, 1, 31, 41] and "head_box" not in out[1]
    assert_records_equal([a, b], read_mpii_json(tmp_path / "out.json"))
    # entries without center / scale are read as unknown (scale 0, centre 0)
    path.write_text(json.dumps([{k: v for k, v in e.items() if k not in ("center", "scale")}]))
    (r,) = read_mpii_json(path)
    assert r.scales[0] == 0 and (r.centers[0] == 0).all()


def test_read_images_false_estimates_sizes_quietly(shared_data, caplog):
    with caplog.at_level(logging.WARNING):
        recs = read_annotations(shared_data / "mpii" / "test_mpii.json", read_images=False)
    assert all(r.extra["size_estimated"] for r in recs) and not caplog.records
    assert "size_estimated" not in read_annotations(shared_data / "mpii" / "test_mpii.json")[0].extra
