"""RMPE on synthetic data: the fitted parametric pose NMS, and the SSTN / PGPG / P-NMS ablation.

    .venv/bin/python benchmarks/rmpe_ablation.py pnms                 # ~1 min: fitted P-NMS vs authors vs OKS-NMS
    .venv/bin/python benchmarks/rmpe_ablation.py ablation --steps 150 # ~10 min: baseline / +SSTN / +PGPG / +P-NMS
    .venv/bin/python benchmarks/rmpe_ablation.py figure               # docs/images/rmpe.png

``pnms``: crowded synthetic scenes (3-6 people) whose ground-truth poses become pose proposals with
duplicates (:func:`posekit.rmpe.synthetic_proposals`); the four P-NMS parameters are fitted on
one set of scenes (:func:`posekit.rmpe.fit_pnms`) and every method is scored with COCO AP on
other, held-out scenes: no NMS, OKS-NMS at 0.9 (HRNet's value) and at the threshold best on the
fitting scenes, P-NMS with the authors' values and with the fitted ones.

``ablation``: the rmpe_sb_r18_synthetic preset (SimpleBaseline R18 at 128x96 on synthetic figures,
crops from a simulated detector off by up to ±30%, the same detector on held-out scenes) with
each part switched off in turn, same steps, same base model, same data:

* baseline: SimpleBaseline R18 trained on the detector's crops;
* +SSTN: the same inside the SSTN, trained with the parallel SPPE branch;
* +SSTN +PGPG: training crops drawn from PGPG (8 atomic poses) instead of the one detector box;
* +P-NMS: the last model on crowded held-out scenes, several detector boxes per person (the
  duplicates pose NMS must remove), COCO AP after OKS-NMS and after P-NMS with the authors'
  and with fitted parameters (fitted on other scenes, run through the same model).

PCK is torso-normalised PCK@0.2 and box-normalised PCK@0.05 on the held-out people's detector
boxes (and, for reference, the baseline on their true boxes). Prints a markdown table and the
machine's load average; the numbers in docs/rmpe.md come from this script.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np


def pnms_figure(n_fit: int, n_test: int) -> None:
    from posekit.rmpe import AUTHORS_PNMS, fit_oks_threshold, fit_pnms, nms_ap, synthetic_proposals
    from posekit.skeleton import COCO17
    t0 = time.time()
    fit_gt, fit_props = synthetic_proposals(n_fit, seed=1)
    test_gt, test_props = synthetic_proposals(n_test, seed=2)
    sig = COCO17.sigmas_array()
    oks_t, _ = fit_oks_threshold(fit_gt, fit_props, sig)
    fit = fit_pnms(fit_gt, fit_props)
    p = fit.params
    n = sum(len(x.scores) for x in test_props)
    people = sum(r.num_people for r in test_gt)
    print(f"fitting scenes: {n_fit}, held-out scenes: {n_test} ({people} people, {n} proposals)")
    print(f"fitted: sigma1={p.sigma1:g} sigma2={p.sigma2:g} lambda={p.lam:g} eta={p.eta:.4g} "
          f"(authors: {AUTHORS_PNMS.sigma1:g} {AUTHORS_PNMS.sigma2:g} {AUTHORS_PNMS.lam:g} {AUTHORS_PNMS.eta:g}); "
          f"fitting-set AP {fit.start_ap:.4f} -> {fit.ap:.4f}, {fit.evaluations} evaluations")
    print("\n| pose NMS (held-out scenes) | AP | AP50 | AP75 |\n|---|---|---|---|")
    rows = [("none", lambda i, q: np.arange(len(q.scores))),
            ("OKS-NMS 0.9", None), (f"OKS-NMS {oks_t:g} (best on the fitting scenes)", None),
            ("P-NMS, authors' parameters", AUTHORS_PNMS), ("P-NMS, fitted parameters", p)]
    for name, how in rows:
        vals = []
        for key in ("AP", "AP50", "AP75"):
            if callable(how):
                vals.append(nms_ap(test_gt, test_props, how, key))
            elif how is None:
                t = 0.9 if "0.9" in name else oks_t
                from posekit.nms import oks_nms
                vals.append(nms_ap(test_gt, test_props,
                                   lambda i, q: oks_nms(q.keypoints, q.scores, sig, t, boxes=q.boxes), key))
            else:
                kw = how.kwargs()
                from posekit.nms import parametric_pose_nms
                vals.append(nms_ap(test_gt, test_props,
                                   lambda i, q: parametric_pose_nms(q.keypoints, q.scores, q.boxes, **kw), key))
        print(f"| {name} | {vals[0]:.4f} | {vals[1]:.4f} | {vals[2]:.4f} |")
    print(f"\n{time.time() - t0:.0f} s; load average {os.getloadavg()}")


def _train(cfg, out: str) -> tuple[dict, object]:
    from posekit.engine.train import train
    r = train(cfg, out, overwrite=True)
    return r.evals[-1], r


def _crowd_proposals(est_model, codec, cfg, n: int, seed: int, dups: int):
    """Crowded held-out scenes, ``dups`` simulated-detector boxes per person, each cropped and
    run through the model: ``(records, ImageProposals per image)``."""
    import torch

    from posekit.data.datasets import MemoryImages, TopDownDataset
    from posekit.data.pgpg import SimulatedDetector
    from posekit.data.records import ImageRecord
    from posekit.data.synthetic import make_dataset
    from posekit.engine.evaluate import predict_topdown
    from posekit.pipelines.topdown import recipe_instance_scores
    from posekit.rmpe import ImageProposals
    from posekit.skeleton import COCO17
    W, H = cfg.data.input_size
    side = int(round(max(W, H) * 1.25))
    pairs = make_dataset(n, seed, size=(int(side * 1.5), side), num_people=(3, 5))
    images, records = MemoryImages.from_pairs(pairs)
    # every person repeated `dups` times: the detector gives each copy its own box
    rep = [ImageRecord.create(r.file_name, r.width, r.height, np.repeat(r.keypoints, dups, 0), COCO17,
                              boxes=np.repeat(r.boxes, dups, 0), areas=np.repeat(r.areas, dups, 0),
                              image_id=r.image_id) for r in records]
    det = SimulatedDetector(cfg.data.detector_jitter, cfg.data.detector_pull, seed=seed)
    from posekit.data.transforms import AugConfig
    ds = TopDownDataset(rep, images, COCO17, input_size=(W, H), train=False, box_sampler=det,
                        aug=AugConfig.off(padding=cfg.data.aug_kwargs.get("padding", 1.25)))
    pred, where = predict_topdown(est_model, codec, ds, COCO17, torch.device("cpu"), flip_test=False)
    boxes = np.stack([det(ds.person_box(i, p), rep[i].keypoints[p], None, (i, p)) for i, p in where])
    scores = recipe_instance_scores(np.ones(len(pred)), pred[:, :, 2], 0.2)
    img = np.array([i for i, _ in where])
    props = [ImageProposals(records[i].image_id, pred[img == i].astype(np.float64), scores[img == i].astype(np.float64),
                            boxes[img == i]) for i in range(len(records))]
    return records, props


def theta_error(model, cfg) -> tuple[float, float]:
    """How well the STN centres the held-out people: the mean absolute difference between its
    ``theta`` and the transform that would turn each held-out crop (the detector's box) into the
    crop of the person's true box (``theta* = [[s_t / s_c, 0, 2 (c_t - c_c) / s_c], ...]`` per
    axis, ``c``, ``s`` the crop boxes' centres and sizes), over the four scale and shift
    entries; and the same for the identity (an STN that does nothing). ``model`` an SSTN."""
    import torch

    from posekit.engine.data import build_eval_set
    from posekit.geometry import box_to_center_size
    from posekit.skeleton import COCO17
    ds = build_eval_set(cfg, COCO17).dataset
    W, H = cfg.data.input_size
    images, targets = [], []
    for k, (i, p) in enumerate(ds.samples):
        s = ds[k]
        ct, st = box_to_center_size(ds.person_box(i, p), aspect_ratio=W / H, padding=ds.aug.padding)
        cc, sc = s["center"].numpy().astype(np.float64), s["size"].numpy().astype(np.float64)
        targets.append([st[0] / sc[0], st[1] / sc[1], 2 * (ct[0] - cc[0]) / sc[0], 2 * (ct[1] - cc[1]) / sc[1]])
        images.append(s["image"])
    was = model.training
    model.eval()
    with torch.no_grad():
        theta = torch.cat([model.theta(torch.stack(images[j:j + 64])) for j in range(0, len(images), 64)]).numpy()
    model.train(was)
    got = np.stack([theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2]], 1)
    want = np.asarray(targets)
    identity = np.array([1.0, 1.0, 0.0, 0.0])
    return float(np.abs(got - want).mean()), float(np.abs(identity - want).mean())


#: The ablation's rows: key -> label. Every row is rmpe_sb_r18_synthetic at the same steps, data
#: and crops; "baseline" is its SPPE alone (model.kwargs without the STN's own keys).
ROWS = {
    "baseline": "baseline (SimpleBaseline R18)",
    "sstn": "+SSTN (the preset's STN)",
    "sstn_nowarmup": "+SSTN, STN trained from step 0 (no warm-up)",
    "sstn_notheta": "+SSTN without the centring loss (parallel branch only)",
    "sstn_paper": "+SSTN as in the paper (affine, no warm-up, no centring loss)",
    "sstn_affine": "+SSTN, affine STN",
    "sstn_pgpg": "+SSTN +PGPG (8 atomic poses)",
}
STN_KEYS = ("stn_mode", "stn_warmup", "stn_channels", "theta_loss")


def ablation_configs(steps: int, num_train: int, num_val: int, rows: list[str], padding: float | None = None,
                     extra: list[str] = ()) -> list[tuple[str, str, object]]:
    """``(row key, label, config)`` of each row: the rmpe_sb_r18_synthetic preset at ``steps``
    steps (its STN warm-up scaled to the same fraction of the run), ``padding`` (None: the
    preset's) for the training and the held-out crops of every row, ``extra`` overrides, then
    the row's own change."""
    from posekit.engine.config import apply_overrides
    from posekit.engine.presets import get_preset
    preset = get_preset("rmpe_sb_r18_synthetic")
    kw = dict(preset.model.kwargs)
    if "stn_warmup" in kw:
        kw["stn_warmup"] = int(round(kw["stn_warmup"] * steps / preset.train.steps))
    aug = dict(preset.data.aug_kwargs)
    if padding is not None:
        aug["padding"] = float(padding)
    common = {"train.steps": steps, "data.num_train": num_train, "data.num_val": num_val, "train.eval_every": 0,
              "train.checkpoint_every": steps, "train.progress": False, "data.aug_kwargs": aug, "model.kwargs": kw}
    full = apply_overrides(apply_overrides(preset, common), list(extra))
    kw = dict(full.model.kwargs)
    sppe = {k: v for k, v in kw.items() if k not in STN_KEYS}
    change = {
        "baseline": {"model.arch": "simple_baseline_r18", "model.kwargs": sppe, "data.pgpg_atoms": 0},
        "sstn": {"data.pgpg_atoms": 0},
        "sstn_nowarmup": {"data.pgpg_atoms": 0, "model.kwargs": {**kw, "stn_warmup": 0}},
        "sstn_affine": {"data.pgpg_atoms": 0, "model.kwargs": {**kw, "stn_mode": "affine"}},
        "sstn_notheta": {"data.pgpg_atoms": 0, "model.kwargs": {**kw, "theta_loss": False}},
        "sstn_paper": {"data.pgpg_atoms": 0, "model.kwargs": {**sppe, "stn_mode": "affine"}},
        "sstn_pgpg": {},
    }
    out = []
    for key in rows:
        if key not in ROWS:
            raise SystemExit(f"unknown row {key!r}; valid: {', '.join(ROWS)}")
        out.append((key, ROWS[key], apply_overrides(full, change[key])))
    return out


def ablation(steps: int, num_train: int, num_val: int, crowd: int, rows: list[str] | None = None,
             padding: float | None = None, extra: list[str] = ()) -> None:
    import torch
    torch.set_num_threads(1)
    from posekit.engine.config import apply_overrides
    from posekit.engine.data import build_eval_set
    from posekit.engine.evaluate import evaluate_model
    from posekit.models.estimator import Estimator
    from posekit.nms import oks_nms, parametric_pose_nms
    from posekit.rmpe import AUTHORS_PNMS, fit_oks_threshold, fit_pnms, nms_ap
    from posekit.skeleton import COCO17

    print(f"load average before: {os.getloadavg()}")
    configs = ablation_configs(steps, num_train, num_val, rows or list(ROWS), padding, extra)
    full = configs[0][2]
    table, thetas = [], []
    result = None
    with tempfile.TemporaryDirectory() as tmp:
        for i, (key, name, cfg) in enumerate(configs):
            print(f"{name}: model.arch={cfg.model.arch} model.kwargs={cfg.model.kwargs} "
                  f"data.pgpg_atoms={cfg.data.pgpg_atoms} crop padding {cfg.data.aug_kwargs.get('padding', 1.25):g}",
                  flush=True)
            t = time.time()
            final, result = _train(cfg, os.path.join(tmp, f"run{i}"))
            secs = time.time() - t
            table.append((name, final, secs))
            print(f"{name}: {final} ({secs:.0f} s)", flush=True)
            if cfg.model.arch.startswith("sstn"):
                est = Estimator.from_checkpoint(result.checkpoint, device="cpu")
                err, ident = theta_error(est.module, cfg)
                thetas.append((name, err, ident))
                print(f"{name}: |theta - theta*| {err:.3f} (identity: {ident:.3f})", flush=True)
            if key == "baseline":     # reference: the baseline on the true boxes
                est = Estimator.from_checkpoint(result.checkpoint, device="cpu")
                true_cfg = apply_overrides(cfg, ["data.detector_jitter=0"])
                ref = evaluate_model(est.module, est.codec, build_eval_set(true_cfg, COCO17), COCO17,
                                     torch.device("cpu"))
                table.append(("(baseline on true boxes)", ref, 0.0))
        if crowd > 0 and configs[-1][0] == "sstn_pgpg":
            est = Estimator.from_checkpoint(result.checkpoint, device="cpu")
            model, codec = est.module, est.codec
            fit_gt, fit_props = _crowd_proposals(model, codec, configs[-1][2], crowd, 11, 4)
            test_gt, test_props = _crowd_proposals(model, codec, configs[-1][2], crowd, 12, 4)
        else:
            crowd = 0
    print(f"\nsteps {steps}, batch {full.train.batch_size}, {num_train} training scenes, {num_val} held-out scenes; "
          f"detector jitter ±{full.data.detector_jitter:g}, pull {full.data.detector_pull:g}; crop padding "
          f"{full.data.aug_kwargs.get('padding', 1.25):g} (training and held-out crops of every row)")
    print("\n| model | PCK@0.2 torso | PCK@0.05 box | PCK@0.2 box | train s |\n|---|---|---|---|---|")
    for name, m, secs in table:
        print(f"| {name} | {m['pck@0.2_torso']:.3f} | {m['pck@0.05_bbox']:.3f} | {m['pck@0.2_bbox']:.3f} | "
              f"{secs:.0f} |")
    if thetas:
        print("\nthe STN against the transform from the detector's crop to the true box's crop (mean absolute "
              "error of the scale and shift entries of theta, held-out people):\n")
        print("| model | STN | identity |\n|---|---|---|")
        for name, err, ident in thetas:
            print(f"| {name} | {err:.3f} | {ident:.3f} |")
    if crowd == 0:
        print(f"\nload average after: {os.getloadavg()}")
        return
    sig = COCO17.sigmas_array()
    oks_t, _ = fit_oks_threshold(fit_gt, fit_props, sig)
    fit = fit_pnms(fit_gt, fit_props)
    kw_a, kw_f = AUTHORS_PNMS.kwargs(), fit.params.kwargs()
    nms_rows = [
        ("+P-NMS: none", lambda i, q: np.arange(len(q.scores))),
        ("+P-NMS: OKS-NMS 0.9 (instead)", lambda i, q: oks_nms(q.keypoints, q.scores, sig, 0.9, boxes=q.boxes)),
        (f"+P-NMS: OKS-NMS {oks_t:g}, tuned (instead)",
         lambda i, q: oks_nms(q.keypoints, q.scores, sig, oks_t, boxes=q.boxes)),
        ("+P-NMS: authors' parameters", lambda i, q: parametric_pose_nms(q.keypoints, q.scores, q.boxes, **kw_a)),
        ("+P-NMS: fitted parameters", lambda i, q: parametric_pose_nms(q.keypoints, q.scores, q.boxes, **kw_f)),
    ]
    p = fit.params
    print(f"\ncrowded held-out scenes: {crowd} to fit P-NMS / OKS threshold, {crowd} to test, 3-5 people, "
          f"4 detector boxes per person, the +SSTN +PGPG model; fitted sigma1={p.sigma1:g} sigma2={p.sigma2:g} "
          f"lambda={p.lam:g} eta={p.eta:.4g}")
    print("\n| pose NMS | AP | AP50 | AP75 |\n|---|---|---|---|")
    for name, fn in nms_rows:
        print(f"| {name} | " + " | ".join(f"{nms_ap(test_gt, test_props, fn, k):.4f}" for k in ("AP", "AP50", "AP75"))
              + " |")
    print(f"\nload average after: {os.getloadavg()}")


def figure(out: str) -> None:
    """docs/images/rmpe.png: (a) the framework (detector box -> STN -> SPPE -> SDTN, the parallel
    SPPE branch with centred targets, PGPG in training, P-NMS at the end); (b) a synthetic scene with
    a person's true box, the simulated detector's box and PGPG proposals for that person; (c) the
    crop the detector's box gives and (d) the centred crop the parallel branch is supervised with."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

    from posekit.data.pgpg import SimulatedDetector, detector_pairs, fit_pgpg
    from posekit.data.synthetic import make_dataset
    from posekit.data.transforms import topdown_transform
    from posekit.skeleton import COCO17

    fig = plt.figure(figsize=(13, 4.6))
    ax = fig.add_axes([0.0, 0.0, 0.5, 1.0])
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")

    def box(x, y, w, h, text, colour):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="0.2"))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5)

    def arrow(a, b, style="-|>", ls="-"):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=12, lw=1.2, ls=ls, color="0.2"))

    box(0.1, 3.6, 1.5, 0.9, "detector box\n(training: PGPG\nproposals)", "#f6d8a8")
    box(2.1, 3.6, 1.3, 0.9, "STN\nθ = loc(crop)", "#bcd8f0")
    box(3.9, 3.6, 1.3, 0.9, "SPPE\n(SB-R18)", "#c9e7c0")
    box(5.7, 3.6, 1.4, 0.9, "SDTN\nwarp by θ⁻¹", "#bcd8f0")
    box(7.6, 3.6, 1.2, 0.9, "pose\n(crop frame)", "#eeeeee")
    box(3.9, 1.7, 1.3, 0.9, "parallel SPPE\n(frozen)", "#dddddd")
    box(5.7, 1.7, 1.9, 0.9, "loss vs centred\nground truth", "#f3c4c4")
    box(7.6, 0.3, 2.2, 0.9, "parametric pose NMS\n(σ1, σ2, λ, η fitted)", "#e2d2f0")
    arrow((1.65, 4.05), (2.05, 4.05))
    arrow((3.45, 4.05), (3.85, 4.05))
    arrow((5.25, 4.05), (5.65, 4.05))
    arrow((7.15, 4.05), (7.55, 4.05))
    arrow((3.1, 3.55), (3.9, 2.2))
    arrow((5.25, 2.15), (5.65, 2.15))
    arrow((8.2, 3.55), (8.7, 1.25))
    ax.text(4.6, 1.25, "gradient only into the STN", fontsize=8, ha="center", style="italic")
    ax.text(0.2, 5.5, "(a) RMPE (Fang et al., ICCV 2017) in posekit", fontsize=10)
    ax.text(5.7, 4.75, "loss vs crop's ground truth", fontsize=8)

    (image, rec), = make_dataset(1, 24, size=(240, 160), num_people=(2, 2))
    det = SimulatedDetector(0.3, 0.3, seed=0)
    train = [r for _, r in make_dataset(80, 5, size=(160, 160), num_people=(1, 1))]
    kps, true, detected = detector_pairs(train, det)
    model = fit_pgpg(kps, true, detected, atoms=8, seed=0)
    p = int(np.argmax(rec.boxes[:, 3] - rec.boxes[:, 1]))
    tb = rec.boxes[p].astype(np.float64)
    db = det(tb, rec.keypoints[p], None, (0, p))
    ax2 = fig.add_axes([0.5, 0.05, 0.24, 0.9])
    ax2.imshow(image)
    for b in model.sample(rec.keypoints[p], tb, np.random.default_rng(0), 6):
        ax2.add_patch(Rectangle(b[:2], *(b[2:] - b[:2]), fill=False, ec="orange", lw=1, ls="--"))
    ax2.add_patch(Rectangle(tb[:2], *(tb[2:] - tb[:2]), fill=False, ec="lime", lw=2))
    ax2.add_patch(Rectangle(db[:2], *(db[2:] - db[:2]), fill=False, ec="red", lw=2))
    ax2.set_title("(b) true box (green), detector (red),\nPGPG proposals (orange)", fontsize=9)
    ax2.axis("off")
    poor = topdown_transform(image, rec.keypoints[p], db, COCO17, (96, 128))
    good = topdown_transform(image, rec.keypoints[p], tb, COCO17, (96, 128))
    for k, (s, title) in enumerate(((poor, "(c) detector-box crop"), (good, "(d) centred crop\n(parallel target)"))):
        a = fig.add_axes([0.75 + 0.125 * k, 0.05, 0.12, 0.9])
        a.imshow(s.image)
        v = s.keypoints[:, 2] > 0
        a.scatter(s.keypoints[v, 0], s.keypoints[v, 1], s=8, c="yellow", edgecolors="k", linewidths=0.4)
        a.set_title(title, fontsize=9)
        a.axis("off")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pnms")
    p.add_argument("--fit", type=int, default=100, help="fitting scenes")
    p.add_argument("--test", type=int, default=100, help="held-out scenes")
    a = sub.add_parser("ablation")
    a.add_argument("--steps", type=int, default=150)
    a.add_argument("--num-train", type=int, default=1024)
    a.add_argument("--num-val", type=int, default=96)
    a.add_argument("--crowd", type=int, default=40, help="crowded scenes to fit, and as many to test, P-NMS "
                                                          "(0: no P-NMS part; it needs the sstn_pgpg row last)")
    a.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows, of: {', '.join(ROWS)}")
    a.add_argument("--padding", type=float, default=None,
                   help="crop padding of the person box, training and held-out crops of every row (default: the preset's)")
    a.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override for every row, before the row's own change")
    f = sub.add_parser("figure")
    f.add_argument("--out", default="docs/images/rmpe.png")
    args = ap.parse_args(argv)
    if args.what == "figure":
        figure(args.out)
    elif args.what == "pnms":
        pnms_figure(args.fit, args.test)
    else:
        ablation(args.steps, args.num_train, args.num_val, args.crowd, args.rows.split(","), args.padding, args.set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
