"""The model zoo: a flat dict from name to builder function.

The builders are plain functions in the architecture modules; this file only indexes them.
``create("hrnet_w32", num_keypoints=17)`` is the same as calling
``posekit.models.hrnet.hrnet_w32(num_keypoints=17)``.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable

from torch import nn

from posekit.models import (
    cpm, cpn, deeppose, efficientpose, evopose2d, hourglass, hrnet, jain2013, mspn, prm,
    simple_baseline,
)

__all__ = ["MODELS", "create", "list_models", "builder_kwargs"]

MODELS: dict[str, Callable[..., nn.Module]] = {
    **jain2013.MODELS,
    **deeppose.MODELS,
    **cpm.MODELS,
    **hourglass.MODELS,
    **prm.MODELS,
    **simple_baseline.MODELS,
    **cpn.MODELS,
    **mspn.MODELS,
    **hrnet.MODELS,
    **efficientpose.MODELS,
    **evopose2d.MODELS,
}


def list_models(pattern: str = "*") -> list[str]:
    """Sorted zoo names matching a shell-style pattern, e.g. ``list_models("hrnet*")``."""
    return sorted(n for n in MODELS if fnmatch.fnmatch(n, pattern))


def builder_kwargs(name: str) -> list[str]:
    """Keyword arguments the builder of ``name`` accepts."""
    sig = inspect.signature(_builder(name))
    return [p.name for p in sig.parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _builder(name: str) -> Callable[..., nn.Module]:
    try:
        return MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, MODELS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown model {name!r}{hint} (posekit.models.list_models() lists all)") from None


def create(name: str, **kwargs) -> nn.Module:
    """Build the zoo model ``name``. Unknown keyword arguments are an error that lists the
    valid ones."""
    builder = _builder(name)
    valid = builder_kwargs(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise TypeError(f"{name}: unknown argument(s) {', '.join(unknown)}; valid: {', '.join(valid) or 'none'}")
    model = builder(**kwargs)
    model.zoo_name = name
    return model
