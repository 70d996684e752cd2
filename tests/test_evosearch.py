"""EvoPose2D neuroevolution (posekit.search.evo): mutation, fitness, weight transfer, resume."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from posekit.engine.presets import get_search_preset
from posekit.errors import PosekitError
from posekit.search import evo


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    cfg = get_search_preset("evopose2d_search_tiny")
    return cfg, evo.load_search_data(cfg)


def test_fitness_is_the_papers_formula():
    # J = (T / n) ** Gamma * L with T = 5e6, Gamma = -0.07 (official E3.yaml)
    assert evo.fitness(0.5, 5_000_000) == pytest.approx(0.5)
    assert evo.fitness(0.5, 10_000_000) == pytest.approx(0.5 * 2 ** 0.07)
    assert evo.fitness(0.5, 2_500_000) < 0.5          # fewer parameters than T: rewarded
    assert evo.fitness(1.0, 1000, target_params=1000, gamma=-0.5) == 1.0


def test_mutation_changes_one_field_of_one_stage():
    g = evo.SEED_GENOTYPE
    rng = np.random.default_rng(0)
    strides_seen = set()
    for _ in range(200):
        c = evo.mutate(g, rng)
        diffs = [(i, f) for i, (a, b) in enumerate(zip(g.blocks, c.blocks))
                 for f in ("kernel", "repeats", "filters8", "stride") if getattr(a, f) != getattr(b, f)]
        assert len(diffs) == 1, diffs
        i, f = diffs[0]
        if f == "stride":
            assert i >= len(g.blocks) - 3
            strides_seen.add(evo.trunk_stride(c))
        assert evo.trunk_stride(c) in evo.TRUNK_STRIDES
        assert c.blocks[i].kernel in evo.KERNELS and 1 <= c.blocks[i].repeats <= evo.MAX_REPEATS
    assert strides_seen == {16}                      # B0's trunk stride 32 -> 16 is the only stride move
    assert evo.parse_genotype_str(evo.genotype_str(g)) == g
    seen = {evo._key(evo.mutate(g, np.random.default_rng(1)))}
    assert evo._key(evo.mutate(g, np.random.default_rng(1), seen)) not in seen


def test_weight_transfer_on_and_off(tiny):
    cfg, data = tiny
    device = torch.device("cpu")
    parent = evo._make_member(0, 0, cfg.seed_network(), None, 1, data, cfg, device)
    g = parent.genotype.mutate_stage(3, filters8=parent.genotype.blocks[3].filters8 + 1)
    with_t = evo._make_member(1, 1, g, parent, 0, data, cfg, device)
    without = evo._make_member(1, 1, g, parent, 0, data, replace(cfg, transfer=False), device)
    same_shape = [k for k, v in with_t.state.items() if v.dtype.is_floating_point
                  and k in parent.state and parent.state[k].shape == v.shape and "stages.3" not in k]
    assert len(same_shape) > 20
    for k in same_shape:                              # inherited exactly
        assert torch.equal(with_t.state[k], parent.state[k]), k
    # the widened stage keeps the parent's filters in its overlap
    k = "stages.3.0.project.0.weight" if "stages.3.0.project.0.weight" in parent.state else None
    if k is None:
        k = next(n for n in parent.state if n.startswith("stages.3.0.") and parent.state[n].dim() == 4
                 and parent.state[n].shape != with_t.state[n].shape)
    p, c = parent.state[k], with_t.state[k]
    ov = tuple(slice(0, min(a, b)) for a, b in zip(p.shape, c.shape))
    assert torch.equal(c[ov], p[ov])
    # switched off: the child starts from its own initialisation
    differ = sum(not torch.equal(without.state[k], parent.state[k]) for k in same_shape if k.endswith("weight"))
    assert differ > 10
    assert with_t.val_loss != without.val_loss


def test_resume_gives_the_uninterrupted_search(tiny, tmp_path):
    cfg, data = tiny
    full = evo.run_search(cfg, tmp_path / "full", data=data)
    evo.run_search(replace(cfg, generations=1), tmp_path / "cut", data=data)
    gen, _, hist1, _ = evo.load_state(tmp_path / "cut")
    assert gen == 1 and {r["generation"] for r in hist1} == {0, 1}
    resumed = evo.run_search(cfg, tmp_path / "cut", resume=True, data=data)
    assert [evo.genotype_rows(m.genotype) for m in resumed] == [evo.genotype_rows(m.genotype) for m in full]
    assert [m.fitness for m in resumed] == pytest.approx([m.fitness for m in full], rel=1e-6)
    for a, b in zip(resumed, full):
        for k in a.state:
            torch.testing.assert_close(a.state[k], b.state[k])
    assert (tmp_path / "full" / "log.csv").read_text() == (tmp_path / "cut" / "log.csv").read_text()
    state = json.loads((tmp_path / "cut" / "search_state.json").read_text())
    assert state["generation"] == 2 and len(list((tmp_path / "cut").glob("population_g*.safetensors"))) == 1
    # (mu, lambda): the saved parents are the mu best children of the last generation
    last = [r for r in state["history"] if r["generation"] == 2]
    best = sorted(last, key=lambda r: float(r["fitness"]))[:cfg.mu]
    assert {r["id"] for r in best} == {m["id"] for m in state["population"]}
    with pytest.raises(PosekitError, match="already holds a search"):
        evo.run_search(cfg, tmp_path / "cut", data=data)
    with pytest.raises(PosekitError, match="other settings"):
        evo.run_search(replace(cfg, lr=0.1, generations=3), tmp_path / "cut", resume=True, data=data)


def test_compound_scaling_of_the_result():
    g = get_search_preset("evopose2d_search_tiny").seed_network()
    small = evo.scaled_network(g, (64, 64), (64, 64), head_channels=16)
    big = evo.scaled_network(g, (64, 64), (128, 96), head_channels=16)
    from posekit.models.evopose2d import scaling_coefficients
    depth, width = scaling_coefficients((128, 96), base=64)
    assert depth > 1 and width > 1
    assert len(big.stages[5]) == math.ceil(depth * g.blocks[5].repeats) > len(small.stages[5])
    assert evo.count_parameters(big) > evo.count_parameters(small)


def test_cli_search_help_and_tiny_run(tmp_path, capsys):
    from posekit.cli import main
    with pytest.raises(SystemExit):
        main(["search", "evopose2d", "--help"])
    assert "--resume" in capsys.readouterr().out
    assert main(["search", "evopose2d", "--out", str(tmp_path / "s"), "--preset", "evopose2d_search_tiny",
                 "--generations", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "best: id" in out and (tmp_path / "s" / "log.csv").exists()
