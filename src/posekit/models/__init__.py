"""Pose architectures (PyTorch). ``create(name, **kw)`` and ``list_models(pattern)`` index them."""

from posekit.models.zoo import MODELS, create, list_models

__all__ = ["MODELS", "create", "list_models"]
