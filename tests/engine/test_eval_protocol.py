"""The engine's evaluation protocol pieces: the recipes' instance-score rule, eval.flip_shift,
eval.metric, and build_records on LSP and FLIC (their split)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from posekit.engine.config import apply_overrides
from posekit.engine.data import build_codec, build_records, eval_metric
from posekit.engine.presets import get_preset
from posekit.errors import PosekitError
from posekit.pipelines.topdown import instance_scores, recipe_instance_scores
from posekit.skeleton import FLIC11, LSP14

_spec = importlib.util.spec_from_file_location("_formats_builders", Path(__file__).parents[1] / "data" / "test_formats.py")
_formats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_formats)


def test_recipe_instance_scores_are_box_times_mean_of_confident_keypoints():
    kp = np.array([[0.9, 0.5, 0.1, 0.0], [0.3, 0.3, 0.3, 0.3]])
    box = np.array([0.5, 1.0])
    np.testing.assert_allclose(recipe_instance_scores(box, kp, 0.2), [0.5 * 0.7, 0.3], rtol=1e-6)
    np.testing.assert_allclose(recipe_instance_scores(box, kp, 0.0), [0.5 * 0.375, 0.3], rtol=1e-6)
    assert recipe_instance_scores(np.ones(1), np.full((1, 4), 0.1), 0.2)[0] == 0
    # not the predictor's default rule (sqrt(box) x confident mass)
    assert not np.allclose(instance_scores(box, kp, 0.2), recipe_instance_scores(box, kp, 0.2))


def test_flip_shift_and_metric_of_the_protocol():
    from posekit.engine.evaluate import with_flip_shift
    codec = build_codec(get_preset("synthetic_tiny"))
    assert with_flip_shift(codec, "auto") is codec
    on = with_flip_shift(codec, "on")
    assert on.flip_shift and not codec.flip_shift           # a copy: the training codec is unchanged
    assert with_flip_shift(codec, "off") is codec
    regression = build_codec(apply_overrides(get_preset("synthetic_tiny"), ["model.codec=regression"]))
    with pytest.raises(PosekitError, match="no heatmap"):
        with_flip_shift(regression, "on")
    assert [eval_metric("auto", d) for d in ("coco", "mpii", "lsp", "flic")] == ["coco", "pckh", "pck", "pck"]
    assert eval_metric("pck", "coco") == "pck"


def _lsp_file(path: Path, n: int) -> None:
    """An LSP (original layout, 3 x 14 x N) joints.mat of n images, and the images (blank)."""
    xy = _formats._lsp_points(n, 0)
    joints = np.concatenate([xy, np.zeros((n, 14, 1))], 2).transpose(2, 1, 0)
    scipy.io.savemat(str(path), {"joints": joints})
    jpeg = cv2.imencode(".jpg", np.zeros((100, 100, 3), np.uint8))[1].tobytes()
    for i in range(n):
        (path.parent / f"im{i + 1:04d}.jpg").write_bytes(jpeg)


def test_build_records_reads_lsp_with_its_split(tmp_path):
    _lsp_file(tmp_path / "joints.mat", 1003)
    cfg = apply_overrides(get_preset("deeppose_lsp"), [f"data.root={tmp_path}", f"data.ann={tmp_path / 'joints.mat'}",
                                                       f"data.images={tmp_path}"])
    train, _ = build_records(cfg, "train", LSP14)
    val, images = build_records(cfg, "val", LSP14)
    assert len(train) == 1000 and len(val) == 3               # im0001-im1000 train, the rest test
    assert val[0].file_name == "im1001.jpg" and val[0].spec is LSP14
    assert str(images.root) == str(tmp_path)


def test_build_records_reads_flic_with_its_split(tmp_path):
    _formats._write_flic(tmp_path / "examples.mat")          # record 0 istrain, record 1 istest
    cfg = apply_overrides(get_preset("jain2013_flic"), [f"data.root={tmp_path}", f"data.ann={tmp_path / 'examples.mat'}",
                                                        f"data.images={tmp_path}"])
    (train,), _ = build_records(cfg, "train", FLIC11)
    (val,), _ = build_records(cfg, "val", FLIC11)
    assert (train.file_name, val.file_name) == ("movie-00000.jpg", "movie-00001.jpg")
