"""Grouping speed: PAF and AE grouping per image on perfect heads at 1/4 of a 512 image.

For 1, 5, 10, 20 and 40 synthetic people (:func:`posekit.data.synthetic.render_scene`
keypoints at 512x512, people 12-35 % of the image height so that 40 fit), the ground truth
is encoded into perfect heads on the 128x128 grid (stride 4): PAF confidence maps and fields
(:class:`posekit.codecs.PAFCodec`), AE heatmaps and ideal tags
(:class:`posekit.codecs.AECodec`, ``max_people = 48`` so that 40 people fit). Timed as the
process's CPU time (``time.process_time``: other processes on this shared 2-core machine
disturb it far less than wall time; the work is single-threaded, so it equals wall time on
an idle machine), median over repeats, one thread:

* ``PAF group``: :func:`posekit.grouping.paf.group_people` (peaks, limb scores, matching);
* ``AE group``: :func:`posekit.grouping.tags.decode_tags` (NMS, top-k, Hungarian, refinement);
* ``... decode``: the codec's whole ``decode_instances`` (the above plus the map to input
  pixels; AE also the sub-pixel step).

``cands`` is the number of part candidates grouping sees (PAF: peaks above the threshold; AE:
top-k candidates above the detection threshold); ``us/cand`` is the grouping time divided by
it (flat = linear in the candidates). ``found`` is the number of people decoded.

``--compare REV`` also times the PAF grouping of ``src/posekit/grouping/paf.py`` as it was at
git revision ``REV`` against the working tree's, interleaved run by run in one process (this
shared machine's speed drifts by up to 2x from minute to minute; the ratio of interleaved runs
does not), and checks that both give the same people.

Run: ``.venv/bin/python benchmarks/grouping.py [--repeats 20] [--compare 4e235b7]``
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from posekit.codecs import AECodec, PAFCodec
from posekit.data.synthetic import render_scene
from posekit.grouping.paf import find_peaks, group_people
from posekit.grouping.tags import decode_tags, top_candidates
from posekit.skeleton import COCO17

SIZE = 512
COUNTS = (1, 5, 10, 20, 40)


def people(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 17, 3)`` keypoints of ``n`` synthetic people in a 512x512 image (v = 0 outside)."""
    _, rec = render_scene(seed, size=(SIZE, SIZE), num_people=(n, n), height_range=(0.12, 0.35),
                          occlusion=0.0, clutter=0)
    kp = rec.keypoints.copy()
    inside = (kp[..., 0] >= 0) & (kp[..., 0] <= SIZE - 1) & (kp[..., 1] >= 0) & (kp[..., 1] <= SIZE - 1)
    kp[..., 2] = np.where(inside, 2.0, 0.0)
    return kp


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return 1000.0 * float(np.median(times))


def compare(rev: str, repeats: int) -> None:
    """PAF grouping of ``paf.py`` at git revision ``rev`` vs the working tree's, interleaved."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "show", f"{rev}:src/posekit/grouping/paf.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "paf_at_rev.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("paf_at_rev", path)
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)
    codec = PAFCodec(COCO17, (SIZE, SIZE), stride=4, max_people=48)
    print(f"\nPAF group_people, {rev} vs working tree: ms, median of {repeats} interleaved runs, 1 thread")
    print(f"{'people':>6} | {rev:>10} | {'now':>8} | {'speed-up':>8}")
    for n in COUNTS:
        t = codec.encode(people(n))
        hm, fields = t.heatmaps, t.pafs
        a, b = old.group_people(hm, fields, codec.limbs), group_people(hm, fields, codec.limbs)
        assert all(np.allclose(x, y) for x, y in zip(a, b)), f"{rev} and the working tree group {n} people differently"
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(repeats):
            for fn, out in ((old.group_people, times[0]), (group_people, times[1])):
                t0 = time.process_time()
                fn(hm, fields, codec.limbs)
                out.append(time.process_time() - t0)
        ta, tb = (1000.0 * float(np.median(x)) for x in times)
        print(f"{n:>6} | {ta:>10.2f} | {tb:>8.2f} | {ta / tb:>7.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--compare", metavar="REV", default=None,
                    help="also time paf.py at this git revision against the working tree, interleaved")
    args = ap.parse_args()
    torch.set_num_threads(1)
    paf = PAFCodec(COCO17, (SIZE, SIZE), stride=4, max_people=48)
    ae = AECodec(COCO17, (SIZE, SIZE), stride=4, max_people=48)
    print(f"grid {SIZE // 4}x{SIZE // 4} (1/4 of {SIZE}x{SIZE}), median of {args.repeats}, 1 thread")
    print(f"{'people':>6} | {'PAF cands':>9} {'group ms':>8} {'us/cand':>7} {'decode ms':>9} {'found':>5} | "
          f"{'AE cands':>8} {'group ms':>8} {'us/cand':>7} {'decode ms':>9} {'found':>5}")
    for n in COUNTS:
        kp = people(n)
        t = paf.encode(kp)
        hm, fields = t.heatmaps, t.pafs
        paf_heads = {"heatmaps": torch.from_numpy(hm)[None], "pafs": torch.from_numpy(fields)[None]}
        paf_cands = sum(len(p) for p in find_peaks(hm, paf.peak_threshold))
        paf_ms = median_ms(lambda: group_people(hm, fields, paf.limbs), args.repeats)
        paf_dec = median_ms(lambda: paf.decode_instances(paf_heads), args.repeats)
        paf_found = int((paf.decode_instances(paf_heads).scores[0] > 0).sum())

        ta = ae.encode(kp)
        tags = ae.ideal_tags(kp)
        ae_heads = {"heatmaps": torch.from_numpy(ta.heatmaps)[None], "tags": torch.from_numpy(tags)[None]}
        cand, _ = top_candidates(ta.heatmaps, tags, ae.max_people, ae.nms_kernel)
        ae_cands = int((cand[..., 2] > ae.detection_threshold).sum())
        ae_ms = median_ms(lambda: decode_tags(ta.heatmaps, tags, ae.joint_order, ae.max_people, ae.nms_kernel),
                          args.repeats)
        ae_dec = median_ms(lambda: ae.decode_instances(ae_heads), args.repeats)
        ae_found = int((ae.decode_instances(ae_heads).scores[0] > 0).sum())
        print(f"{n:>6} | {paf_cands:>9} {paf_ms:>8.2f} {1000 * paf_ms / max(paf_cands, 1):>7.1f} {paf_dec:>9.2f} "
              f"{paf_found:>5} | {ae_cands:>8} {ae_ms:>8.2f} {1000 * ae_ms / max(ae_cands, 1):>7.1f} {ae_dec:>9.2f} "
              f"{ae_found:>5}")
    if args.compare:
        compare(args.compare, args.repeats)


if __name__ == "__main__":
    main()
