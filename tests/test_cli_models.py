"""``posekit models [PATTERN] [-l]``: one table of every model (trainable and pretrained) within
100 columns, details for one NAME or with -l, no empty sections, a clear "nothing matches", and
the state of the pretrained models in the cache (on a temporary cache)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from posekit.cli import main
from posekit.models import ZOO
from posekit.pretrained.cache import converted_paths
from posekit.pretrained.cards import CARDS, get_card
from posekit.pretrained.fetch import HUMAN_MODELS, MEDIAPIPE_POSE, format_size


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("POSEKIT_CACHE", str(d))
    return d


def _table(out: str) -> dict[tuple[str, str], list[str]]:
    """Rows of the table, by (name, "train" or "pretrained"), each split on whitespace."""
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.split()[:2] == ["NAME", "WEIGHTS"]) + 1
    rows: dict[tuple[str, str], list[str]] = {}
    for line in lines[first:]:
        if not line.strip() or line.startswith(("weights", "cached package:", "cache:")):
            break
        cells = line.split()
        rows[(cells[0], "train" if cells[1] == "none" else "pretrained")] = cells
    return rows


def _thunder_converted(cache_dir) -> None:
    """Fake converted files of MoveNet Thunder in the cache: 2 001 065 bytes in all."""
    for p, size in zip(converted_paths(get_card("movenet_thunder")), (1000, 2_000_000, 65)):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)


def test_models_is_one_table_of_every_model(cache_dir, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    assert sorted(rows) == sorted([(n, "train") for n in ZOO] + [(n, "pretrained") for n in CARDS])
    assert out.splitlines()[0].startswith(f"Models: {len(ZOO) + len(CARDS)} ({len(ZOO)} to train, "
                                          f"{len(CARDS)} pretrained;")
    # weights, keypoint spec, input W x H, source
    assert rows[("hrnet_w32", "train")][1:] == ["none", "coco17", "192x256", "Sun", "et", "al.,", "CVPR", "2019"]
    assert rows[("movenet_thunder", "pretrained")][1:] == [
        "fetch", "144.5", "MB", "coco17", "256x256", "npm", HUMAN_MODELS.spec]
    assert rows[("blazepose_lite", "pretrained")][1:4] == [
        "fetch", *format_size(HUMAN_MODELS.size + MEDIAPIPE_POSE.size).split()]
    assert rows[("nanodet", "pretrained")][4] == "boxes"  # a detector: boxes, no keypoint spec
    assert rows[("efficientpose_ii_lite", "train")][1:4] == ["none", "mpii16", "368x368"]
    assert max(len(line) for line in out.splitlines()) <= 100


def test_models_leaves_out_empty_sections(cache_dir, capsys):
    assert main(["models", "movenet*"]) == 0  # pipelines and pretrained models, no architecture
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Models: 3 (3 pretrained;")
    assert sorted(_table(out)) == [("movenet_lightning", "pretrained"), ("movenet_multipose", "pretrained"),
                                   ("movenet_thunder", "pretrained")]
    assert "weights none" not in out
    assert not [line for line in out.splitlines() if line.rstrip().endswith(": 0")]
    assert "Prediction pipelines (posekit predict --model NAME): 2" in out
    assert main(["models", "hrnet*"]) == 0  # architectures only
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Models: 2 (2 to train;")
    assert "cache:" not in out and "pipelines" not in out


def test_models_nothing_matches(cache_dir, capsys):
    assert main(["models", "no-such-model*"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == ("posekit models: nothing matches 'no-such-model*' "
                                    "(run 'posekit models' to list everything)")


def test_models_shows_the_cache_and_what_is_in_it(cache_dir, capsys):
    _thunder_converted(cache_dir)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"cache: {cache_dir}, {format_size(2_001_065)} (set POSEKIT_CACHE to use another folder)" \
        in " ".join(out.split())
    rows = _table(out)
    assert rows[("movenet_thunder", "pretrained")][1:3] == ["cached", "2.0"]
    assert rows[("posenet", "pretrained")][1:3] == ["fetch", "144.5"]
    # the details say it in words, and which packages a first use downloads
    for name in ("movenet_thunder", "posenet", "blazepose_lite"):
        assert main(["models", name]) == 0
    words = " ".join(capsys.readouterr().out.split())
    assert "movenet_thunder: in the cache (2.0 MB)" in words
    assert f"posenet: not in the cache; the first use downloads {HUMAN_MODELS.spec} (144.5 MB) " in words
    assert (f"blazepose_lite: not in the cache; the first use downloads {HUMAN_MODELS.spec} (144.5 MB), "
            f"{MEDIAPIPE_POSE.spec} (41.0 MB)") in words
    # with the package downloaded, a model that is not converted yet needs no download
    (cache_dir / "npm").mkdir()
    (cache_dir / "npm" / HUMAN_MODELS.tarball_name).write_bytes(b"x")
    assert main(["models", "posenet"]) == 0
    words = " ".join(capsys.readouterr().out.split())
    assert f"posenet: not converted yet; the first use converts it from the cached {HUMAN_MODELS.spec}" in words
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert _table(out)[("posenet", "pretrained")][1:3] == ["cached", "package"]
    assert max(len(line) for line in out.splitlines()) <= 100


def test_models_name_gives_the_details(cache_dir, capsys):
    assert main(["models", "hrnet_w32"]) == 0
    out = capsys.readouterr().out
    assert "NAME" not in out.split()  # no table
    words = " ".join(out.split())
    assert "hrnet_w32: architecture to train, no weights; Sun et al., CVPR 2019" in words
    assert "keypoints coco17; input 192x256 (W x H); forward returns 1 heatmap tensor, stride 4" in words
    assert "28.54 M parameters" in words
    assert "builder posekit.models.hrnet.hrnet_w32(num_keypoints=17)" in words
    # one name, two models: the architecture and the pretrained model of it
    assert main(["models", "efficientpose_ii_lite"]) == 0
    out = capsys.readouterr().out
    assert "Architectures to train (posekit.models.create; posekit train --set model.arch=NAME): 1" in out
    assert "Pretrained models (posekit.pretrained.load_pretrained): 1" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_models_lists_without_torch(cache_dir):
    """The table needs no torch: in a fresh interpreter where torch cannot be imported,
    ``posekit models`` still lists every model."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from posekit.cli import main\nsys.exit(main(['models']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "hrnet_w32" in done.stdout and "movenet_thunder" in done.stdout
