"""Pose architectures (PyTorch). ``create(name, **kw)`` builds one, ``list_models(pattern)`` lists
them; :data:`ZOO` is the index (``posekit.models.zoo``). Importing this package does not import
torch: building a model does."""

from posekit.models.zoo import ZOO, ZooEntry, create, list_models

__all__ = ["ZOO", "ZooEntry", "create", "list_models"]
