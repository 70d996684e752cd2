"""``posekit bench``: parameters, compute and latency of a model, a pipeline or a checkpoint.

The measuring lives in :mod:`posekit.bench`; this module parses and prints.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from posekit.errors import PosekitError


def _hw(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 256x192, got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"input sides must be positive, got {text!r}")
    return h, w


def register(subparsers) -> None:
    """Add the ``bench`` parser."""
    b = subparsers.add_parser(
        "bench", help="parameters, GFLOPs (the paper's convention) and latency of a model or pipeline",
        description="Benchmark a zoo model (random weights), a pretrained model, a training checkpoint "
                    "(.safetensors) or a prediction pipeline. A model: parameters, multiply-adds, GFLOPs "
                    "in the convention of its paper (stated), forward latency (median, p10, p90 after "
                    "warm-up) and throughput at --batch. A pipeline: latency per stage and end to end "
                    "per image on the COCO sample (../shared/data/coco, or $POSEKIT_COCO_SAMPLE; else "
                    "synthetic images) and its AP there. --all benchmarks everything and writes "
                    "docs/benchmarks.md with an accuracy-vs-latency plot. A name that is both a pipeline "
                    "and a model (posenet) is the pipeline; prefix zoo:, pretrained: or pipeline: to choose.")
    b.add_argument("target", nargs="?", help="zoo model, pretrained model, pipeline, or checkpoint path")
    b.add_argument("--input", type=_hw, default=None, metavar="HxW", help="model input (default: the model's own)")
    b.add_argument("--batch", type=int, default=1, help="images per forward pass for a model's latency (default 1)")
    b.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: the CPUs not busy by the load average)")
    b.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
    b.add_argument("--repeats", type=int, default=None,
                   help="timed runs (default: 20 forward passes for a model, 5 passes over the images for a "
                        "pipeline, 3 each with --all)")
    b.add_argument("--all", action="store_true",
                   help="every zoo model, pretrained model and pipeline; writes --out and --plot")
    b.add_argument("--out", default="docs/benchmarks.md", help="--all: the Markdown report")
    b.add_argument("--plot", default="docs/images/benchmarks_pipelines.png", help="--all: the plot")
    b.add_argument("--peer-json", default=None,
                   help="--all: the peer's figures from benchmarks/peer.py, to place it on the plot")
    b.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from posekit import bench

    if args.all:
        if args.target:
            raise PosekitError("give either a target or --all, not both")
        threads = args.threads or 2
        reps = args.repeats or 3
        command = "posekit " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["bench"] \
            else f"posekit bench --all --threads {threads} --repeats {reps}"
        path = bench.write_all(args.out, args.plot, command, threads=threads, device=args.device,
                               model_repeats=reps, pipeline_repeats=reps, peer_json=args.peer_json,
                               progress=lambda s: print(s, flush=True))
        print(f"wrote {path} and {args.plot}")
        return 0
    if not args.target:
        raise PosekitError("give a model, a pipeline or a checkpoint to benchmark (or --all)")
    kind, name = bench.resolve_target(args.target)
    if kind == "pipeline":
        if args.input or args.batch != 1:
            raise PosekitError("--input and --batch apply to models; a pipeline runs on whole images, batch 1")
        result = bench.bench_pipeline(name, threads=args.threads, device=args.device,
                                      repeats=args.repeats if args.repeats is not None else 5)
    else:
        result = bench.bench_model(name, input_hw=args.input, batch=args.batch, threads=args.threads,
                                   device=args.device, kind=kind,
                                   repeats=args.repeats if args.repeats is not None else 20)
    print("\n".join(result.lines()))
    return 0
