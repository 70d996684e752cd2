"""MoveNet parity: posekit's decoder on the raw heads vs the graph's own post-processing.

Both run through posekit's TF.js importer: the full graph (ending in MoveNet's in-graph argmax
decoding, output ``Identity`` = (1, 1, 17, [y, x, score]) normalised) and, in the same forward
pass, the four raw heads, decoded by ``posekit.codecs.MoveNetSingleCodec``. Inputs: three square
crops of each COCO sample image. Prints the largest keypoint difference in input pixels.

Run: ``.venv/bin/python benchmarks/parity_movenet.py``
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from posekit.codecs import MoveNetSingleCodec
from posekit.io import read_image
from posekit.pretrained.cache import load_converted
from posekit.pretrained.cards import get_card
from posekit.pretrained.tfjs import TFJSGraph

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def crops(size: int):
    for f in sorted((DATA / "coco").glob("*.jpg")):
        img = read_image(f)
        H, W = img.shape[:2]
        s = min(H, W)
        for x0, y0, side in ((0, 0, s), (W - s, H - s, s), (W // 4, H // 4, s // 2)):
            yield f.name, cv2.resize(img[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_AREA)


def main() -> None:
    torch.set_num_threads(1)  # parity, not speed: one thread is robust on a shared machine
    for name in ("movenet_lightning", "movenet_thunder"):
        card = get_card(name)
        size = card.input_size[0]
        nodes, weights = load_converted(card)
        graph = TFJSGraph(nodes, weights, ["Identity", *card.head_nodes]).eval()
        errs, serrs = [], []
        for _, crop in crops(size):
            with torch.no_grad():
                out = graph(torch.from_numpy(crop[None].astype(np.float32)))
            ref = out["Identity"][0, 0]
            mine = MoveNetSingleCodec(card.input_size).decode(
                {h.key: out[h.node].permute(0, 3, 1, 2) for h in card.heads})[0, 0]   # input pixels
            ref_px = ref[:, [1, 0]] * size - 0.5                                       # (x, y) pixel centres
            errs.append(float((mine[:, :2] - ref_px).abs().max()))
            serrs.append(float((mine[:, 2] - ref[:, 2]).abs().max()))
        print(f"{name}: {len(errs)} crops x 17 keypoints at {size}x{size}: max |decoder - graph| = "
              f"{max(errs):.4f} px (mean of per-crop max {np.mean(errs):.4f} px), max score diff {max(serrs):.2e}")


if __name__ == "__main__":
    main()
