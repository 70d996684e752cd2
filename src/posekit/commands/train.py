"""``posekit train`` and ``posekit eval-model``.

    posekit train synthetic_sb_r18 --set optim.lr=1e-3 --set train.steps=200 --out runs/sb
    posekit train synthetic_sb_r18 --resume runs/sb/checkpoint.safetensors --out runs/sb
    torchrun --nproc_per_node 2 -m posekit.cli train synthetic_sb_r18 --out runs/sb_ddp
    posekit eval-model runs/sb/checkpoint.safetensors --gt person_keypoints.json --images imgs/
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a top-down model from a preset",
        description="Train a preset (see --list-presets) with dotted overrides; the resolved config is "
                    "printed and saved as config.json beside the run, with log.csv, eval.csv and "
                    "checkpoint.safetensors.")
    p.add_argument("preset", nargs="?", help="preset name (see --list-presets)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set optim.lr=1e-3 (repeatable)")
    p.add_argument("--out", default=None, help="run folder (default runs/<preset name>)")
    p.add_argument("--resume", default=None, metavar="CKPT", help="continue from this checkpoint")
    p.add_argument("--list-presets", action="store_true", help="list the presets and the valid keys, then exit")
    p.set_defaults(func=run_train)

    e = subparsers.add_parser(
        "eval-model", help="evaluate a trained checkpoint on an annotated set with GT boxes",
        description="Crop every annotated person from its ground-truth box, predict (with flip test), "
                    "map back to the image and score: COCO AP for COCO JSON, PCKh for MPII, else PCK.")
    e.add_argument("checkpoint", help="a checkpoint.safetensors written by posekit train")
    e.add_argument("--gt", required=True, help="annotation file (COCO JSON, MPII JSON/.mat, ...)")
    e.add_argument("--images", required=True, help="image folder")
    e.add_argument("--metric", choices=("coco", "pck", "pckh"), default=None,
                   help="default: coco for COCO files, pckh for MPII, pck otherwise")
    e.add_argument("--no-flip", action="store_true", help="disable the flip test")
    e.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default auto)")
    e.add_argument("--batch-size", type=int, default=32)
    e.set_defaults(func=run_eval_model)


def run_train(args: argparse.Namespace) -> int:
    from posekit.engine.config import apply_overrides, config_json, valid_keys
    from posekit.engine.presets import PRESETS, get_preset
    from posekit.errors import PosekitError

    if args.list_presets:
        for name, fn in sorted(PRESETS.items()):
            print(f"{name}: {(fn.__doc__ or '').strip().splitlines()[0]}")
        print("keys: " + ", ".join(valid_keys()))
        return 0
    if not args.preset:
        raise PosekitError(f"give a preset; valid presets: {', '.join(sorted(PRESETS))}")
    cfg = apply_overrides(get_preset(args.preset), args.overrides)
    out = args.out or os.path.join("runs", cfg.name)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if main_rank:
        print(config_json(cfg))
        sys.stdout.flush()
    from posekit.engine.train import train
    result = train(cfg, out, resume=args.resume)
    if main_rank:
        last = result.losses[-1][1] if result.losses else float("nan")
        print(f"done: {len(result.losses)} steps in {result.seconds:.1f} s, last loss {last:.6g}, "
              f"checkpoint {result.checkpoint}")
        if result.evals:
            print("last evaluation: " + json.dumps(result.evals[-1]))
    return 0


def run_eval_model(args: argparse.Namespace) -> int:
    from posekit.engine.evaluate import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, args.gt, args.images, metric=args.metric,
                                  device=args.device, flip_test=not args.no_flip, batch_size=args.batch_size)
    print(json.dumps(metrics, indent=2))
    return 0
