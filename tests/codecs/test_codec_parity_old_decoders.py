"""Evidence for the wiring step of issue 10: each new codec gives what the old decoder gives
*mapped the way its pipeline maps it*, to 1e-5 input px, on seeded random heads of the real
shapes and on the real models' heads for real photos.

The old side is the pipeline wrappers' own ``decode`` (``MoveNetSingle``, ``EfficientPoseSingle``,
``MultiPoseModel``, ``PoseNetModel``), which call ``pretrained.movenet_decode``,
``pipelines.single.heatmap_argmax_refined``, ``pipelines.multipose`` and ``pipelines.posenet``.
This file goes when those decoders go (the pipelines then call the codecs). ``pytest -s`` prints
each maximum difference.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from posekit.codecs import MSRAHeatmap, MoveNetSingleCodec, MultiPoseCodec, PoseNetCodec
from posekit.codecs.heatmap import argmax_quarter
from posekit.pipelines.bottomup import MultiPoseModel, PoseNetModel
from posekit.pipelines.single import EfficientPoseSingle, MoveNetSingle, heatmap_argmax_refined
from posekit.pretrained import RegistryUnreachable, get_card, load_pretrained

TOL = 1e-5  # input px (and score units)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)      # determinism and no spinning on the shared 2-core machine
    yield
    torch.set_num_threads(before)


def _max_diff(what: str, new: torch.Tensor | np.ndarray, old: np.ndarray) -> float:
    new = new.cpu().numpy() if torch.is_tensor(new) else np.asarray(new)
    assert new.shape == old.shape, (what, new.shape, old.shape)
    d = float(np.abs(new.astype(np.float64) - old.astype(np.float64)).max()) if old.size else 0.0
    print(f"\n{what}: max |codec - old| = {d:.3g} over {old.size} values")
    assert d <= TOL, f"{what}: codec and old decoder differ by {d:.3g}"
    return d


def _load(name: str):
    try:
        return load_pretrained(name, "cpu")
    except RegistryUnreachable as exc:
        pytest.skip(f"{name}: not in the posekit cache, and {exc}")


def _person_crops(shared_data, size: tuple[int, int], n: int) -> np.ndarray:
    """``(n, H, W, 3)`` crops of the COCO sample's first ``n`` annotated people, cut as the
    top-down predictor cuts them (box widened to the aspect ratio, padding 1.25)."""
    from posekit.geometry import xywh_to_xyxy
    from posekit.io import read_image
    from posekit.pipelines.preprocess import box_crop_affine, warp_batch
    doc = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    files = {im["id"]: im["file_name"] for im in doc["images"]}
    anns = [a for a in sorted(doc["annotations"], key=lambda a: a["id"]) if a["num_keypoints"] > 0][:n]
    return np.concatenate([
        warp_batch(read_image(shared_data / "coco" / files[a["image_id"]]),
                   [box_crop_affine(xywh_to_xyxy(np.asarray(a["bbox"], np.float32)), size, 1.25)], size)
        for a in anns])


def _whole_image_heads(shared_data, wrapper, files: tuple[str, ...]):
    """``(heads, input_size)`` per photo, letterboxed as ``_WholeImageModel.run`` does."""
    from posekit.io import read_image
    from posekit.pipelines.preprocess import letterbox_affine, to_tensor, warp_batch
    for f in files:
        im = read_image(shared_data / "coco" / f)
        size = wrapper.input_size_for(im.shape[1], im.shape[0])
        batch = warp_batch(im, [letterbox_affine(im.shape[1], im.shape[0], size)], size)
        with torch.no_grad():
            yield wrapper.model(wrapper._normalise(to_tensor(batch, wrapper.device), wrapper.card)), size


# ----------------------------------------------------------------------------- MoveNet single

def _random_single_heads(B: int, g: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    r = lambda c, s: torch.randn(B, c, g, g, generator=gen) * s  # noqa: E731
    return {"heatmap": r(17, 3.0), "center": r(1, 3.0), "regress": r(34, g / 4), "offset": r(34, 0.5)}


@pytest.mark.parametrize("name,grid", [("movenet_lightning", 48), ("movenet_thunder", 64)])
def test_movenet_single_random_heads(name, grid):
    card = get_card(name)
    heads = _random_single_heads(4, grid, seed=grid)
    old = MoveNetSingle(None, card).decode(heads)                              # (B, 17, 3) crop px
    new = MoveNetSingleCodec(card.input_size).decode(heads)                    # (B, 1, 17, 3)
    _max_diff(f"{name} random heads", new[:, 0], old)


@pytest.mark.parametrize("name", ["movenet_lightning", "movenet_thunder"])
def test_movenet_single_real_heads(name, shared_data):
    model, card = _load(name)
    wrapper = MoveNetSingle(model, card)
    heads = wrapper.forward(_person_crops(shared_data, card.input_size, 6))
    old = wrapper.decode(heads)
    assert old[..., 2].mean() > 0.3                                           # real people were seen
    _max_diff(f"{name} real heads (6 COCO people)", MoveNetSingleCodec(card.input_size).decode(heads)[:, 0], old)


# ----------------------------------------------------------------------------- MultiPose

def _random_multipose_heads(B: int, h: int, w: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    r = lambda c, s: torch.randn(B, c, h, w, generator=gen) * s  # noqa: E731
    return {"center": r(1, 3.0), "heatmap": r(17, 3.0), "regress": r(34, 8.0), "offset": r(34, 0.5),
            "box_scale": torch.rand(B, 2, h, w, generator=gen) * 40, "box_offset": r(2, 1.0)}


def _compare_multipose(what: str, wrapper: MultiPoseModel, heads, size) -> int:
    codec = MultiPoseCodec(max_people=wrapper.max_people)
    kp, sc, bx = codec.decode_instances(heads, size)
    people = 0
    for b, (okp, osc, obx) in enumerate(wrapper.decode(heads, size)):
        keep = sc[b] > wrapper.min_score                                      # the pipeline's filter
        _max_diff(f"{what}[{b}] keypoints", kp[b][keep], okp)
        _max_diff(f"{what}[{b}] scores", sc[b][keep], osc)
        _max_diff(f"{what}[{b}] boxes", bx[b][keep], obx)
        people += len(osc)
    return people


@pytest.mark.parametrize("size", [(256, 256), (320, 224), (224, 384)])
def test_multipose_random_heads(size):
    wrapper = MultiPoseModel(None, get_card("movenet_multipose"), max_people=6)
    heads = _random_multipose_heads(2, size[1] // 4, size[0] // 4, seed=size[0])
    assert _compare_multipose(f"multipose random heads {size}", wrapper, heads, size) > 0


@pytest.mark.parametrize("long_side", [256, 320])
def test_multipose_real_heads(long_side, shared_data):
    model, card = _load("movenet_multipose")
    wrapper = MultiPoseModel(model, card, long_side=long_side)
    people = 0
    for heads, size in _whole_image_heads(shared_data, wrapper, ("000000196141.jpg", "000000197388.jpg")):
        people += _compare_multipose(f"multipose real heads {size}", wrapper, heads, size)
    assert people >= 4


# ----------------------------------------------------------------------------- PoseNet

def _compare_posenet(what: str, wrapper: PoseNetModel, heads, size) -> int:
    codec = PoseNetCodec(max_people=wrapper.max_people, root_threshold=wrapper.root_threshold,
                         nms_radius=wrapper.nms_radius)
    kp, sc, bx = codec.decode_instances(heads, size)
    people = 0
    for b, (okp, osc, obx) in enumerate(wrapper.decode(heads, size)):
        keep = sc[b] > wrapper.min_score
        _max_diff(f"{what}[{b}] keypoints", kp[b][keep], okp)
        _max_diff(f"{what}[{b}] scores", sc[b][keep], osc)
        _max_diff(f"{what}[{b}] boxes", bx[b][keep], obx)
        people += len(osc)
    return people


@pytest.mark.parametrize("side", [385, 513])
def test_posenet_random_heads(side):
    g = (side - 1) // 16 + 1
    gen = torch.Generator().manual_seed(side)
    r = lambda c, s: torch.randn(2, c, g, g, generator=gen) * s  # noqa: E731
    heads = {"heatmap": r(17, 2.0) - 1.0, "offset": r(34, 8.0), "displacement_fwd": r(32, 30.0),
             "displacement_bwd": r(32, 30.0)}
    wrapper = PoseNetModel(None, get_card("posenet"), long_side=side)
    assert _compare_posenet(f"posenet random heads {side}", wrapper, heads, (side, side)) > 0


def test_posenet_real_heads(shared_data):
    model, card = _load("posenet")
    wrapper = PoseNetModel(model, card)
    people = 0
    for heads, size in _whole_image_heads(shared_data, wrapper, ("000000196141.jpg", "000000197388.jpg")):
        people += _compare_posenet(f"posenet real heads {size}", wrapper, heads, size)
    assert people >= 4


# ----------------------------------------------------------------------------- EfficientPose

@pytest.mark.parametrize("shape", [(2, 16, 368, 368), (3, 17, 64, 48), (1, 2, 1, 7), (1, 2, 5, 1)])
@pytest.mark.parametrize("quantised", [False, True])
def test_argmax_quarter_equals_heatmap_argmax_refined(shape, quantised):
    """``codecs.heatmap.argmax_quarter`` is ``heatmap_argmax_refined``, bit for bit, including
    ties (quantised maps: equal maxima, equal neighbours) and one-row / one-column maps."""
    gen = torch.Generator().manual_seed(sum(shape))
    hm = torch.rand(shape, generator=gen)
    if quantised:
        hm = (hm * 4).floor() / 4
    assert torch.equal(argmax_quarter(hm), heatmap_argmax_refined(hm))


def _efficientpose_codec(heatmap_size: tuple[int, int]) -> MSRAHeatmap:
    return MSRAHeatmap(input_size=tuple(get_card("efficientpose_ii_lite").input_size), heatmap_size=heatmap_size,
                       decoder="argmax")


@pytest.mark.parametrize("grid", [368, 46])
@pytest.mark.parametrize("quantised", [False, True])
def test_efficientpose_random_heatmaps(grid, quantised):
    """``MSRAHeatmap(decoder="argmax")`` at EfficientPose's sizes = ``EfficientPoseSingle.decode``
    (``heatmap_argmax_refined``, the pipeline's heatmap-to-crop map, scores clipped to [0, 1])."""
    gen = torch.Generator().manual_seed(grid)
    hm = torch.randn(2, 16, grid, grid, generator=gen) * 0.6 + 0.2            # peaks above 1, below 0 too
    if quantised:
        hm = (hm * 4).floor() / 4
    wrapper = EfficientPoseSingle(None, get_card("efficientpose_ii_lite"))
    old = wrapper.decode({"heatmap": hm})
    new = _efficientpose_codec((grid, grid)).decode(hm[:, wrapper._perm])
    _max_diff(f"efficientpose random {grid}x{grid}{' quantised' if quantised else ''}", new, old)
    assert np.array_equal(new.numpy(), old)


def test_efficientpose_real_heads(shared_data):
    model, card = _load("efficientpose_ii_lite")
    wrapper = EfficientPoseSingle(model, card)
    heads = wrapper.forward(_person_crops(shared_data, card.input_size, 2))
    old = wrapper.decode(heads)
    new = _efficientpose_codec(card.input_size).decode(heads["heatmap"][:, wrapper._perm])
    _max_diff("efficientpose real heads (2 COCO people)", new, old)
    assert np.array_equal(new.numpy(), old)
