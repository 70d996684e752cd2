"""``posekit models [PATTERN]``: the model zoo, the pretrained models' cards and the pipelines."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``models`` parser."""
    m = subparsers.add_parser("models", help="list the model zoo, the pretrained models and the pipelines",
                              description="List the model zoo, each pretrained model's card, and the "
                                          "prediction pipelines, optionally filtered by a shell pattern.")
    m.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'hrnet*' or '*movenet*'")
    m.set_defaults(func=run_models)


def run_models(args: argparse.Namespace) -> int:
    import fnmatch

    from posekit.pipelines.registry import DEFAULT_PIPELINE, FAST_PIPELINE, PIPELINES
    from posekit.pretrained.cards import CARDS

    pat = args.pattern
    from posekit.models.zoo import list_models  # imports torch: only here
    zoo = list_models(pat)
    print(f"Model zoo (architectures to train; posekit.models.create): {len(zoo)}")
    for name in zoo:
        print(f"  {name}")
    cards = [c for n, c in sorted(CARDS.items()) if fnmatch.fnmatch(n, pat)]
    print(f"\nPretrained models (posekit.pretrained.load_pretrained): {len(cards)}")
    for c in cards:
        w, h = c.input_size
        print(f"  {c.name}")
        print(f"    task {c.task}; keypoints {c.spec or '-'}; input {w}x{h} {c.input_layout}; "
              f"normalisation: {c.normalisation.description}")
        print(f"    source {c.source_package}@{c.source_version} {c.source_file}; license {c.license}")
        print(f"    heads: {', '.join(f'{hd.key} {hd.shape}' for hd in c.heads)}")
        print(f"    cite: {c.citation}")
    pipes = [p for n, p in PIPELINES.items() if fnmatch.fnmatch(n, pat)]
    print(f"\nPrediction pipelines (posekit predict --model NAME): {len(pipes)}")
    for p in pipes:
        tag = " [default]" if p.name == DEFAULT_PIPELINE else " [fast]" if p.name == FAST_PIPELINE else ""
        print(f"  {p.name}{tag}: {p.summary}")
    return 0
