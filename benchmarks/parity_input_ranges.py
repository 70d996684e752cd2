"""Check each pretrained card's input normalisation (and EfficientPose's channel order) on real data.

Graphs without in-graph normalisation cannot tell their input range by themselves, so every
candidate range is tried on real photos and scored; the card's choice must win clearly.

- pose models: mean keypoint error on person crops, as a fraction of the crop side
  (COCO ground truth for MoveNet, PoseNet, BlazePose; MPII for EfficientPose);
- detectors: the best person score on whole COCO images (BlazePose detector, NanoDet).

Run: ``.venv/bin/python benchmarks/parity_input_ranges.py`` (needs the models in the cache or npm).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from posekit.codecs import MoveNetSingleCodec
from posekit.geometry import box_to_center_size, crop_affine, transform_points, warp_image
from posekit.io import read_image
from posekit.pretrained import load_pretrained
from posekit.pretrained.cards import NANODET_NORM, RAW_0_255, SYM_1, UNIT, Normalisation
from posekit.skeleton import BLAZEPOSE33, COCO17, MPII16

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
IMAGENET = Normalisation((123.675, 116.28, 103.53), (58.395, 57.12, 57.375), "RGB", "ImageNet")
NANODET_RGB = Normalisation(NANODET_NORM.mean[::-1], NANODET_NORM.std[::-1], "RGB", "nanodet stats, RGB")
CANDIDATES = {"0..255": RAW_0_255, "[-1,1]": SYM_1, "[0,1]": UNIT, "imagenet": IMAGENET}


def apply(norm: Normalisation, crop_rgb: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(crop_rgb).permute(2, 0, 1)[None].float()
    if norm.channel_order == "BGR":
        x = x.flip(1)
    m = torch.tensor(norm.mean).view(1, 3, 1, 1)
    s = torch.tensor(norm.std).view(1, 3, 1, 1)
    return (x - m) / s


def coco_people(min_kps: int = 12):
    doc = json.loads((DATA / "coco" / "test_coco.json").read_text())
    files = {im["id"]: im["file_name"] for im in doc["images"]}
    for a in doc["annotations"]:
        if a["num_keypoints"] >= min_kps:
            x, y, w, h = a["bbox"]
            yield files[a["image_id"]], np.array([x, y, x + w, y + h], np.float32), \
                np.array(a["keypoints"], np.float32).reshape(17, 3)


def crop(img: np.ndarray, box: np.ndarray, size: tuple[int, int]):
    c, s = box_to_center_size(box, aspect_ratio=size[1] / size[0], padding=1.25)
    A = crop_affine(c, s, out_size=(size[1], size[0]))
    return warp_image(img, A, out_size=(size[1], size[0])), A


def err_frac(pred_xy_crop: np.ndarray, gt: np.ndarray, A: np.ndarray, side: int) -> float:
    gt_crop = transform_points(A, gt[:, :2])
    vis = gt[:, 2] > 0
    return float(np.linalg.norm(pred_xy_crop[vis] - gt_crop[vis], axis=1).mean() / side)


def movenet(name: str) -> dict[str, float]:
    model, card = load_pretrained(name)
    H, W = card.input_size
    res: dict[str, list[float]] = {k: [] for k in CANDIDATES}
    for f, box, kps in coco_people():
        img = read_image(DATA / "coco" / f)
        c, A = crop(img, box, (H, W))
        for k, norm in CANDIDATES.items():
            with torch.no_grad():
                h = model(apply(norm, c))
            xy = MoveNetSingleCodec(card.input_size).decode(h)[0, 0, :, :2].numpy()
            res[k].append(err_frac(xy, kps, A, W))
    return {k: float(np.mean(v)) for k, v in res.items()}


def posenet() -> dict[str, float]:
    model, card = load_pretrained("posenet")
    H, W = card.input_size
    res: dict[str, list[float]] = {k: [] for k in CANDIDATES}
    for f, box, kps in coco_people():
        img = read_image(DATA / "coco" / f)
        c, A = crop(img, box, (H, W))
        for k, norm in CANDIDATES.items():
            with torch.no_grad():
                h = model(apply(norm, c))
            hm, off = h["heatmap"][0], h["offset"][0]
            K, gh, gw = hm.shape
            idx = hm.reshape(K, -1).argmax(1)
            iy, ix = idx // gw, idx % gw
            oy = off[torch.arange(K), iy, ix]
            ox = off[torch.arange(K) + K, iy, ix]
            xy = torch.stack([ix * 16 + ox, iy * 16 + oy], 1).numpy()
            res[k].append(err_frac(xy, kps, A, W))
    return {k: float(np.mean(v)) for k, v in res.items()}


def blazepose_landmarks(name: str) -> dict[str, float]:
    model, card = load_pretrained(name)
    H, W = card.input_size
    to_coco = [BLAZEPOSE33.names.index(n) for n in COCO17.names]
    res: dict[str, list[float]] = {k: [] for k in CANDIDATES}
    for f, box, kps in coco_people():
        img = read_image(DATA / "coco" / f)
        c, A = crop(img, box, (H, W))
        for k, norm in CANDIDATES.items():
            with torch.no_grad():
                ld = model(apply(norm, c))["landmarks"][0].view(39, 5).numpy()
            xy = ld[to_coco, :2] - 0.5
            res[k].append(err_frac(xy, kps, A, W))
    return {k: float(np.mean(v)) for k, v in res.items()}


def efficientpose() -> tuple[dict[str, float], float]:
    model, card = load_pretrained("efficientpose_ii_lite")
    H, W = card.input_size
    order = [MPII16.names.index(n) for n in card.keypoint_order]
    doc = json.loads((DATA / "mpii" / "test_mpii.json").read_text())
    res: dict[str, list[float]] = {k: [] for k in CANDIDATES}
    shuffled: list[float] = []
    for rec in doc:
        img = read_image(DATA / "mpii" / rec["image"])
        side = rec["scale"] * 200.0 * 1.25
        A = crop_affine(np.array(rec["center"]), np.array([side, side]), out_size=(W, H))
        c = warp_image(img, A, out_size=(W, H))
        gt = np.concatenate([np.array(rec["joints"]), np.array(rec["joints_vis"])[:, None]], 1).astype(np.float32)
        for k, norm in CANDIDATES.items():
            with torch.no_grad():
                hm = model(apply(norm, c))["heatmap"][0]
            idx = hm.reshape(16, -1).argmax(1)
            xy_model = torch.stack([idx % W, idx // W], 1).float().numpy()
            xy = np.zeros_like(xy_model)
            xy[order] = xy_model  # model channel j is joint keypoint_order[j]
            res[k].append(err_frac(xy, gt, A, W))
            if k == "[-1,1]":
                shuffled.append(err_frac(xy_model, gt, A, W))  # pretending channels are MPII order
    return {k: float(np.mean(v)) for k, v in res.items()}, float(np.mean(shuffled))


def detector_scores(name: str, candidates: dict[str, Normalisation]) -> dict[str, float]:
    model, card = load_pretrained(name)
    H, W = card.input_size
    out: dict[str, list[float]] = {k: [] for k in candidates}
    for f in sorted((DATA / "coco").glob("*.jpg")):
        img = read_image(f)
        s = max(img.shape[:2])
        A = crop_affine(np.array([img.shape[1] / 2 - 0.5, img.shape[0] / 2 - 0.5]), np.array([s, s]), out_size=(W, H))
        c = warp_image(img, A, out_size=(W, H))
        for k, norm in candidates.items():
            with torch.no_grad():
                h = model(apply(norm, c))
            if name == "nanodet":
                best = max(float(h[key][0, :, 0].max()) for key in ("cls_s8", "cls_s16", "cls_s32"))
            else:
                best = float(torch.sigmoid(h["scores"][0, :, 0].clamp(-100, 100)).max())
            out[k].append(best)
    return {k: float(np.mean(v)) for k, v in out.items()}


def main() -> None:
    torch.set_num_threads(1)  # parity, not speed: one thread is robust on a shared machine
    print("pose models: mean keypoint error / crop side (lower is better)")
    for name in ("movenet_lightning", "movenet_thunder"):
        print(f"  {name:22s}", {k: round(v, 4) for k, v in movenet(name).items()})
    print(f"  {'posenet':22s}", {k: round(v, 4) for k, v in posenet().items()})
    for name in ("blazepose_lite", "blazepose_full", "blazepose_heavy"):
        print(f"  {name:22s}", {k: round(v, 4) for k, v in blazepose_landmarks(name).items()})
    ep, shuffled = efficientpose()
    print(f"  {'efficientpose_ii_lite':22s}", {k: round(v, 4) for k, v in ep.items()},
          f"(with channels read as MPII order instead of keypoint_order: {shuffled:.4f})")
    print("detectors: mean best person score over the COCO images (higher is better)")
    print(f"  {'blazepose_detector':22s}", {k: round(v, 4) for k, v in detector_scores("blazepose_detector", CANDIDATES).items()})
    nd = {"BGR mean/std": NANODET_NORM, "RGB mean/std": NANODET_RGB, "[0,1]": UNIT, "[-1,1]": SYM_1}
    print(f"  {'nanodet':22s}", {k: round(v, 4) for k, v in detector_scores("nanodet", nd).items()})


if __name__ == "__main__":
    main()
