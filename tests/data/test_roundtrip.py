"""``posekit data roundtrip``: ground truth -> perfect outputs -> decode/group -> COCO AP, on a
synthetic COCO file and on the real samples (COCO, AIC); the CLI's help and its one-line
error for a bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.cli import main
from posekit.data.formats import read_annotations, write_coco
from posekit.data.records import ImageRecord
from posekit.data.roundtrip import RoundtripSettings, format_roundtrip, roundtrip
from posekit.data.synthetic import render_scene
from posekit.skeleton import COCO17


def _connected(kp: np.ndarray) -> bool:
    """Whether a person's labelled joints are one connected part of the skeleton (a wrist
    whose elbow is outside the image is not: no grouping over limbs can attach it)."""
    lab = set(np.flatnonzero(kp[:, 2] > 0).tolist())
    seen, todo = set(), [min(lab)]
    while todo:
        j = todo.pop()
        if j not in seen:
            seen.add(j)
            todo += [b if a == j else a for a, b in COCO17.limbs if j in (a, b) and (b if a == j else a) in lab]
    return seen == lab


@pytest.fixture(scope="module")
def synthetic_coco(tmp_path_factory):
    """A COCO file of 4 synthetic 640x480 scenes, 2-5 people each, people cut by the border
    kept (v = 0 outside) when their labelled joints stay connected in the skeleton,
    same-type joints >= 16 px apart."""
    records, i = [], 0
    while len(records) < 4:
        _, rec = render_scene(np.random.default_rng([5, i]), size=(640, 480), num_people=(2, 5),
                              height_range=(0.4, 0.7), clutter=0, image_id=i, file_name=f"s{i}.png")
        i += 1
        kp = rec.keypoints.copy()
        inside = (kp[..., 0] >= 0) & (kp[..., 0] <= 639) & (kp[..., 1] >= 0) & (kp[..., 1] <= 479)
        kp[..., 2] = np.where(inside, 2.0, 0.0)
        kp = kp[(kp[..., 2] > 0).sum(axis=1) >= 5]
        ok = all(_connected(p) for p in kp)
        for k in range(17):
            xy = kp[kp[:, k, 2] > 0, k, :2]
            d = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1)) + np.eye(len(xy)) * 1e9
            ok &= len(xy) < 2 or d.min() >= 16
        if ok and len(kp):
            records.append(ImageRecord.create(rec.file_name, 640, 480, kp, COCO17, image_id=rec.image_id))
    path = tmp_path_factory.mktemp("rt") / "synthetic.json"
    write_coco(records, path)
    return path


@pytest.mark.parametrize("codec", ["paf", "ae", "higherhrnet", "heatmap"])
def test_synthetic_coco_file_round_trips(synthetic_coco, codec):
    res = roundtrip(read_annotations(synthetic_coco), RoundtripSettings(codec=codec))
    assert res.people >= 8 and res.images == 4
    assert res.stats["AP"] >= 0.99, res.stats
    assert res.lost.sum() <= 0.01 * res.labelled.sum()
    text = format_roundtrip(res, "x.json")
    assert "COCO  AP" in text and "left_wrist" in text


def test_a_coarse_codec_loses_keypoints_and_says_where(synthetic_coco):
    """The check can fail: stride 32 (a 16x12 grid at input 512) cannot place the joints, and
    the lost keypoints are counted per joint."""
    res = roundtrip(read_annotations(synthetic_coco), RoundtripSettings(codec="paf", stride=32, input=512))
    assert res.stats["AP"] < 0.6
    assert res.lost.sum() > 0.2 * res.labelled.sum()
    assert (res.lost <= res.labelled).all()


@pytest.mark.parametrize("codec", ["paf", "ae", "higherhrnet", "heatmap"])
def test_real_samples_coco_and_aic(shared_data, codec, capsys):
    for name, floor in (("coco/test_coco.json", 0.95), ("aic/test_aic.json", 0.9)):
        path = shared_data / name
        if not path.is_file():
            pytest.skip(f"{path} not found")
        res = roundtrip(read_annotations(path), RoundtripSettings(codec=codec))
        print(f"{name} {codec}: AP {res.stats['AP']:.3f} AR {res.stats['AR']:.3f} "
              f"lost {int(res.lost.sum())}/{int(res.labelled.sum())}")
        assert res.stats["AP"] >= floor, (name, codec, res.stats)
        if codec != "heatmap":         # AIC boxes do not always hold every keypoint: top-down loses some
            assert res.stats["AP"] >= 0.98, (name, codec, res.stats)


def test_cli_prints_ap_and_the_per_joint_table(synthetic_coco, capsys):
    assert main(["data", "roundtrip", str(synthetic_coco), "--codec", "ae", "--input", "384"]) == 0
    out = capsys.readouterr().out
    assert "AECodec" in out and "input_size=(384, 288)" in out
    ap = float(out.split("COCO  AP ")[1].split()[0])
    assert ap >= 0.99
    assert "lost keypoints" in out and "right_ankle" in out


def test_cli_help_and_bad_files(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["data", "roundtrip", "--help"])
    assert e.value.code == 0
    assert "--codec" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["data", "roundtrip", str(bad)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.json" in err[0]
    assert main(["data", "roundtrip", str(tmp_path / "missing.json")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.json" in err[0] and "not found" in err[0]
    # a valid file whose input size the codec refuses: one line naming the file
    good = tmp_path / "one.json"
    write_coco([ImageRecord.create("a.png", 100, 80, np.zeros((0, 17, 3)), COCO17, image_id=1)], good)
    json.loads(good.read_text())
    assert main(["data", "roundtrip", str(good), "--codec", "paf", "--input", "500"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "one.json" in err[0] and "multiple of 32" in err[0]
