"""Checkpoints: one ``.safetensors`` file, tensors in the body and JSON in its metadata header.

Nothing is ever unpickled. The file holds

* tensors: ``model/<name>`` (the state dict), ``optim/<param index>/<key>`` (optimizer state
  tensors, e.g. Adam's ``exp_avg``), ``rng/torch`` and ``rng/numpy`` (RNG states);
* metadata (strings): ``posekit_format`` (version), ``arch`` (zoo name), ``spec`` (JSON: name
  and joint names), ``config`` (the experiment config as JSON) and ``state`` (JSON: step,
  optimizer param groups and scalar state, python/numpy RNG scalars, extra values).

Writes go to a temporary file ``.<name>.tmp-<pid>`` in the same folder, are flushed to disk,
then renamed over the target (``os.replace`` is atomic on POSIX and Windows), so a crash never
leaves a half file. A writer killed before the rename leaves its temporary file behind;
:func:`remove_stale_temp_files` deletes those of dead processes when a run folder is opened.

Before anything is written, every floating tensor (weights, buffers, optimizer state) must be
finite (:class:`NonFiniteTensor` otherwise): a checkpoint never holds blown-up weights.
Loading checks the metadata (format version, JSON fields) and, before any weight is copied,
the architecture, keypoint spec and every tensor's shape, so a mismatch is one readable line.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from posekit.errors import PosekitError
from posekit.skeleton import KeypointSpec

__all__ = ["FORMAT_VERSION", "Checkpoint", "NonFiniteTensor", "save_checkpoint", "encode_checkpoint",
           "write_checkpoint", "find_non_finite", "load_checkpoint", "capture_rng", "restore_rng", "temp_path",
           "remove_stale_temp_files"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

# ``.<name>.tmp-<pid>``: the temporary files of save_checkpoint and posekit.io.write_text_atomic.
_TEMP_NAME = re.compile(r"^\..+\.tmp-(\d+)$")


class NonFiniteTensor(PosekitError):
    """A tensor to be saved holds NaN or infinity; ``name`` says which."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"refusing to save a checkpoint: tensor {name!r} holds NaN or infinity")


@dataclass
class Checkpoint:
    """A loaded checkpoint. ``tensors`` maps names to CPU tensors; ``state`` is the JSON state."""

    path: str
    arch: str
    spec: dict
    config: dict
    state: dict
    tensors: dict[str, torch.Tensor] = field(repr=False)

    @property
    def step(self) -> int:
        return int(self.state.get("step", 0))

    def model_state(self) -> dict[str, torch.Tensor]:
        return {k[len("model/"):]: v for k, v in self.tensors.items() if k.startswith("model/")}

    def model_kwargs(self) -> dict | None:
        """The builder arguments recorded in the checkpoint's config (``model.kwargs``), or None."""
        model = self.config.get("model")
        kwargs = model.get("kwargs") if isinstance(model, dict) else None
        return kwargs if isinstance(kwargs, dict) else None

    def check_compatible(self, arch: str, spec: KeypointSpec) -> None:
        """Refuse a checkpoint of another architecture or keypoint spec, before any shapes meet."""
        if arch != self.arch:
            raise PosekitError(f"{self.path}: checkpoint is for architecture {self.arch!r}, "
                               f"not {arch!r}; build the model with arch={self.arch!r}")
        want = spec_to_json(spec)
        if want != self.spec:
            raise PosekitError(f"{self.path}: checkpoint is for keypoint spec {self.spec.get('name')!r} "
                               f"({len(self.spec.get('names', []))} keypoints), not {spec.name!r} "
                               f"({spec.num_keypoints} keypoints)")

    def load_model(self, model: torch.nn.Module, arch: str, spec: KeypointSpec, kwargs: dict | None = None) -> None:
        """Check the architecture, the spec, then every tensor's name and shape, and only then
        copy the weights. ``kwargs``: the builder arguments ``model`` was made with, named
        beside the checkpoint's own (its config's ``model.kwargs``) when the shapes differ."""
        self.check_compatible(arch, spec)
        weights = self.model_state()
        own = model.state_dict()
        for name, tensor in own.items():             # in the model's order: the first layer first
            if name in weights and weights[name].shape != tensor.shape:
                raise PosekitError(self._mismatch(arch, kwargs, f"tensor {name!r} is {tuple(weights[name].shape)} in "
                                                                f"the checkpoint, {tuple(tensor.shape)} in the model"))
        missing = [k for k in own if k not in weights]
        unexpected = [k for k in weights if k not in own]
        if missing or unexpected:
            raise PosekitError(self._mismatch(arch, kwargs, f"tensors missing from the checkpoint {missing[:3]}, "
                                                            f"not in the model {unexpected[:3]}"))
        model.load_state_dict(weights, strict=True)

    def _mismatch(self, arch: str, kwargs: dict | None, what: str) -> str:
        """``<path>: checkpoint made with <arch kwargs>, model asked for <arch kwargs>: <what>``."""
        def made(a: str, kw: dict | None) -> str:
            return f"{a} with model.kwargs={json.dumps(kw, sort_keys=True)}" if kw is not None else a
        ours = self.model_kwargs()
        if kwargs is not None and ours is not None and kwargs == ours:
            return (f"{self.path}: its weights do not fit the {made(arch, kwargs)} its config names (written by "
                    f"another posekit version, or its config edited?): {what}")
        return (f"{self.path}: checkpoint made with {made(self.arch, ours)}, but the model asked for is "
                f"{made(arch, kwargs)}: {what}")

    def load_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        groups = self.state.get("optimizer")
        if groups is None:
            raise PosekitError(f"{self.path}: checkpoint holds no optimizer state (cannot resume)")
        try:
            state: dict[int, dict[str, Any]] = {}
            for key, value in self.tensors.items():
                if key.startswith("optim/"):
                    _, idx, name = key.split("/", 2)
                    state.setdefault(int(idx), {})[name] = value
            for idx, scalars in groups["scalars"].items():
                state.setdefault(int(idx), {}).update(scalars)
            optimizer.load_state_dict({"state": state, "param_groups": groups["param_groups"]})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise PosekitError(f"{self.path}: the optimizer state does not fit this optimizer "
                               f"({type(e).__name__}: {e})") from None

    def restore_rng(self) -> None:
        """Restore the global torch/numpy/python RNG states saved with the checkpoint."""
        try:
            restore_rng(self.tensors, self.state.get("rng", {}))
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise PosekitError(f"{self.path}: unreadable RNG state ({type(e).__name__}: {e})") from None


def spec_to_json(spec: KeypointSpec) -> dict:
    return {"name": spec.name, "names": list(spec.names)}


def capture_rng() -> tuple[dict[str, torch.Tensor], dict]:
    """Torch, numpy and python global RNG states, split into tensors and JSON."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    tensors = {"rng/torch": torch.get_rng_state().clone(),
               "rng/numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64))}
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)],
            "python": [py_version, list(py_state), py_gauss]}
    return tensors, meta


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    if "rng/torch" in tensors:
        torch.set_rng_state(tensors["rng/torch"])
    if "rng/numpy" in tensors and "numpy" in meta:
        kind, pos, has_gauss, cached = meta["numpy"]
        np.random.set_state((kind, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    if "python" in meta:
        v, st, g = meta["python"]
        random.setstate((v, tuple(st), g))


def find_non_finite(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> str | None:
    """The checkpoint name (``model/<name>`` or ``optim/<index>/<key>``) of the first weight,
    buffer or optimizer tensor holding NaN or infinity, or None when all are finite."""
    named = [(f"model/{k}", v) for k, v in model.state_dict().items()]
    if optimizer is not None:
        named += [(f"optim/{i}/{k}", v) for i, entry in optimizer.state_dict()["state"].items()
                  for k, v in entry.items()]
    for name, t in named:
        if torch.is_tensor(t) and t.is_floating_point() and not _all_finite(t.detach()):
            return name
    return None


def _all_finite(t: torch.Tensor) -> bool:
    """No NaN or infinity in ``t``. A NaN or infinity makes the sum NaN or infinite, so a finite
    sum (one cheap reduction) settles it; only a non-finite sum, which may be an overflow of
    finite values, is checked through the minimum and maximum."""
    if bool(torch.isfinite(t.sum())):
        return True
    low, high = torch.aminmax(t)
    return bool(torch.isfinite(low) and torch.isfinite(high))


def encode_checkpoint(model: torch.nn.Module, *, arch: str, spec: KeypointSpec, config: dict | None = None,
                      optimizer: torch.optim.Optimizer | None = None, step: int = 0, extra: dict | None = None,
                      rng: bool = True) -> bytes:
    """The bytes of a checkpoint of the current state (see :func:`save_checkpoint`): a copy,
    so training may go on and the bytes be written later. Raises :class:`NonFiniteTensor` when
    a weight, buffer or optimizer tensor holds NaN or infinity."""
    bad = find_non_finite(model, optimizer)
    if bad is not None:
        raise NonFiniteTensor(bad)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        tensors[f"model/{k}"] = v.detach().to("cpu").contiguous().clone()
    state: dict[str, Any] = {"step": int(step), "extra": extra or {}}
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, entry in sd["state"].items():
            for name, value in entry.items():
                if torch.is_tensor(value):
                    tensors[f"optim/{idx}/{name}"] = value.detach().to("cpu").contiguous().clone()
                else:
                    scalars.setdefault(str(idx), {})[name] = value
        state["optimizer"] = {"param_groups": sd["param_groups"], "scalars": scalars}
    if rng:
        rng_tensors, rng_meta = capture_rng()
        tensors.update(rng_tensors)
        state["rng"] = rng_meta
    metadata = {
        "posekit_format": str(FORMAT_VERSION),
        "arch": arch,
        "spec": json.dumps(spec_to_json(spec)),
        "config": json.dumps(config or {}),
        "state": json.dumps(state),
    }
    return st_save(tensors, metadata=metadata)


def temp_path(path: str | Path) -> Path:
    """``.<name>.tmp-<pid>`` beside ``path``: where this process writes before renaming."""
    p = Path(path)
    return p.with_name(f".{p.name}.tmp-{os.getpid()}")


def write_checkpoint(path: str | Path, data: bytes) -> Path:
    """Write checkpoint bytes (from :func:`encode_checkpoint`) atomically; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def save_checkpoint(path: str | Path, model: torch.nn.Module, *, arch: str, spec: KeypointSpec,
                    config: dict | None = None, optimizer: torch.optim.Optimizer | None = None,
                    step: int = 0, extra: dict | None = None, rng: bool = True) -> Path:
    """Write a checkpoint atomically and return its path.

    Args:
        model: the bare model (unwrap DDP first).
        arch: zoo name, checked on load.
        spec: keypoint spec, checked on load.
        config: JSON-able experiment config.
        optimizer: saved for resuming (state tensors in safetensors, the rest in JSON).
        step: number of optimisation steps done.
        extra: small JSON-able values (e.g. the last evaluation).
        rng: also save the global torch/numpy/python RNG states.

    Raises :class:`NonFiniteTensor` (nothing written) when a tensor holds NaN or infinity.
    """
    return write_checkpoint(path, encode_checkpoint(model, arch=arch, spec=spec, config=config,
                                                    optimizer=optimizer, step=step, extra=extra, rng=rng))


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (True when unsure: on Windows, ``os.kill(pid, 0)`` would
    terminate it, so it is never called there)."""
    if pid == os.getpid() or os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:          # EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files ``.<name>.tmp-<pid>`` in ``folder`` whose writer ``pid`` is
    no longer running (killed during a write); return them. A file of a live process (which
    may be writing it now) is left alone."""
    removed = []
    d = Path(folder)
    if not d.is_dir():
        return removed
    for p in sorted(d.iterdir()):
        m = _TEMP_NAME.match(p.name)
        if m and p.is_file() and not _process_alive(int(m.group(1))):
            p.unlink(missing_ok=True)
            removed.append(p)
            log.info("removed %s, left by a writer (pid %s) that no longer runs", p, m.group(1))
    return removed


def _read_metadata(raw: bytes, path: str) -> dict[str, str]:
    if len(raw) < 8:
        raise PosekitError(f"{path}: not a safetensors checkpoint (file too short)")
    n = int.from_bytes(raw[:8], "little")
    try:
        header = json.loads(raw[8:8 + n])
    except (ValueError, UnicodeDecodeError):
        raise PosekitError(f"{path}: not a safetensors checkpoint (unreadable header)") from None
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        raise PosekitError(f"{path}: not a safetensors checkpoint (unreadable header)")
    return meta


def _metadata_object(meta: dict, key: str, path: Path) -> dict:
    """The JSON object in metadata field ``key`` (``{}`` when absent)."""
    try:
        value = json.loads(meta.get(key, "{}"))
    except (TypeError, ValueError) as e:
        raise PosekitError(f"{path}: checkpoint metadata {key!r} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise PosekitError(f"{path}: checkpoint metadata {key!r} is not a JSON object")
    return value


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors on CPU). A damaged file
    or damaged metadata is a :class:`PosekitError` naming the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise PosekitError(f"{p}: checkpoint not found")
    raw = p.read_bytes()
    meta = _read_metadata(raw, str(p))
    if "posekit_format" not in meta:
        raise PosekitError(f"{p}: not a posekit checkpoint (no posekit_format in its metadata)")
    version = str(meta["posekit_format"])
    if not version.isdigit() or not 1 <= int(version) <= FORMAT_VERSION:
        newer = " (written by a newer posekit?)" if version.isdigit() and int(version) > FORMAT_VERSION else ""
        raise PosekitError(f"{p}: unknown checkpoint format version {version!r}{newer}; this posekit reads "
                           f"version {FORMAT_VERSION}")
    arch = meta.get("arch")
    if not isinstance(arch, str) or not arch:
        raise PosekitError(f"{p}: checkpoint metadata names no architecture ('arch')")
    spec, config, state = (_metadata_object(meta, k, p) for k in ("spec", "config", "state"))
    step = state.get("step", 0)
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise PosekitError(f"{p}: checkpoint metadata 'state' has a bad step {step!r}")
    try:
        tensors = st_load(raw)
    except SafetensorError as e:
        raise PosekitError(f"{p}: corrupt checkpoint: {e}") from None
    return Checkpoint(path=str(p), arch=arch, spec=spec, config=config, state=state, tensors=tensors)
