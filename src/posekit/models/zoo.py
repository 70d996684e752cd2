"""The model zoo: one index of the trainable architectures, and the pretrained models beside them.

Adding a trainable architecture is two things: its builder function, named like the entry, in
its own module under ``posekit.models``, and one :class:`ZooEntry` in :data:`ENTRIES` below.
``create``, ``list_models``, ``posekit models``, ``posekit train --set model.arch=NAME`` and the
contract tests (``tests/models/test_zoo.py``, which run every entry at its ``test_input_wh``)
all read :data:`ZOO`; no other code keeps a list of the architectures.

``create("hrnet_w32", num_keypoints=17)`` is the same as calling
``posekit.models.hrnet.hrnet_w32(num_keypoints=17)``. An entry names its builder's *module*
rather than holding the function, so that this index and ``list_models`` work without importing
torch (``import posekit.models`` takes 0.1 s instead of 1.4 s of CPU); the module is imported by
:meth:`ZooEntry.builder` (a test resolves every entry).

The pretrained models (TF.js / TFLite graphs from npm packages) are indexed by their model
cards, :data:`posekit.pretrained.cards.CARDS`; :func:`entries` lists both kinds in one list.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from posekit.pretrained.cards import ModelCard

__all__ = ["ZooEntry", "ENTRIES", "ZOO", "create", "list_models", "builder_kwargs", "entries"]


@dataclass(frozen=True)
class ZooEntry:
    """One trainable architecture.

    - ``name``: the zoo name, which is also the name of the builder function in ``module``;
    - ``module``: the module holding the builder (imported only when the model is built);
    - ``paper``: short reference (authors, venue, year); the module docstring has the full one;
    - ``input_wh``: the default input ``(W, H)`` in pixels (the model's ``default_input_size``
      and the builders' ``input_size`` are ``(H, W)``);
    - ``spec``: keypoint spec of the builder's default ``num_keypoints``
      (:func:`posekit.skeleton.get_spec` name);
    - ``outputs``: how many head tensors ``forward`` returns (more than one: a list for
      intermediate supervision, the final prediction last); for a bottom-up model, how many
      stages its heads dict lists under ``"stages"``;
    - ``test_input_wh`` / ``test_kwargs``: a small input ``(W, H)`` the model accepts, and the
      builder arguments it needs, for the contract tests (forward, backward, round trip);
    - ``kind``: ``"top-down"`` (one person per input crop; ``forward`` returns a tensor or a
      list of them) or ``"bottom-up"`` (every person in the image; ``forward`` returns a dict
      of heads, e.g. ``{"heatmaps", "pafs", "stages"}``, see docs/models_bottomup.md).
    """

    name: str
    module: str
    paper: str
    input_wh: tuple[int, int]
    spec: str
    outputs: int = 1
    test_input_wh: tuple[int, int] = (64, 64)
    test_kwargs: tuple[tuple[str, object], ...] = ()
    kind: str = "top-down"

    def builder(self) -> Callable[..., nn.Module]:
        """The builder function ``module.name`` (imports the module, and torch with it)."""
        return getattr(importlib.import_module(self.module), self.name)


_M = "posekit.models."
_HG = "Newell et al., ECCV 2016"
_SB = "Xiao et al., ECCV 2018"
_MSPN = "Li et al., arXiv 2019"
_HR = "Sun et al., CVPR 2019"
_EP = "Groos et al., Appl. Intell. 2021"
_EVO = "McNally et al., IEEE Access 2021"

#: Every trainable architecture, one entry each.
ENTRIES: tuple[ZooEntry, ...] = (
    ZooEntry("jain2013", _M + "jain2013", "Jain et al., ICLR 2014", (256, 256), "lsp14",
             test_input_wh=(40, 32)),
    ZooEntry("deeppose", _M + "deeppose", "Toshev & Szegedy, CVPR 2014", (220, 220), "lsp14", outputs=3,
             test_input_wh=(72, 72), test_kwargs=(("input_size", (72, 72)),)),  # fixes the FC layer
    ZooEntry("cpm", _M + "cpm", "Wei et al., CVPR 2016", (368, 368), "lsp14", outputs=6,
             test_input_wh=(48, 64)),
    ZooEntry("hourglass_1", _M + "hourglass", _HG, (256, 256), "mpii16", outputs=1),
    ZooEntry("hourglass_2", _M + "hourglass", _HG, (256, 256), "mpii16", outputs=2),
    ZooEntry("hourglass_4", _M + "hourglass", _HG, (256, 256), "mpii16", outputs=4),
    ZooEntry("hourglass_8", _M + "hourglass", _HG, (256, 256), "mpii16", outputs=8),
    ZooEntry("prm", _M + "prm", "Yang et al., ICCV 2017", (256, 256), "mpii16", outputs=8),
    ZooEntry("simple_baseline_r18", _M + "simple_baseline", _SB, (192, 256), "coco17", test_input_wh=(32, 64)),
    ZooEntry("simple_baseline_r50", _M + "simple_baseline", _SB, (192, 256), "coco17", test_input_wh=(32, 64)),
    ZooEntry("simple_baseline_r101", _M + "simple_baseline", _SB, (192, 256), "coco17", test_input_wh=(32, 64)),
    ZooEntry("simple_baseline_r152", _M + "simple_baseline", _SB, (192, 256), "coco17", test_input_wh=(32, 64)),
    ZooEntry("cpn_r50", _M + "cpn", "Chen et al., CVPR 2018", (192, 256), "coco17", outputs=5,
             test_input_wh=(32, 64)),
    ZooEntry("mspn", _M + "mspn", _MSPN, (192, 256), "coco17", outputs=16, test_input_wh=(32, 64)),
    ZooEntry("mspn_2stg", _M + "mspn", _MSPN, (192, 256), "coco17", outputs=8, test_input_wh=(32, 64)),
    ZooEntry("hrnet_w32", _M + "hrnet", _HR, (192, 256), "coco17"),
    ZooEntry("hrnet_w48", _M + "hrnet", _HR, (288, 384), "coco17"),
    ZooEntry("efficientpose_rt", _M + "efficientpose", _EP, (224, 224), "mpii16"),
    ZooEntry("efficientpose_i", _M + "efficientpose", _EP, (256, 256), "mpii16"),
    ZooEntry("efficientpose_ii", _M + "efficientpose", _EP, (368, 368), "mpii16"),
    ZooEntry("efficientpose_iii", _M + "efficientpose", _EP, (480, 480), "mpii16"),
    ZooEntry("efficientpose_iv", _M + "efficientpose", _EP, (600, 600), "mpii16"),
    ZooEntry("efficientpose_rt_lite", _M + "efficientpose", _EP, (224, 224), "mpii16"),
    ZooEntry("efficientpose_i_lite", _M + "efficientpose", _EP, (256, 256), "mpii16"),
    ZooEntry("efficientpose_ii_lite", _M + "efficientpose", _EP, (368, 368), "mpii16"),
    ZooEntry("evopose2d_s", _M + "evopose2d", _EVO, (192, 256), "coco17", test_input_wh=(48, 64)),
    ZooEntry("evopose2d_m", _M + "evopose2d", _EVO, (288, 384), "coco17", test_input_wh=(48, 64)),
    ZooEntry("evopose2d_l", _M + "evopose2d", _EVO, (384, 512), "coco17", test_input_wh=(48, 64)),
    # bottom-up: forward returns a dict of heads; ``outputs`` counts its "stages"
    ZooEntry("openpose", _M + "openpose", "Cao et al., TPAMI 2019", (368, 368), "coco17", outputs=6,
             test_input_wh=(32, 24), kind="bottom-up"),
    ZooEntry("ae_hourglass", _M + "ae_hourglass", "Newell et al., NeurIPS 2017", (512, 512), "coco17",
             outputs=4, test_input_wh=(64, 64), kind="bottom-up",
             test_kwargs=(("features", 32), ("increase", 16))),  # narrow for the tests: 139 M at full width
    ZooEntry("higherhrnet_w32", _M + "higherhrnet", "Cheng et al., CVPR 2020", (512, 512), "coco17", outputs=2,
             test_input_wh=(64, 32), kind="bottom-up"),
    ZooEntry("deepercut", _M + "deepercut", "Insafutdinov et al., ECCV 2016", (512, 512), "coco17", outputs=2,
             test_input_wh=(64, 48), kind="bottom-up", test_kwargs=(("depth", 50),)),  # ResNet-101 by default
    ZooEntry("sstn_sb_r18", _M + "sstn", "Fang et al., ICCV 2017", (192, 256), "coco17", test_input_wh=(32, 64)),
    ZooEntry("bottomup_tiny", _M + "bottomup_tiny", "posekit (PAF + AE heads)", (128, 128),
             "coco17", outputs=2, test_input_wh=(64, 64), kind="bottom-up"),
)

#: The same entries by name.
ZOO: dict[str, ZooEntry] = {e.name: e for e in ENTRIES}


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of the trainable architectures matching a shell-style pattern, e.g.
    ``list_models("hrnet*")``. (``posekit.pretrained.list_pretrained()`` lists the others.)"""
    return sorted(n for n in ZOO if fnmatch.fnmatch(n, pattern))


def entries(pattern: str = "*") -> list[ZooEntry | ModelCard]:
    """Every model matching ``pattern``, trainable (:class:`ZooEntry`) and pretrained
    (:class:`~posekit.pretrained.cards.ModelCard`), sorted by name (numbers by value), the trainable entry first
    where both kinds share a name. Importing the cards imports ``posekit.pretrained``."""
    from posekit.pretrained.cards import CARDS

    found: list[ZooEntry | ModelCard] = [e for n, e in ZOO.items() if fnmatch.fnmatch(n, pattern)]
    found += [c for n, c in CARDS.items() if fnmatch.fnmatch(n, pattern)]
    return sorted(found, key=lambda e: (_natural(e.name), not isinstance(e, ZooEntry)))


def _natural(name: str) -> list[str | int]:
    """Sort key in which numbers count as numbers: ``simple_baseline_r50`` before ``_r101``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        close = difflib.get_close_matches(name, ZOO, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown model {name!r}{hint} (posekit.models.list_models() lists all)") from None


def builder_kwargs(name: str) -> list[str]:
    """Keyword arguments the builder of ``name`` accepts."""
    sig = inspect.signature(_entry(name).builder())
    return [p.name for p in sig.parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def create(name: str, **kwargs) -> nn.Module:
    """Build the zoo model ``name``. Unknown keyword arguments are an error that lists the
    valid ones."""
    builder = _entry(name).builder()
    valid = builder_kwargs(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise TypeError(f"{name}: unknown argument(s) {', '.join(unknown)}; valid: {', '.join(valid) or 'none'}")
    model = builder(**kwargs)
    model.zoo_name = name
    return model
