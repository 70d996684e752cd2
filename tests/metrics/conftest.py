"""Fixtures for the metric tests: pycocotools as the oracle, and the synthetic COCO bench."""

from __future__ import annotations

import contextlib
import copy
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posekit.metrics import COCO_KEYS

MAKE_BENCH = Path(__file__).resolve().parents[2] / ".." / "shared" / "tools" / "make_coco_bench.py"


def pycocotools_stats(gt: dict, results: list, sigmas=None) -> dict[str, float]:
    """COCOeval(iouType='keypoints') summary on deep copies of the inputs."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(COCO_KEYS, map(float, ev.stats)))


@pytest.fixture(scope="session")
def coco_oracle():
    pytest.importorskip("pycocotools")
    return pycocotools_stats


@pytest.fixture(scope="session")
def make_bench(tmp_path_factory):
    """``make_bench(images, seed) -> (gt dict, results list)`` from ../shared/tools."""
    import json

    if not MAKE_BENCH.is_file():
        pytest.skip(f"benchmark generator not found at {MAKE_BENCH}")

    def make(images: int, seed: int):
        out = tmp_path_factory.mktemp(f"bench{images}_{seed}")
        subprocess.run([sys.executable, str(MAKE_BENCH), str(out), "--images", str(images),
                        "--seed", str(seed)], check=True, capture_output=True)
        return json.loads((out / "gt.json").read_text()), json.loads((out / "dt.json").read_text())

    return make
