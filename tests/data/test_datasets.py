"""Datasets: sample contents and frames, determinism per (seed, epoch, index) across workers,
skipping, codec duck typing, image sources and their errors."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from posekit import COCO17
from posekit.data.datasets import (
    BottomUpDataset, EncodedImages, FolderImages, MemoryImages, TopDownDataset, denormalize,
    normalize_image,
)
from posekit.data.records import ImageRecord
from posekit.data.synthetic import make_dataset
from posekit.data.transforms import AugConfig, BottomUpAugConfig, swap_left_right
from posekit.errors import DataError
from posekit.geometry import transform_points


@pytest.fixture(scope="module")
def synth():
    return MemoryImages.from_pairs(make_dataset(4, seed=11, size=(128, 128)))


def test_topdown_sample_contents_and_frames(synth):
    images, records = synth
    ds = TopDownDataset(records, images, COCO17, input_size=(48, 64), train=True, seed=3)
    n_people = sum(int(((r.keypoints[..., 2] > 0).any(axis=1) & ~r.crowd).sum()) for r in records)
    assert len(ds) == n_people
    flips = set()
    for idx in range(len(ds)):
        s = ds[idx]
        assert s["image"].shape == (3, 64, 48) and s["image"].dtype == torch.float32
        assert s["keypoints"].shape == (17, 3) and s["affine"].shape == (2, 3)
        rec = records[s["image_index"]]
        kp_img = rec.keypoints[s["person_index"]]
        expect = transform_points(s["affine"].double().numpy(), kp_img.astype(np.float64))
        if s["flipped"]:
            expect = swap_left_right(expect, COCO17)
        lab = s["keypoints"][:, 2].numpy() > 0
        assert np.allclose(s["keypoints"].numpy()[lab, :2], expect[lab, :2], atol=1e-2)
        assert (expect[lab, 2] > 0).all()
        flips.add(s["flipped"])
    assert flips == {True, False}


def test_normalisation_round_trip():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = normalize_image(img)
    assert t.shape == (3, 5, 7)
    assert abs(float(t[0].mean()) - (img[..., 0].mean() / 255 - 0.485) / 0.229) < 1e-4
    assert np.array_equal(denormalize(t), img)
    assert denormalize(t[None]).shape == (1, 5, 7, 3)


def _pixel_record(x, y, joint=9):
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, :, :2] = [[x, y]]
    kp[0, :, 2] = 0
    kp[0, joint] = (x, y, 2)
    kp[0, 0] = (x - 20, y - 30, 2)
    img = np.zeros((200, 200, 3), np.uint8)
    img[y, x] = 255
    rec = ImageRecord.create("px.png", 200, 200, kp, COCO17,
                             boxes=np.array([[x - 30, y - 40, x + 30, y + 40]], np.float32))
    return img, rec


def test_dataset_single_pixel_through_full_augmentation():
    img, rec = _pixel_record(97, 103)
    aug = AugConfig(scale_range=(0.3, 0.5), rotation_prob=1.0, shift=0.05)   # zoomed in
    ds = TopDownDataset([rec] * 8, MemoryImages({"px.png": img}), COCO17, (96, 128), True, aug)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds[i]
            crop = denormalize(s["image"]).astype(int).sum(axis=2)
            label = COCO17.flip_index[9] if s["flipped"] else 9
            kp = s["keypoints"][label].numpy()
            assert kp[2] == 2
            y, x = np.unravel_index(np.argmax(crop), crop.shape)
            assert np.hypot(x - kp[0], y - kp[1]) <= 1.0


def test_deterministic_per_seed_epoch_index_and_across_workers(synth):
    images, records = synth
    ds = TopDownDataset(records, images, COCO17, input_size=(32, 48), train=True, seed=5)
    a, b = ds[2], ds[2]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["keypoints"], b["keypoints"])
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["image"], a["image"])
    ds.set_epoch(0)
    serial = next(iter(DataLoader(ds, batch_size=len(ds), num_workers=0)))
    parallel = next(iter(DataLoader(ds, batch_size=len(ds), num_workers=2, timeout=120)))
    assert torch.equal(serial["image"], parallel["image"])
    assert torch.equal(serial["affine"], parallel["affine"])


def test_eval_mode_is_plain_and_repeatable(synth):
    images, records = synth
    ds = TopDownDataset(records, images, COCO17, input_size=(48, 64), train=False)
    s = ds[0]
    assert not s["flipped"]
    ds.set_epoch(3)
    assert torch.equal(ds[0]["image"], s["image"])


def test_crowd_and_unlabelled_people_are_skipped():
    kp = np.zeros((3, 17, 3), np.float32)
    kp[:, :, :2] = 50
    kp[0, 3, 2] = 2          # labelled
    kp[1, 3, 2] = 2          # labelled but crowd
    rec = ImageRecord.create("a.png", 100, 100, kp, COCO17, crowd=np.array([False, True, False]),
                             boxes=np.tile(np.array([[30, 30, 70, 70]], np.float32), (3, 1)))
    ds = TopDownDataset([rec], MemoryImages({"a.png": np.zeros((100, 100, 3), np.uint8)}),
                        COCO17, (48, 64))
    assert ds.samples == [(0, 0)]


@dataclass
class _FakeTarget:
    heatmaps: np.ndarray
    weights: np.ndarray


class _FakeCodec:
    def encode(self, keypoints):
        assert keypoints.shape == (17, 3) and keypoints.dtype == np.float32
        return _FakeTarget(np.zeros((17, 16, 12), np.float32), (keypoints[:, 2] > 0).astype(np.float32))


def test_codec_fields_are_added_and_collate(synth):
    images, records = synth
    ds = TopDownDataset(records, images, COCO17, (48, 64), True, codec=_FakeCodec())
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["heatmaps"].shape == (2, 17, 16, 12) and batch["weights"].shape == (2, 17)
    assert torch.equal(batch["weights"], (batch["keypoints"][..., 2] > 0).float())


def test_image_sources_and_errors(tmp_path):
    from posekit.io import write_image
    img = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", img)
    assert np.array_equal(FolderImages(tmp_path).get("a.png"), img)
    with pytest.raises(DataError, match="missing.jpg"):
        FolderImages(tmp_path).get("missing.jpg")
    enc = EncodedImages.encode({"a": img}, ".png")
    assert np.array_equal(enc.get("a"), img)
    assert EncodedImages.encode({"a": img}, ".jpg").get("a").shape == img.shape
    with pytest.raises(DataError, match="'b'"):
        enc.get("b")
    with pytest.raises(DataError, match="'b'"):
        MemoryImages({"a": img}).get("b")
    bad = EncodedImages({"x.jpg": b"not an image"})
    with pytest.raises(DataError, match="x.jpg"):
        bad.get("x.jpg")
    rec = ImageRecord.create("gone.jpg", 30, 20, np.full((1, 17, 3), 5, np.float32), COCO17)
    ds = TopDownDataset([rec], FolderImages(tmp_path), COCO17, (48, 64))
    with pytest.raises(DataError, match="gone.jpg"):
        ds[0]


def test_bottomup_dataset_padding_and_frames(synth):
    images, records = synth
    ds = BottomUpDataset(records, images, COCO17, output_size=96, train=True, max_people=4,
                         aug=BottomUpAugConfig(), seed=1)
    assert len(ds) == 4
    for idx in range(len(ds)):
        s = ds[idx]
        rec = records[s["image_index"]]
        n = rec.num_people
        assert s["image"].shape == (3, 96, 96) and s["keypoints"].shape == (4, 17, 3)
        assert s["num_people"] == n and s["person_valid"].tolist() == [True] * n + [False] * (4 - n)
        assert (s["keypoints"][n:] == 0).all()
        expect = transform_points(s["affine"].double().numpy(), rec.keypoints.astype(np.float64))
        if s["flipped"]:
            expect = swap_left_right(expect, COCO17)
        lab = s["keypoints"][:n, :, 2].numpy() > 0
        assert np.allclose(s["keypoints"][:n].numpy()[lab][:, :2], expect[lab][:, :2], atol=1e-2)
    small = BottomUpDataset(records, images, COCO17, 64, train=False, max_people=1)
    assert small[0]["keypoints"].shape == (1, 17, 3) and small[0]["num_people"] == 1


def test_real_coco_sample_through_folder_images(shared_data):
    coco = shared_data / "coco"
    data = json.loads((coco / "test_coco.json").read_text())
    im = data["images"][0]
    anns = [a for a in data["annotations"] if a["image_id"] == im["id"]]
    kp = np.array([a["keypoints"] for a in anns], np.float32).reshape(-1, 17, 3)
    boxes = np.array([a["bbox"] for a in anns], np.float32)
    boxes[:, 2:] += boxes[:, :2]
    rec = ImageRecord.create(im["file_name"], im["width"], im["height"], kp, COCO17, boxes=boxes,
                             crowd=np.array([a["iscrowd"] for a in anns], bool))
    ds = TopDownDataset([rec], FolderImages(coco), COCO17, (192, 256), train=True)
    s = ds[0]
    assert s["image"].shape == (3, 256, 192) and torch.isfinite(s["image"]).all()


def test_udp_codec_gets_the_udp_crop_warp(synth):
    """A dataset with UDP's codec crops with UDP's warp: the box edges land on the corner pixel
    centres 0 and W-1 (not -0.5 and W-0.5), so the crop matrix differs from the plain one."""
    from posekit.codecs.heatmap import MSRAHeatmap, UDPHeatmap
    from posekit.geometry import crop_affine

    images, records = synth
    udp = TopDownDataset(records, images, COCO17, input_size=(48, 64), train=False, codec=UDPHeatmap((48, 64)))
    plain = TopDownDataset(records, images, COCO17, input_size=(48, 64), train=False, codec=MSRAHeatmap((48, 64)))
    assert udp.udp_warp and not plain.udp_warp
    a_udp, a_plain = udp[0]["affine"].double().numpy(), plain[0]["affine"].double().numpy()
    s = udp[0]
    expect = crop_affine(s["center"].double().numpy(), s["size"].double().numpy(), (48, 64), udp=True)
    assert np.allclose(a_udp, expect, atol=1e-4)
    assert not np.allclose(a_udp, a_plain, atol=1e-3)
