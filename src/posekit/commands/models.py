"""``posekit models [PATTERN]``: the model zoo, the pretrained models' cards and the pipelines."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posekit.pretrained.cards import ModelCard


def register(subparsers) -> None:
    """Add the ``models`` parser."""
    m = subparsers.add_parser("models", help="list the model zoo, the pretrained models and the pipelines",
                              description="List the model zoo, each pretrained model's card and whether "
                                          "its weights are in the cache (and the cache's place and size), "
                                          "and the prediction pipelines, optionally filtered by a shell "
                                          "pattern. Sections with no match are left out; exit code 1 "
                                          "when nothing matches.")
    m.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'hrnet*' or '*movenet*'")
    m.set_defaults(func=run_models)


def cache_status(card: ModelCard) -> str:
    """One phrase: is ``card``'s model in the cache, and what would its first use download."""
    from posekit.pretrained.cache import converted_paths, downloads_needed, graph_package, is_converted
    from posekit.pretrained.fetch import format_size

    if is_converted(card):
        return f"in the cache ({format_size(sum(p.stat().st_size for p in converted_paths(card)))})"
    need = downloads_needed(card)
    if not need:
        return f"not converted yet; the first use converts it from the cached {graph_package(card).spec}"
    sizes = ", ".join(f"{p.spec} ({format_size(p.size)})" if p.size else p.spec for p in need)
    return f"not in the cache; the first use downloads {sizes}"


def run_models(args: argparse.Namespace) -> int:
    import fnmatch

    from posekit.models.zoo import list_models  # imports torch: only here
    from posekit.pipelines.registry import DEFAULT_PIPELINE, FAST_PIPELINE, PIPELINES
    from posekit.pretrained.cards import CARDS
    from posekit.pretrained.fetch import cache_root, cache_size, format_size

    pat = args.pattern
    zoo = list_models(pat)
    cards = [c for n, c in sorted(CARDS.items()) if fnmatch.fnmatch(n, pat)]
    pipes = [p for n, p in PIPELINES.items() if fnmatch.fnmatch(n, pat)]
    if not (zoo or cards or pipes):
        print(f"posekit models: nothing matches {pat!r} (run 'posekit models' to list everything)",
              file=sys.stderr)
        return 1
    sections: list[list[str]] = []
    if zoo:
        sections.append([f"Model zoo (architectures to train; posekit.models.create): {len(zoo)}",
                         *(f"  {name}" for name in zoo)])
    if cards:
        root = cache_root()
        lines = [f"Pretrained models (posekit.pretrained.load_pretrained): {len(cards)}",
                 f"  cache: {root}, {format_size(cache_size(root))} (set POSEKIT_CACHE to use another folder)"]
        for c in cards:
            w, h = c.input_size
            lines += [f"  {c.name}: {cache_status(c)}",
                      f"    task {c.task}; keypoints {c.spec or '-'}; input {w}x{h} {c.input_layout}; "
                      f"normalisation: {c.normalisation.description}",
                      f"    source {c.source_package}@{c.source_version} {c.source_file}; license {c.license}",
                      f"    heads: {', '.join(f'{hd.key} {hd.shape}' for hd in c.heads)}",
                      f"    cite: {c.citation}"]
        sections.append(lines)
    if pipes:
        lines = [f"Prediction pipelines (posekit predict --model NAME): {len(pipes)}"]
        for p in pipes:
            tag = " [default]" if p.name == DEFAULT_PIPELINE else " [fast]" if p.name == FAST_PIPELINE else ""
            lines.append(f"  {p.name}{tag}: {p.summary}")
        sections.append(lines)
    print("\n\n".join("\n".join(lines) for lines in sections))
    return 0
