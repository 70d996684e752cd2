"""Checkpoints: one ``.safetensors`` file, tensors in the body and JSON in its metadata header.

Nothing is ever unpickled. The file holds

* tensors: ``model/<name>`` (the state dict), ``optim/<param index>/<key>`` (optimizer state
  tensors, e.g. Adam's ``exp_avg``), ``rng/torch`` and ``rng/numpy`` (RNG states);
* metadata (strings): ``posekit_format`` (version), ``arch`` (zoo name), ``spec`` (JSON: name
  and joint names), ``config`` (the experiment config as JSON) and ``state`` (JSON: step,
  optimizer param groups and scalar state, python/numpy RNG scalars, extra values).

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over the
target (``os.replace`` is atomic on POSIX and Windows), so a crash never leaves a half file.
"""

from __future__ import annotations

import json
import os
import random
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

__all__ = ["FORMAT_VERSION", "Checkpoint", "save_checkpoint", "load_checkpoint", "capture_rng", "restore_rng"]

FORMAT_VERSION = 1


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

    def load_model(self, model: torch.nn.Module, arch: str, spec: KeypointSpec) -> None:
        """Check compatibility, then load the weights strictly."""
        self.check_compatible(arch, spec)
        missing, unexpected = model.load_state_dict(self.model_state(), strict=False)
        if missing or unexpected:
            raise PosekitError(f"{self.path}: weights do not match the {arch!r} model "
                               f"(missing {missing[:5]}, unexpected {unexpected[:5]})")

    def load_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        groups = self.state.get("optimizer")
        if groups is None:
            raise PosekitError(f"{self.path}: checkpoint holds no optimizer state (cannot resume)")
        state: dict[int, dict[str, Any]] = {}
        for key, value in self.tensors.items():
            if key.startswith("optim/"):
                _, idx, name = key.split("/", 2)
                state.setdefault(int(idx), {})[name] = value
        for idx, scalars in groups["scalars"].items():
            state.setdefault(int(idx), {}).update(scalars)
        optimizer.load_state_dict({"state": state, "param_groups": groups["param_groups"]})


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
    """
    path = Path(path)
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
    data = st_save(tensors, metadata=metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
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


def _read_metadata(raw: bytes, path: str) -> dict[str, str]:
    if len(raw) < 8:
        raise PosekitError(f"{path}: not a safetensors checkpoint (file too short)")
    n = int.from_bytes(raw[:8], "little")
    try:
        header = json.loads(raw[8:8 + n])
    except (ValueError, UnicodeDecodeError):
        raise PosekitError(f"{path}: not a safetensors checkpoint (unreadable header)") from None
    return header.get("__metadata__", {}) or {}


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors on CPU)."""
    p = Path(path)
    if not p.is_file():
        raise PosekitError(f"{p}: checkpoint not found")
    raw = p.read_bytes()
    meta = _read_metadata(raw, str(p))
    if "posekit_format" not in meta:
        raise PosekitError(f"{p}: not a posekit checkpoint (no posekit_format in its metadata)")
    version = int(meta["posekit_format"])
    if version > FORMAT_VERSION:
        raise PosekitError(f"{p}: checkpoint format {version} is newer than this posekit ({FORMAT_VERSION})")
    try:
        tensors = st_load(raw)
    except SafetensorError as e:
        raise PosekitError(f"{p}: corrupt checkpoint: {e}") from None
    return Checkpoint(path=str(p), arch=meta.get("arch", ""), spec=json.loads(meta.get("spec", "{}")),
                      config=json.loads(meta.get("config", "{}")), state=json.loads(meta.get("state", "{}")),
                      tensors=tensors)
