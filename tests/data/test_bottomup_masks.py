"""Bottom-up training data (issue 11, item 8): the whole-image transform (single bright pixel,
flip with left/right swap, scale) and the loss mask W(p) of crowd regions and unlabelled
people, placed on the codec's grid through the sample's affine."""

from __future__ import annotations

import numpy as np
import torch

from posekit.codecs.paf import PAFCodec
from posekit.data.datasets import BottomUpDataset, MemoryImages
from posekit.data.records import ImageRecord
from posekit.data.transforms import BottomUpAugConfig, bottomup_transform, ignore_regions
from posekit.geometry import transform_points
from posekit.losses import masked_l2, paf_loss
from posekit.skeleton import COCO17

L_WRIST, R_WRIST = COCO17.names.index("left_wrist"), COCO17.names.index("right_wrist")


def _one_person(xy: tuple[float, float], joint: int) -> np.ndarray:
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, joint] = [*xy, 2]
    return kp


def _brightest(image: np.ndarray) -> np.ndarray:
    y, x = np.unravel_index(np.argmax(image[..., 0].astype(np.int64)), image.shape[:2])
    return np.array([x, y], np.float64)


def test_single_pixel_follows_the_keypoint_through_zoom_and_flip():
    img = np.zeros((80, 100, 3), np.uint8)
    img[30, 70] = 255                                   # (x, y) = (70, 30), the left wrist
    kp = _one_person((70, 30), L_WRIST)
    aug = BottomUpAugConfig(flip_prob=1.0, scale_range=(1.5, 1.5), rotation_deg=0.0, shift=0.0)
    s = bottomup_transform(img, kp, COCO17, 64, np.random.default_rng(0), aug)
    assert s.flipped
    # mirrored: the left wrist's pixel is labelled right wrist now
    assert s.keypoints[0, L_WRIST, 2] == 0 and s.keypoints[0, R_WRIST, 2] == 2
    np.testing.assert_allclose(_brightest(s.image), s.keypoints[0, R_WRIST, :2], atol=0.75)
    # zoom 1.5 of the letterbox (100 px -> 64): keypoints spread 1.5 * 0.64 times the image's
    np.testing.assert_allclose(np.abs(s.affine[0, 0]), 1.5 * 64 / 100, rtol=1e-9)


def test_flipped_sample_is_the_mirror_of_the_plain_one():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    kp = rng.uniform(5, 40, (2, 17, 3)).astype(np.float32)
    kp[..., 2] = 2
    plain = BottomUpAugConfig(flip_prob=0.0, scale_range=(1.2, 1.2), rotation_deg=0.0, shift=0.0)
    flip = BottomUpAugConfig(flip_prob=1.0, scale_range=(1.2, 1.2), rotation_deg=0.0, shift=0.0)
    a = bottomup_transform(img, kp, COCO17, 32, np.random.default_rng(0), plain)
    b = bottomup_transform(img, kp, COCO17, 32, np.random.default_rng(0), flip)
    np.testing.assert_array_equal(b.image, a.image[:, ::-1])
    mirrored = a.keypoints[:, list(COCO17.flip_index)].copy()
    mirrored[..., 0] = 31 - mirrored[..., 0]
    np.testing.assert_allclose(b.keypoints, mirrored, atol=1e-4)


def test_ignore_regions_cover_the_grid_cells_whose_centres_lie_in_the_box():
    codec = PAFCodec(COCO17, input_size=(64, 64), stride=4)
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    box = np.array([[7.5, 11.5, 23.5, 19.5]])           # edges in image (= input) pixels
    m = ignore_regions(box, identity, codec.heatmap_size, codec.heatmap_to_input)
    # grid cell i has its centre at 4 i + 1.5: x in [7.5, 23.5] -> i = 2..5, y in [11.5, 19.5] -> 3..4
    want = np.zeros((16, 16), bool)
    want[3:5, 2:6] = True
    np.testing.assert_array_equal(m, want)
    # through a mirroring affine the region is mirrored on the grid
    mirror = np.array([[-1.0, 0, 63], [0, 1.0, 0]])
    np.testing.assert_array_equal(ignore_regions(box, mirror, codec.heatmap_size, codec.heatmap_to_input),
                                  want[:, ::-1])
    assert not ignore_regions(np.zeros((0, 4)), identity, codec.heatmap_size, codec.heatmap_to_input).any()


def _scene():
    """A 64x64 image: a labelled person, an unlabelled person (box only) and a crowd box."""
    kp = np.zeros((3, 17, 3), np.float32)
    kp[0, :, :2] = np.random.default_rng(0).uniform(4, 28, (17, 2))
    kp[0, :, 2] = 2
    boxes = np.array([[3.5, 3.5, 28.5, 28.5], [39.5, 7.5, 59.5, 27.5], [35.5, 39.5, 63.5, 63.5]], np.float32)
    rec = ImageRecord.create("a.png", 64, 64, kp, COCO17, boxes=boxes, crowd=np.array([False, False, True]))
    return rec, MemoryImages({"a.png": np.zeros((64, 64, 3), np.uint8)})


def test_dataset_passes_the_mask_of_crowds_and_unlabelled_people_to_the_codec():
    rec, images = _scene()
    codec = PAFCodec(COCO17, input_size=(64, 64), stride=4)
    ds = BottomUpDataset([rec], images, COCO17, output_size=64, train=False, codec=codec)
    s = ds[0]
    mask = s["mask"].numpy()
    want = ~ignore_regions(rec.boxes[1:], s["affine"].numpy().astype(np.float64), codec.heatmap_size,
                           codec.heatmap_to_input)
    np.testing.assert_array_equal(mask > 0, want)
    assert (mask == 0).sum() > 20                       # both boxes are masked ...
    assert mask[2:6, 2:6].min() == 1.0                  # ... the labelled person is not
    # training with augmentation: the masked cells still carry the (warped) boxes back to the image
    ds_aug = BottomUpDataset([rec], images, COCO17, output_size=64, train=True, codec=codec,
                             aug=BottomUpAugConfig(rotation_deg=30.0))
    s2 = ds_aug[0]
    gy, gx = np.nonzero(s2["mask"].numpy() == 0)
    centres_img = transform_points(np.linalg.inv(np.vstack([s2["affine"].numpy(), [0, 0, 1]]))[:2],
                                   codec.heatmap_to_input(np.stack([gx, gy], -1).astype(np.float64)))
    inside = [((centres_img[:, 0] >= b[0]) & (centres_img[:, 0] <= b[2]) & (centres_img[:, 1] >= b[1])
               & (centres_img[:, 1] <= b[3])) for b in rec.boxes[1:]]
    assert np.logical_or(*inside).all() and len(gx) > 0


def test_masked_l2_ignores_the_masked_cells_and_the_weightless_channels():
    t = torch.rand(2, 3, 4, 5)
    mask = torch.ones(2, 4, 5)
    mask[0, 1, 2] = 0
    p = t.clone()
    p[0, :, 1, 2] += 1.0                                 # error only where the mask is 0
    assert masked_l2(p, t, mask).item() == 0.0
    assert masked_l2(p, t).item() > 0
    w = torch.ones(2, 3)
    w[1, 2] = 0
    p = t.clone()
    p[1, 2] += 1.0                                       # error only in a weightless channel
    assert masked_l2(p, t, mask, w).item() == 0.0
    assert abs(masked_l2(p, t, mask).item() - 1.0 / 6) < 1e-6   # one of 2*3 maps wrong by 1 everywhere


def test_paf_loss_sums_every_stage_and_each_stage_head():
    rec, images = _scene()
    codec = PAFCodec(COCO17, input_size=(64, 64), stride=4)
    s = BottomUpDataset([rec], images, COCO17, output_size=64, train=False, codec=codec)[0]
    batch = {k: v[None] for k, v in s.items() if torch.is_tensor(v)}
    perfect = {"heatmaps": batch["heatmaps"], "pafs": batch["pafs"]}
    assert paf_loss({**perfect, "stages": [perfect, perfect]}, batch).item() == 0.0
    bad = {"heatmaps": batch["heatmaps"] + 0.1, "pafs": batch["pafs"]}
    one = paf_loss({**bad, "stages": [bad]}, batch).item()
    assert one > 0
    # OpenPose's intermediate supervision: the loss of every stage counts
    assert paf_loss({**perfect, "stages": [bad, perfect]}, batch).item() == one
    assert paf_loss({**bad, "stages": [bad, bad]}, batch).item() == 2 * one
    # stages holding one head each (OpenPose 2019: PAF stages, then confidence-map stages)
    assert paf_loss({**perfect, "stages": [{"pafs": batch["pafs"]}, {"heatmaps": bad["heatmaps"]}]},
                    batch).item() == one
