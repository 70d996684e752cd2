"""``posekit models [PATTERN]``: no empty sections, a clear "nothing matches", and the state of
the pretrained models in the cache (on a temporary cache)."""

from __future__ import annotations

import pytest

from posekit.cli import main
from posekit.pretrained.cache import converted_paths
from posekit.pretrained.cards import get_card
from posekit.pretrained.fetch import HUMAN_MODELS, MEDIAPIPE_POSE


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("POSEKIT_CACHE", str(d))
    return d


def test_models_leaves_out_empty_sections(cache_dir, capsys):
    assert main(["models", "movenet*"]) == 0  # pipelines and pretrained models, no zoo architecture
    out = capsys.readouterr().out
    assert "Model zoo" not in out
    assert not [line for line in out.splitlines() if line.rstrip().endswith(": 0")]
    assert "Pretrained models (posekit.pretrained.load_pretrained): 3" in out
    assert "Prediction pipelines (posekit predict --model NAME): 2" in out
    assert main(["models", "hrnet*"]) == 0  # zoo only
    out = capsys.readouterr().out
    assert "Model zoo" in out and "Pretrained" not in out and "pipelines" not in out


def test_models_nothing_matches(cache_dir, capsys):
    assert main(["models", "no-such-model*"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == ("posekit models: nothing matches 'no-such-model*' "
                                    "(run 'posekit models' to list everything)")


def test_models_shows_the_cache_and_what_is_in_it(cache_dir, capsys):
    from posekit.pretrained.fetch import format_size
    thunder = converted_paths(get_card("movenet_thunder"))
    for p, size in zip(thunder, (1000, 2_000_000, 65)):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)
    assert main(["models", "*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"  cache: {cache_dir}, {format_size(2_001_065)} (set POSEKIT_CACHE to use another folder)" in lines
    assert "  movenet_thunder: in the cache (2.0 MB)" in lines
    assert (f"  posenet: not in the cache; the first use downloads {HUMAN_MODELS.spec} "
            f"({format_size(HUMAN_MODELS.size)})") in lines
    assert (f"  blazepose_lite: not in the cache; the first use downloads {HUMAN_MODELS.spec} (144.5 MB), "
            f"{MEDIAPIPE_POSE.spec} (41.0 MB)") in lines
    # with the package downloaded, a model that is not converted yet needs no download
    (cache_dir / "npm").mkdir()
    (cache_dir / "npm" / HUMAN_MODELS.tarball_name).write_bytes(b"x")
    assert main(["models", "posenet"]) == 0
    assert (f"  posenet: not converted yet; the first use converts it from the cached {HUMAN_MODELS.spec}"
            in capsys.readouterr().out.splitlines())
