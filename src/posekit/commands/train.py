"""``posekit train`` and ``posekit eval-model``.

    posekit train synthetic_sb_r18 --set optim.lr=1e-3 --set train.steps=200 --out runs/sb
    posekit train synthetic_sb_r18 --resume runs/sb/checkpoint.safetensors   # --out: its folder
    posekit train synthetic_sb_r18 --out runs/sb --overwrite                 # replace that run
    torchrun --nproc_per_node 2 -m posekit.cli train synthetic_sb_r18 --out runs/sb_ddp
    posekit eval-model runs/sb/checkpoint.safetensors --gt person_keypoints.json --images imgs/

Ctrl-C during ``train`` finishes the current step, saves a checkpoint and says its step (exit
code 130); SIGTERM (SLURM, Kubernetes, ``kill``) does the same (exit code 143). ``--resume``
that checkpoint continues the run exactly. The paper presets take the data set's location
from ``--set data.root=...``:

    posekit train hrnet_w32_coco_256x192 --set data.root=/data/coco --out runs/hrnet_w32
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import signal
import sys
import textwrap


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model (top-down or bottom-up) from a preset",
        description="Train a preset (see --list-presets) with dotted overrides; the resolved config is "
                    "printed and saved as config.json beside the run, with log.csv, eval.csv and "
                    "checkpoint.safetensors.")
    p.add_argument("preset", nargs="?", help="preset name (see --list-presets)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set optim.lr=1e-3 (repeatable)")
    p.add_argument("--out", default=None,
                   help="run folder (default: the folder of --resume, else runs/<preset name>)")
    p.add_argument("--resume", default=None, metavar="CKPT", help="continue from this checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="train into a run folder that already holds a run, deleting its checkpoint and logs")
    p.add_argument("--list-presets", action="store_true", help="list the presets and the valid keys, then exit")
    p.set_defaults(func=run_train)

    from posekit.commands.predict import add_box_options
    e = subparsers.add_parser(
        "eval-model", help="evaluate a trained checkpoint by its evaluation protocol (cfg.eval)",
        description="posekit predict on the ground-truth boxes (every labelled, non-crowd person) or on the "
                    "protocol's boxes, followed by the metric, by the evaluation protocol saved with the "
                    "checkpoint (its config's eval: boxes, flip test, instance scores, OKS-NMS, metric); "
                    "the options override it. With --as-predict, the same numbers as predict then eval.")
    e.add_argument("checkpoint", help="a checkpoint.safetensors written by posekit train")
    e.add_argument("--gt", required=True, help="annotation file (COCO JSON, MPII JSON/.mat, ...)")
    e.add_argument("--images", required=True, help="image folder")
    e.add_argument("--metric", choices=("coco", "pck", "pckh"), default=None,
                   help="default: the checkpoint's eval.metric (auto: coco for COCO files, pckh for MPII, "
                        "pck otherwise)")
    add_box_options(e, "instead of the ground truth's (default: the checkpoint's eval.boxes)",
                    "by image_id; OKS-NMS at eval.oks_nms_threshold; metric coco only")
    e.set_defaults(box_score=None)
    e.add_argument("--gt-boxes", action="store_true", help="ground-truth boxes even if the checkpoint's "
                   "eval.boxes names detections")
    e.add_argument("--flip-test", dest="flip_test", action="store_true", default=None,
                   help="average with the mirrored crops (default: the checkpoint's eval.flip_test)")
    e.add_argument("--no-flip-test", "--no-flip", dest="flip_test", action="store_false",
                   help="disable the flip test")
    e.add_argument("--flip-shift", choices=("auto", "on", "off"), default=None,
                   help="shift the flipped-back heatmaps one pixel (default: the checkpoint's eval.flip_shift)")
    e.add_argument("--keypoint-score-threshold", type=float, default=None, metavar="T",
                   help="instance score: box score x mean keypoint score above T (default: the checkpoint's "
                        "eval.keypoint_score_threshold)")
    e.add_argument("--oks-nms", type=float, default=None, metavar="T",
                   help="with boxes: OKS-NMS threshold, 1 = none (default: the checkpoint's eval.oks_nms_threshold)")
    e.add_argument("--as-predict", action="store_true",
                   help="score and OKS-NMS the poses as posekit predict does (sqrt(box score) x confident-"
                        "keypoint mass, OKS-NMS 0.5 on given boxes) instead of the checkpoint's protocol: "
                        "the numbers of predict then eval")
    e.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default auto)")
    e.add_argument("--batch-size", type=int, default=None,
                   help="crops per forward pass (default: predict's, 1 on the CPU and 16 on a GPU, so that the "
                        "numbers equal predict's to the last digit)")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    e.set_defaults(func=run_eval_model)


def run_train(args: argparse.Namespace) -> int:
    from posekit.engine.config import apply_overrides, config_json
    from posekit.engine.presets import PRESETS, get_preset
    from posekit.errors import PosekitError

    if args.list_presets:
        print(preset_listing(shutil.get_terminal_size().columns))
        return 0
    from posekit.engine.presets import POSEFIX_PRESETS
    if not args.preset:
        raise PosekitError(f"give a preset; valid presets: {', '.join(sorted({*PRESETS, *POSEFIX_PRESETS}))}")
    if args.preset in POSEFIX_PRESETS:
        return _train_posefix(args)
    cfg = apply_overrides(get_preset(args.preset), args.overrides)
    if args.out:
        out = args.out
    elif args.resume:                        # continue the run where its checkpoint lies
        out = os.path.dirname(args.resume) or "."
    else:
        out = os.path.join("runs", cfg.name)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if main_rank:
        print(config_json(cfg))
        sys.stdout.flush()
    from posekit.engine.train import TrainingInterrupted, train
    try:
        result = train(cfg, out, resume=args.resume, overwrite=args.overwrite)
    except TrainingInterrupted as e:
        if main_rank:
            print(f"posekit train: {e}" + (f"; continue with --resume {e.checkpoint}" if e.checkpoint else ""),
                  file=sys.stderr)
        return 128 + int(e.signum or signal.SIGINT)      # 130 for Ctrl-C, 143 for SIGTERM
    if main_rank:
        last = result.losses[-1][1]
        print(f"done: {len(result.losses)} steps in {result.seconds:.1f} s, last loss {last:.6g}, "
              f"checkpoint {result.checkpoint}")
        if result.evals:
            print("last evaluation: " + json.dumps(result.evals[-1]))
    return 0


def _train_posefix(args: argparse.Namespace) -> int:
    """``posekit train posefix_synthetic``: a PoseFix refiner (:mod:`posekit.engine.posefix`,
    its own loop: no resume, one process) -> ``OUT/posefix.safetensors`` for ``posekit predict
    --refine``. ``--set`` takes :class:`~posekit.engine.posefix.PoseFixConfig` fields."""
    import dataclasses

    from posekit.engine.config import coerce_override
    from posekit.engine.posefix import CHECKPOINT_NAME, PoseFixConfig, train_posefix
    from posekit.engine.presets import get_posefix_preset
    from posekit.errors import PosekitError

    if args.resume:
        raise PosekitError("PoseFix training has no --resume (it is short: start it again)")
    cfg = get_posefix_preset(args.preset)
    fields = {f.name for f in dataclasses.fields(PoseFixConfig)}
    changes = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise PosekitError(f"--set {item}: PoseFix presets take KEY=VALUE with KEY one of {', '.join(sorted(fields))}")
        changes[key] = coerce_override(key, value.strip(), getattr(cfg, key))
    cfg = dataclasses.replace(cfg, **changes)
    out = args.out or os.path.join("runs", args.preset)
    target = os.path.join(out, CHECKPOINT_NAME)
    if os.path.exists(target) and not args.overwrite:
        raise PosekitError(f"{target} exists: give another --out, or --overwrite to replace it")
    print(json.dumps(dataclasses.asdict(cfg)))
    _, losses = train_posefix(cfg, out, progress=True)
    print(f"done: {len(losses)} steps, last loss {losses[-1][1]:.6g}, refiner {target} "
          f"(posekit predict ... --refine {target})")
    return 0


def preset_listing(width: int = 100) -> str:
    """Every preset with its whole description (the first paragraph of its docstring),
    wrapped to ``width`` columns, then the valid config keys."""
    from posekit.engine.config import valid_keys
    from posekit.engine.presets import PRESETS

    width = max(width, 40)
    lines = []
    for name, fn in sorted(PRESETS.items()):
        summary = " ".join((inspect.getdoc(fn) or "").split("\n\n")[0].split())
        lines.append(name)
        lines += textwrap.wrap(summary, width, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False)
    lines += textwrap.wrap("keys: " + ", ".join(valid_keys()), width, subsequent_indent="    ",
                           break_on_hyphens=False)
    return "\n".join(lines)


def run_eval_model(args: argparse.Namespace) -> int:
    from posekit.commands.eval import _table
    from posekit.engine.evaluate import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, args.gt, args.images, metric=args.metric,
                                  device=args.device, flip_test=args.flip_test, batch_size=args.batch_size,
                                  boxes=args.boxes, box_score=args.box_score, gt_boxes=args.gt_boxes,
                                  as_predict=args.as_predict, flip_shift=args.flip_shift,
                                  keypoint_score_threshold=args.keypoint_score_threshold,
                                  oks_nms_threshold=args.oks_nms)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(_table(f"{args.checkpoint} on {args.gt}", metrics))
    return 0
