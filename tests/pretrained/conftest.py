"""Fixtures of the pretrained-model tests: one torch thread, a temporary cache, a fake npm and a
tiny npm package holding a tiny TF.js model (helpers in npm_fixtures.py).

One torch thread: on this shared 2-core machine, two OpenMP threads that spin at every barrier
make each forward pass up to ~25x slower whenever other processes are busy (measured: MoveNet
Thunder 1.5 s with 2 threads vs 56 ms with 1 under a load average of 4). Tests need determinism,
not speed.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from npm_fixtures import TinyModel, make_tarball, offline
from posekit.pretrained import cache, fetch
from posekit.pretrained.cards import UNIT, HeadSpec, ModelCard
from tfjs_builder import GraphBuilder


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty posekit cache (``$POSEKIT_CACHE``) for this test only."""
    d = tmp_path / "cache"
    monkeypatch.setenv("POSEKIT_CACHE", str(d))
    return d


@pytest.fixture()
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``fake_npm(script)`` puts an ``npm`` running the sh ``script`` first on PATH; returns the
    file where it logs its arguments, one call per line."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    calls = tmp_path / "npm-calls.txt"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def install(script: str) -> Path:
        npm = bin_dir / "npm"
        npm.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\n' + script)
        npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
        return calls

    return install


@pytest.fixture()
def tiny(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, fake_npm) -> TinyModel:
    """The tiny model's package, its tarball already in the cache; the card is unpinned (see
    :func:`pin`). npm is faked offline, so no test reaches the real registry by accident."""
    rng = np.random.default_rng(1)
    b = GraphBuilder()
    x = b.placeholder("x", [1, 4, 4, 3])
    w = rng.normal(size=(1, 1, 3, 2)).astype(np.float32)
    w2 = (rng.normal(size=(1, 1, 3, 4)) * 8).astype(np.float32)
    b2 = np.array([-3.0, 0.5, 3.0, 7.0], np.float32)
    b.op("y", "Conv2D", [x, b.const("w", w, quant="float16")], strides=[1, 1, 1, 1], padding="SAME",
         data_format="NHWC")
    b.op("z", "_FusedConv2D", [x, b.const("w2", w2, quant="float16"), b.const("b2", b2, quant="float16")],
         strides=[1, 1, 1, 1], padding="SAME", data_format="NHWC", fused_ops=["BiasAdd", "Relu6"], num_args=1)
    b.op("post", "Sigmoid", ["y"])
    model_json = b.write(tmp_path / "pkg" / "models", "tiny")
    registry = tmp_path / "registry" / "pkg.tgz"
    sha = make_tarball(registry, {"models/tiny.json": model_json.read_bytes(),
                                  "models/tiny.bin": (model_json.parent / "tiny.bin").read_bytes(),
                                  "README.md": b"tiny"})
    pkg = fetch.NpmPackage("@posekit/tiny", "0.0.1", sha)
    (cache_dir / "npm").mkdir(parents=True)
    shutil.copy(registry, cache_dir / "npm" / pkg.tarball_name)
    monkeypatch.setattr(cache, "source_package", lambda c: pkg)
    fake_npm(offline())
    card = ModelCard(name="tiny", source_package=pkg.name, source_version=pkg.version,
                     source_file="models/tiny.json", license="Apache-2.0", spec=None, input_size=(4, 4),
                     normalisation=UNIT, input_layout="NHWC",
                     heads=(HeadSpec("y", "y", "(B, 2, 4, 4)", 1, "test head"),
                            HeadSpec("z", "z", "(B, 4, 4, 4)", 1, "fused conv + bias + relu6")),
                     weights_sha256="", citation="none")
    return TinyModel(card, pkg, registry, w, w2, b2)
