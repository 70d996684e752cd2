"""Video figures: speed, tracking and smoothing on ../shared/data/video/demo.mp4, the synthetic
video with known identities, and J-HMDB PCK per frame.

    python benchmarks/video.py                  # everything (a few minutes on a loaded 2-core CPU)
    python benchmarks/video.py --only synthetic  # synthetic video only (seconds, no weights)
    python benchmarks/video.py --only demo --detect-every 3 --frames-out /tmp/video_frames

* demo: the default pipeline (MoveNet Thunder on NanoDet boxes) on the 5 frames of demo.mp4, once
  with the detector on every frame and once every N frames: frames per second end to end (frame
  decode, detector, pose model, tracking, drawing and video encoding; model loading and a
  warm-up frame excluded; 1 torch thread), tracks, the jitter of the drawn poses' keypoints
  without smoothing, with One-Euro and with Savitzky-Golay. Overlay frames are saved as PNG.
* synthetic: ``posekit.data.synthetic_video`` with 2-3 people crossing and hiding each other,
  perfect detections (the truth, people with >= 30% of keypoints visible): MOTA and id switches
  per crossing; then Gaussian noise (2 px) on the perfect keypoints: jitter and lag (frames) of
  the raw, One-Euro and Savitzky-Golay tracks against the truth.
* synthetic-model: the same pipeline on two synthetic videos (30 frames, 3 people crossing):
  per-frame AP (``frame_ap``), MOTA and id switches of the drawn poses, detector every frame
  and every N frames.
* jhmdb: ``posekit predict --sequence`` on the J-HMDB sample's frame folders with ``--gt``, then
  ``posekit.metrics.video.pck_per_frame`` (PCK@0.2 of the box size, J-HMDB's PCK).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared" / "data").resolve()


def synthetic(seeds: int = 10) -> None:
    from posekit.data.synthetic_video import count_crossings, perfect_detections, render_video
    from posekit.metrics.video import clear_mot, jitter, keypoint_mota, lag_frames, tracks_from_frames
    from posekit.skeleton import COCO17
    from posekit.smoothing import OneEuroConfig, TrackSmoother, savgol_track
    from posekit.tracking import PoseTracker

    sig = COCO17.sigmas_array()
    print("## synthetic video, perfect detections (60 frames, 320x240, 30 fps)")
    print("| seed | people | crossings | MOTA | misses | false pos. | id switches | keypoint MOTA (PCKh-like) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    tot = dict(cross=0, sw=0, gt=0, err=0)
    for seed in range(seeds):
        n = 2 + seed % 2
        v = render_video(seed, num_frames=60, num_people=n)
        tracker = PoseTracker(sig)
        pk, pi = [], []
        for t, (k, b, s, _) in enumerate(perfect_detections(v, seed=seed)):
            pi.append(tracker.update(k, b, s, t))
            pk.append(k)
        r = clear_mot(v.keypoints, v.identities, pk, pi, sig)
        refs = [0.11 * (b[:, 3] - b[:, 1]) for b in v.boxes]         # ~ PCKh's head size (0.6 x head box diagonal)
        km = keypoint_mota(v.keypoints, v.identities, pk, pi, refs, threshold=0.5)
        c = count_crossings(v)
        tot["cross"] += c
        tot["sw"] += r.id_switches
        tot["gt"] += r.ground_truth
        tot["err"] += r.misses + r.false_positives + r.id_switches
        print(f"| {seed} | {n} | {c} | {r.mota:.3f} | {r.misses} | {r.false_positives} | {r.id_switches} | "
              f"{km['MOTA']:.3f} ({km['id_switches']} joint switches) |")
    print(f"\noverall MOTA {1 - tot['err'] / tot['gt']:.3f}, {tot['sw']} id switches over {tot['cross']} crossings "
          f"({tot['sw'] / max(tot['cross'], 1):.2f} per crossing)\n")

    print("## smoothing noisy perfect keypoints (Gaussian noise, sigma 2 px per coordinate)")
    print("| seed | raw jitter | One-Euro jitter (cut) | One-Euro lag | Savitzky-Golay jitter (cut) | SG lag | "
          "truth jitter |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    cuts, lags = [], []
    for seed in range(min(seeds, 5)):
        v = render_video(100 + seed, num_frames=90, num_people=2)
        truth = tracks_from_frames(v.keypoints, v.identities)
        for tr in truth.values():
            tr[..., 2] = np.where(np.isnan(tr[..., 0]), np.nan, 1.0)
        rng = np.random.default_rng(seed)
        noisy = {k: np.concatenate([t[..., :2] + rng.normal(0, 2.0, t[..., :2].shape), t[..., 2:]], -1)
                 for k, t in truth.items()}
        euro, sg = {}, {}
        for k, t in noisy.items():
            sm = TrackSmoother(OneEuroConfig())
            o = t.copy()
            for i in range(len(t)):
                if np.isfinite(t[i, 0, 0]):
                    o[i] = sm(t[i][None], np.array([k]), i / v.fps)[0]
            euro[k] = o
            sg[k] = savgol_track(t, 9, 2)
        j_raw, j_e, j_s = jitter(noisy), jitter(euro), jitter(sg)
        lag_e = float(np.mean([lag_frames(euro[k], truth[k]) for k in euro]))
        lag_s = float(np.mean([lag_frames(sg[k], truth[k]) for k in sg]))
        cuts.append(1 - j_e / j_raw)
        lags.append(lag_e)
        print(f"| {100 + seed} | {j_raw:.2f} | {j_e:.2f} ({1 - j_e / j_raw:.0%}) | {lag_e:.2f} | "
              f"{j_s:.2f} ({1 - j_s / j_raw:.0%}) | {lag_s:.2f} | {jitter(truth):.2f} |")
    print(f"\nOne-Euro (defaults {OneEuroConfig()}): jitter cut {min(cuts):.0%}-{max(cuts):.0%}, "
          f"lag {min(lags):.2f}-{max(lags):.2f} frames (jitter in px/frame^2)\n")


def synthetic_model(detect_every: int, frames: int = 30) -> None:
    """The real pipeline on a synthetic video: per-frame AP, MOTA, id switches."""
    import torch

    from posekit.data.synthetic_video import count_crossings, render_video
    from posekit.metrics.video import clear_mot, frame_ap
    from posekit.pipelines.registry import build_predictor
    from posekit.pipelines.video import VideoPredictor
    from posekit.skeleton import COCO17

    torch.set_num_threads(1)
    predictor = build_predictor("movenet-thunder", "cpu")
    print(f"## movenet-thunder on synthetic video ({frames} frames 320x240, 3 people; seeds 1 and 3)")
    print("| seed | crossings | detector | frame AP | MOTA | misses | false pos. | id switches |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for seed in (1, 3):
        v = render_video(seed, num_frames=frames, num_people=3)
        for every in (1, detect_every):
            vp = VideoPredictor(predictor, detect_every=every)
            out = [vp.predict(f, i, i / v.fps) for i, f in enumerate(v.frames)]
            thr = predictor.draw_min_pose_score
            kps = [f.poses.keypoints[f.poses.scores >= thr] for f in out]
            ids = [f.track_ids[f.poses.scores >= thr] for f in out]
            ap = frame_ap(v.keypoints, [f.poses.keypoints for f in out], [f.poses.scores for f in out], COCO17,
                          gt_boxes=v.boxes)["AP"]
            r = clear_mot(v.keypoints, v.identities, kps, ids, COCO17.sigmas_array())
            print(f"| {seed} | {count_crossings(v)} | every {every} | {ap:.3f} | {r.mota:.3f} | {r.misses} | "
                  f"{r.false_positives} | {r.id_switches} |")
        boxes = sum(len(predictor.detector.detect(f)[0]) for f in v.frames)
        on_true = [predictor.predict_boxes(f, b, np.ones(len(b))) for f, b in zip(v.frames, v.boxes)]
        ap_true = frame_ap(v.keypoints, [o.keypoints for o in on_true], [o.scores for o in on_true], COCO17,
                           gt_boxes=v.boxes)["AP"]
        print(f"| {seed} | | NanoDet: {boxes} boxes for {sum(map(len, v.identities))} people; MoveNet on the true "
              f"boxes: frame AP {ap_true:.3f} | | | | |")
    print("(MOTA and id switches over the poses drawn, score >= "
          f"{predictor.draw_min_pose_score}; OKS >= 0.5 to correspond; AP over all poses)\n")


def one_euro_grid() -> None:
    """The grid the One-Euro defaults were picked from: jitter cut and lag on one synthetic video."""
    from posekit.data.synthetic_video import render_video
    from posekit.metrics.video import jitter, lag_frames, tracks_from_frames
    from posekit.smoothing import OneEuroConfig, TrackSmoother

    v = render_video(0, num_frames=90, num_people=2)
    truth = tracks_from_frames(v.keypoints, v.identities)
    for tr in truth.values():
        tr[..., 2] = np.where(np.isnan(tr[..., 0]), np.nan, 1.0)
    rng = np.random.default_rng(1)
    noisy = {k: np.concatenate([t[..., :2] + rng.normal(0, 2.0, t[..., :2].shape), t[..., 2:]], -1)
             for k, t in truth.items()}
    j0 = jitter(noisy)
    print("## One-Euro grid (synthetic seed 0, 90 frames, 2 people, noise sigma 2 px)")
    print("| min_cutoff (Hz) | beta | jitter cut | lag (frames) |")
    print("| --- | --- | --- | --- |")
    for mc in (0.5, 1.0, 2.0):
        for beta in (0.005, 0.01, 0.02, 0.05):
            out = {}
            for k, t in noisy.items():
                sm = TrackSmoother(OneEuroConfig(min_cutoff=mc, beta=beta))
                o = t.copy()
                for i in range(len(t)):
                    if np.isfinite(t[i, 0, 0]):
                        o[i] = sm(t[i][None], np.array([k]), i / v.fps)[0]
                out[k] = o
            lag = float(np.mean([lag_frames(out[k], truth[k]) for k in out]))
            print(f"| {mc:g} | {beta:g} | {1 - jitter(out) / j0:.0%} | {lag:.2f} |")
    print()


def _frames(path: Path) -> tuple[list[np.ndarray], float]:
    from posekit.io import VideoReader
    with VideoReader(path) as r:
        return [f for _, f in r], r.fps or 25.0


def demo(detect_every: int, frames_out: Path | None, also_unmoved: bool = True) -> None:
    import cv2
    import torch

    from posekit.io import open_video_writer
    from posekit.metrics.video import jitter, tracks_from_frames
    from posekit.pipelines.registry import build_predictor
    from posekit.pipelines.video import VideoPredictor, make_smoother
    from posekit.smoothing import savgol_track
    from posekit.tracking import TrackerConfig
    from posekit.viz import draw_poses, save_grid

    torch.set_num_threads(1)
    path = SHARED / "video" / "demo.mp4"
    if not path.is_file():
        print(f"demo: {path} not found, skipped")
        return
    frames, fps = _frames(path)
    predictor = build_predictor("movenet-thunder", "cpu")
    print(f"## demo.mp4: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]} at {fps:g} fps, "
          f"movenet-thunder, 1 torch thread, load {os.getloadavg()[0]:.1f}")
    print("| detector | fps end to end | ms/frame | detector runs | tracks (drawn poses) "
          "| max people drawn in a frame |")
    print("| --- | --- | --- | --- | --- | --- |")
    runs, runs_ms = {}, {}
    for every in (1, detect_every):
        vp = VideoPredictor(predictor, detect_every=every,
                            tracker=TrackerConfig(min_pose_score=predictor.draw_min_pose_score,
                                                  also_unmoved=also_unmoved))
        vp.predict(frames[0], 0)                                   # warm-up (traces, caches)
        vp.reset()
        out, stages = [], []
        with tempfile.TemporaryDirectory() as tmp:
            writer, _ = open_video_writer(Path(tmp) / "x.mp4", fps, (frames[0].shape[1], frames[0].shape[0]))
            t0 = time.perf_counter()
            for f_bgr_free in _frames(path)[0]:                     # decode inside the timed loop
                i = len(out)
                vf = vp.predict(f_bgr_free, i, i / fps, keep_image=True)
                stages.append(dict(vp.timings, frame=vf.ms))
                shown = vf.poses.select(vf.poses.scores >= predictor.draw_min_pose_score)
                img = draw_poses(vf.image, shown.keypoints, shown.spec, boxes=shown.boxes)
                writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                out.append(vf)
            sec = time.perf_counter() - t0
            writer.release()
        drawn_ids = {int(t) for vf in out for t, s in zip(vf.track_ids, vf.poses.scores)
                     if t >= 0 and s >= predictor.draw_min_pose_score}
        most = max(int((vf.poses.scores >= predictor.draw_min_pose_score).sum()) for vf in out)
        runs[every] = out
        mean = {k: np.mean([r.get(k, 0.0) for r in stages]) for k in stages[0]}
        runs_ms[every] = mean
        print(f"| every {every} frame(s) | {len(out) / sec:.2f} | {sec / len(out) * 1e3:.0f} | {vp.detections} | "
              f"{len(drawn_ids)} | {most} |")
    for every, mean in runs_ms.items():
        print(f"mean ms per frame, detector every {every}: "
              + ", ".join(f"{k} {v:.0f}" for k, v in mean.items()))
    # jitter of the drawn tracks, raw and smoothed (detector every frame)
    out = runs[1]
    thr = predictor.draw_min_pose_score
    keep = [(vf.poses.keypoints[vf.poses.scores >= thr], vf.track_ids[vf.poses.scores >= thr]) for vf in out]
    raw = tracks_from_frames([k for k, _ in keep], [i for _, i in keep])
    euro_s = make_smoother("one-euro", fps)
    euro_frames = [f for vf in out for f in euro_s.push(vf)]
    ek = [(f.poses.keypoints[f.poses.scores >= thr], f.track_ids[f.poses.scores >= thr]) for f in euro_frames]
    euro = tracks_from_frames([k for k, _ in ek], [i for _, i in ek])
    sg = {k: savgol_track(t, 5, 2) for k, t in raw.items()}
    print(f"\njitter of the drawn tracks (px/frame^2; {len(raw)} tracks, keypoints scoring > 0.2): raw "
          f"{jitter(raw):.2f}, One-Euro {jitter(euro):.2f}, Savitzky-Golay (window 5, order 2) {jitter(sg):.2f}")
    for every, frames_run in runs.items():
        changes = _id_changes(frames_run, thr)
        print(f"detector every {every}: track-id changes between consecutive frames (a drawn pose whose box "
              f"overlaps (IoU > 0.5) a drawn pose of the previous frame with another id): {len(changes)}"
              + "".join(f"\n  {c}" for c in changes))
    print()
    if frames_out is not None:
        frames_out.mkdir(parents=True, exist_ok=True)
        from posekit.commands.predict_video import draw_tracks
        for every, frames_run in runs.items():
            imgs = []
            for vf in frames_run:
                order = np.flatnonzero(vf.poses.scores >= thr)
                img = draw_tracks(vf.image, vf.poses.select(order), vf.track_ids[order], 0.3)
                cv2.imwrite(str(frames_out / f"demo_every{every}_{vf.frame_index:02d}.png"),
                            cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                imgs.append(cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA))
            save_grid(imgs, frames_out / f"demo_every{every}_grid.jpg", ncols=3)
        print(f"overlay frames in {frames_out}")


def box_sources() -> None:
    """Boxes of the frames without the detector: drawn people per frame of demo.mp4 with the
    detector on frame 0 only, for each ``VideoPredictor(box_source=...)``."""
    import torch

    from posekit.pipelines.registry import build_predictor
    from posekit.pipelines.video import VideoPredictor

    torch.set_num_threads(1)
    path = SHARED / "video" / "demo.mp4"
    if not path.is_file():
        print(f"box-source: {path} not found, skipped")
        return
    frames, fps = _frames(path)
    predictor = build_predictor("movenet-thunder", "cpu")
    print("## propagated boxes on demo.mp4, detector on frame 0 only: people drawn (score >= 0.17) per frame")
    for source in ("previous", "keypoints", "union"):
        vp = VideoPredictor(predictor, detect_every=len(frames), box_source=source)
        drawn = [int((vp.predict(f, i, i / fps).poses.scores >= predictor.draw_min_pose_score).sum())
                 for i, f in enumerate(frames)]
        print(f"  {source}: {drawn}")
    print()


def _id_changes(frames, thr: float) -> list[str]:
    from posekit.nms import box_iou
    n = []
    for a, b in zip(frames, frames[1:]):
        ma, mb = a.poses.scores >= thr, b.poses.scores >= thr
        if not ma.any() or not mb.any():
            continue
        iou = box_iou(b.poses.boxes[mb], a.poses.boxes[ma])
        ia, ib = a.track_ids[ma], b.track_ids[mb]
        for r in range(len(ib)):
            c = int(iou[r].argmax())
            if iou[r, c] > 0.5 and ia[c] != ib[r]:
                n.append(f"frame {b.frame_index}: #{ia[c]} -> #{ib[r]} at x {b.poses.boxes[mb][r][0]:.0f}, "
                         f"y {b.poses.boxes[mb][r][1]:.0f}")
    return n


def jhmdb() -> None:
    from posekit.cli import main
    from posekit.metrics.video import pck_per_frame

    root = SHARED / "jhmdb"
    gt = root / "test_jhmdb_sub1.json"
    if not gt.is_file():
        print(f"jhmdb: {gt} not found, skipped")
        return
    folders = sorted(str(p) for p in root.iterdir() if p.is_dir())
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["predict", "--sequence", *folders, "--gt", str(gt), "--out", tmp, "--device", "cpu",
                         "--threads", "1", "--no-overlays"])
        res = json.loads((Path(tmp) / "results.json").read_text())
    r = pck_per_frame(gt, res, alpha=0.2, norm="bbox")
    print(f"## J-HMDB sample ({len(r['per_frame'])} frames, one per clip; exit code {code}), movenet-thunder, "
          f"COCO-17 results scored on the {len(r['joints'])} joints both specs have")
    for f in r["per_frame"]:
        print(f"  {f['file_name']}: PCK@0.2 {f['pck']:.3f} ({f['joints']} joints)")
    print(f"PCK@0.2 (bbox) overall: {r['pck']:.3f}\n")


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("synthetic", "one-euro-grid", "synthetic-model", "demo", "box-source",
                                       "jhmdb"),
                    default=None)
    ap.add_argument("--detect-every", type=int, default=3)
    ap.add_argument("--frames-out", type=Path, default=None, help="save overlay frames (PNG) here")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--no-unmoved", action="store_true",
                    help="demo: tracker without TrackerConfig.also_unmoved (velocity-moved poses only)")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if a.only in (None, "synthetic"):
        synthetic(a.seeds)
    if a.only in (None, "one-euro-grid"):
        one_euro_grid()
    if a.only in (None, "synthetic-model"):
        synthetic_model(a.detect_every)
    if a.only in (None, "demo"):
        demo(a.detect_every, a.frames_out, also_unmoved=not a.no_unmoved)
    if a.only in (None, "box-source"):
        box_sources()
    if a.only in (None, "jhmdb"):
        jhmdb()
    sys.stdout.flush()


if __name__ == "__main__":
    main_()
