"""EvoPose2D's neuroevolution with weight transfer: a (mu, lambda) search over genotypes.

Reference: McNally, Vats, Wong & McPhee, "EvoPose2D: Pushing the Boundaries of 2D Human Pose
Estimation using Accelerated Neuroevolution with Weight Transfer", IEEE Access 9, 2021
(arXiv:2011.08446); official search script ``ga.py`` and config ``configs/E3.yaml``.

The pieces, as in the paper:

* **search space**: per stage (module) of the :class:`~posekit.models.evopose2d.Genotype`,
  the kernel size (3, 5, 7), the number of inverted-residual blocks (1..:data:`MAX_REPEATS`),
  the output channels (multiples of 8) and, in the last three stages only, the stride (1 or
  2; the trunk's total stride is kept at 16 or 32, :data:`TRUNK_STRIDES`);
* **mutation**: a child is its parent with one random field of one random stage changed
  (:func:`mutate`), and it starts from its parent's trained weights, cropped or padded where
  shapes differ (:func:`~posekit.models.evopose2d.transfer_weights`);
* **fitness** (lower is better): ``J = (T / n(theta)) ** Gamma * L_val`` with ``n(theta)`` the
  number of parameters, ``T`` the target number of parameters and ``L_val`` the best
  validation loss of the child; the official search (``E3.yaml``) uses ``T = 5e6`` and
  ``Gamma = -0.07`` (so more parameters than ``T`` raise ``J``, fewer lower it) -- the defaults
  of :class:`SearchConfig`;
* **(mu, lambda) selection**: each generation, ``lambda`` children are made, each from one of
  the ``mu`` parents in turn; the ``mu`` children with the lowest fitness become the parents of
  the next generation (generation 0 is the seed network alone, trained longer);
* **compound scaling** of the result to other input resolutions:
  :func:`scaled_network` builds the found genotype for an ``(H, W)`` input with EfficientNet's
  depth/width multipliers relative to the search resolution.

Training is posekit's engine pieces: synthetic top-down crops from
:func:`posekit.engine.data.build_records` (``posekit.data.synthetic``) encoded by the engine's
MSRA heatmap codec, :class:`~posekit.losses.KeypointMSELoss`, Adam from
:func:`posekit.engine.train.build_optimizer` and the cosine schedule
:func:`posekit.engine.schedule.lr_at`, on :func:`posekit.device.resolve_device` (a GPU when
there is one, unchanged code). The crops are not augmented, so they are loaded once into
tensors. A child whose trunk stride differs from the codec's has its heatmaps resized
(bilinear) to the codec's grid before the loss, so every child's loss is measured on the same
targets.

**Checkpoint** (``DIR/search_state.json`` + ``DIR/population_gNNN.safetensors``), written after
every generation: the JSON (generation, config, every population member's genotype, parameter
count, validation loss, fitness, parent, and the file holding the weights) is written
atomically after its weights file, so a reader sees the old or the new generation, never half
of one. Every random draw is a pure function of ``(seed, generation, child)`` (mutation RNG,
weight initialisation, batch order), so the state to resume is the generation alone and
``--resume`` continues exactly as if the search had not stopped.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from posekit.errors import PosekitError
from posekit.models.evopose2d import (
    B0_GENOTYPE, EvoPose2D, EvoPose2DSpec, Genotype, transfer_weights,
)

__all__ = ["SearchConfig", "Member", "SEED_GENOTYPE", "mutate", "fitness", "count_parameters", "build_network",
           "scaled_network", "SearchData", "load_search_data", "train_child", "validation_loss", "run_search",
           "load_state", "best_of", "genotype_str", "parse_genotype_str", "KERNELS", "MAX_REPEATS", "TRUNK_STRIDES"]

log = logging.getLogger(__name__)

KERNELS = (3, 5, 7)
MAX_REPEATS = 4
MAX_FILTERS8 = 48
#: Allowed total strides of the trunk (stem x stages); heatmaps are at trunk stride / 8.
TRUNK_STRIDES = (16, 32)
STATE_NAME = "search_state.json"
LOG_NAME = "log.csv"
FORMAT_VERSION = 1

#: The hand-made seed network (the paper's common ancestor): EfficientNet-B0's stages.
SEED_GENOTYPE = B0_GENOTYPE


@dataclass(frozen=True)
class SearchConfig:
    """A search. ``input_size`` is ``(H, W)`` and must be divisible by 32; ``steps`` trains
    each child, ``seed_steps`` the generation-0 seed network; ``target_params`` (T) and
    ``gamma`` (Gamma) are the fitness's (paper: 5e6 and -0.07); ``transfer`` False trains every
    child from scratch (the ablation); ``val_every`` > 0 records the validation loss every that
    many steps (the curves of the transfer figure; the fitness uses the best recorded)."""

    input_size: tuple[int, int] = (64, 64)
    generations: int = 2
    mu: int = 2
    lam: int = 4
    steps: int = 30
    seed_steps: int = 120
    batch_size: int = 8
    lr: float = 2e-3
    target_params: float = 5e6
    gamma: float = -0.07
    head_channels: int = 32
    sigma: float = 1.5
    num_train: int = 256
    num_val: int = 32
    data_seed: int = 0
    seed: int = 0
    transfer: bool = True
    val_every: int = 0
    device: str = "auto"
    #: The seed network's genotype as ``[[kernel, repeats, filters/8, stride], ...]`` rows;
    #: empty = :data:`SEED_GENOTYPE` (EfficientNet-B0's stages).
    seed_genotype: tuple[tuple[int, int, int, int], ...] = ()

    def seed_network(self) -> Genotype:
        return Genotype.from_lists(self.seed_genotype) if self.seed_genotype else SEED_GENOTYPE


@dataclass
class Member:
    """One trained network of the population (weights in ``state``, CPU tensors)."""

    id: int
    generation: int
    genotype: Genotype
    parent: int | None
    params: int
    val_loss: float
    fitness: float
    curve: list[tuple[int, float]] = field(default_factory=list)
    state: dict[str, Tensor] | None = None

    def to_json(self) -> dict:
        return {"id": self.id, "generation": self.generation, "parent": self.parent, "params": self.params,
                "val_loss": self.val_loss, "fitness": self.fitness, "curve": self.curve,
                "genotype": genotype_rows(self.genotype)}


def genotype_rows(g: Genotype) -> list[list[int]]:
    """The official ``[[kernel, repeats, filters/8, stride], ...]`` form."""
    return [[b.kernel, b.repeats, b.filters8, b.stride] for b in g.blocks]


def genotype_str(g: Genotype) -> str:
    """Compact one-line form: stage genes ``k{kernel}r{repeats}c{channels}s{stride}``."""
    return " ".join(f"k{b.kernel}r{b.repeats}c{b.filters8 * 8}s{b.stride}" for b in g.blocks)


def trunk_stride(g: Genotype) -> int:
    """Stem (2) times every stage's stride."""
    return 2 * math.prod(b.stride for b in g.blocks)


def mutate(g: Genotype, rng: np.random.Generator, seen: set[tuple] | None = None, tries: int = 50) -> Genotype:
    """One random change of one random stage (kernel, repeats, channels, or, in the last three
    stages, stride keeping the trunk stride in :data:`TRUNK_STRIDES`). Genotypes in ``seen``
    (as :func:`genotype_rows` tuples) are drawn again, as the official search's cache does."""
    n = len(g.blocks)
    child = g
    for _ in range(tries):
        i = int(rng.integers(n))
        b = g.blocks[i]
        fields = ["kernel", "repeats", "filters8"] + (["stride"] if i >= n - 3 else [])
        name = fields[int(rng.integers(len(fields)))]
        if name == "kernel":
            value = int(rng.choice([k for k in KERNELS if k != b.kernel]))
        elif name == "repeats":
            value = int(np.clip(b.repeats + rng.choice([-1, 1]), 1, MAX_REPEATS))
        elif name == "filters8":
            value = int(np.clip(b.filters8 + rng.choice([-1, 1]), 1, MAX_FILTERS8))
        else:
            value = 3 - b.stride
        child = g.mutate_stage(i, **{name: value})
        if child == g or trunk_stride(child) not in TRUNK_STRIDES:
            continue
        if seen is None or _key(child) not in seen:
            return child
    return child


def _key(g: Genotype) -> tuple:
    return tuple(tuple(r) for r in genotype_rows(g))


def fitness(val_loss: float, params: int, target_params: float = 5e6, gamma: float = -0.07) -> float:
    """``J = (T / n) ** Gamma * L_val`` (EvoPose2D Sec. III-C; lower is better)."""
    return float((target_params / params) ** gamma * val_loss)


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def build_network(g: Genotype, cfg: SearchConfig, num_keypoints: int = 17) -> EvoPose2D:
    """The genotype as built during the search: unscaled at ``cfg.input_size``."""
    H, W = cfg.input_size
    return EvoPose2D(EvoPose2DSpec(g, (H, W), head_channels=cfg.head_channels,
                                   compound_base=int(round((H + W) / 2))), num_keypoints)


def scaled_network(g: Genotype, search_size: tuple[int, int], input_size: tuple[int, int],
                   head_channels: int = 128, num_keypoints: int = 17) -> EvoPose2D:
    """The searched genotype compound-scaled from the search resolution ``search_size`` (H, W)
    to ``input_size`` (H, W): depth ``1.2 ** phi``, width ``1.1 ** phi`` with
    ``phi = ln(s / s0) / ln(1.15)``, ``s = (H + W) / 2`` (as EvoPose2D-M/L from -S)."""
    base = int(round(sum(search_size) / 2))
    return EvoPose2D(EvoPose2DSpec(g, tuple(input_size), head_channels=head_channels, compound_base=base),
                     num_keypoints)


# ------------------------------------------------------------------------------------ data

@dataclass
class SearchData:
    """Training and validation crops as tensors: ``images (N, 3, H, W)`` normalised,
    ``heatmaps (N, K, h, w)`` at the codec's grid, ``weights (N, K)``."""

    train_images: Tensor
    train_heatmaps: Tensor
    train_weights: Tensor
    val_images: Tensor
    val_heatmaps: Tensor
    val_weights: Tensor


def _experiment(cfg: SearchConfig):
    from posekit.engine.config import DataConfig, ExperimentConfig, ModelConfig
    H, W = cfg.input_size
    return ExperimentConfig(
        name="evopose2d_search",
        data=DataConfig(dataset="synthetic", spec="coco17", input_size=(W, H), num_train=cfg.num_train,
                        num_val=cfg.num_val, data_seed=cfg.data_seed, aug=False),
        model=ModelConfig(arch="evopose2d_s", codec="msra", sigma=cfg.sigma, decoder="argmax",
                          stride=trunk_stride(cfg.seed_network()) // 8))


def load_search_data(cfg: SearchConfig) -> SearchData:
    """Build the engine's synthetic top-down sets for ``cfg`` and load them into tensors."""
    from posekit.data.datasets import TopDownDataset
    from posekit.engine.data import build_codec, build_records
    from posekit.skeleton import get_spec
    H, W = cfg.input_size
    if H % 32 or W % 32:
        raise PosekitError(f"search input size {H}x{W}: H and W must be multiples of 32")
    exp = _experiment(cfg)
    spec = get_spec("coco17")
    codec = build_codec(exp, spec)
    out = []
    for split in ("train", "val"):
        records, images = build_records(exp, split, spec)
        ds = TopDownDataset(records, images, spec, input_size=(W, H), train=False, codec=codec)
        samples = [ds[i] for i in range(len(ds))]
        out += [torch.stack([s["image"] for s in samples]), torch.stack([s["heatmaps"] for s in samples]),
                torch.stack([s["weights"] for s in samples]).reshape(len(samples), -1)]
    return SearchData(*out)


# -------------------------------------------------------------------------------- training

def _loss(model: nn.Module, images: Tensor, heatmaps: Tensor, weights: Tensor) -> Tensor:
    from posekit.losses import KeypointMSELoss
    pred = model(images)
    if pred.shape[-2:] != heatmaps.shape[-2:]:      # another trunk stride: onto the codec's grid
        pred = nn.functional.interpolate(pred, size=heatmaps.shape[-2:], mode="bilinear", align_corners=False)
    return KeypointMSELoss(use_target_weight=True)(pred, heatmaps, weights)


@torch.no_grad()
def validation_loss(model: nn.Module, data: SearchData, device: torch.device, batch: int = 64) -> float:
    """Mean keypoint MSE over the validation crops (eval mode)."""
    was = model.training
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(data.val_images), batch):
        sl = slice(i, i + batch)
        b = data.val_images[sl].shape[0]
        total += float(_loss(model, data.val_images[sl].to(device), data.val_heatmaps[sl].to(device),
                             data.val_weights[sl].to(device))) * b
        n += b
    model.train(was)
    return total / max(n, 1)


def train_child(model: nn.Module, data: SearchData, steps: int, cfg: SearchConfig, seed: int,
                device: torch.device) -> list[tuple[int, float]]:
    """Train ``model`` in place for ``steps`` Adam steps (cosine schedule) on batches drawn by
    ``default_rng(seed)``; returns the validation curve ``[(step, loss), ...]`` (every
    ``cfg.val_every`` steps when > 0, always at the end)."""
    from posekit.engine.config import OptimConfig, ScheduleConfig
    from posekit.engine.schedule import lr_at
    from posekit.engine.train import build_optimizer
    rng = np.random.default_rng(seed)
    opt = build_optimizer(model, OptimConfig(optimizer="adam", lr=cfg.lr))
    sched = ScheduleConfig(kind="cosine", warmup_steps=0, min_lr_factor=0.05)
    n = len(data.train_images)
    curve: list[tuple[int, float]] = []
    if cfg.val_every > 0:
        curve.append((0, validation_loss(model, data, device)))
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg.lr, steps, sched)
        idx = torch.from_numpy(rng.choice(n, size=min(cfg.batch_size, n), replace=False))
        loss = _loss(model, data.train_images[idx].to(device), data.train_heatmaps[idx].to(device),
                     data.train_weights[idx].to(device))
        if not torch.isfinite(loss):
            raise PosekitError(f"search: loss is {loss.item()} at step {step} (seed {seed})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if cfg.val_every > 0 and (step + 1) % cfg.val_every == 0 and step + 1 < steps:
            curve.append((step + 1, validation_loss(model, data, device)))
    curve.append((steps, validation_loss(model, data, device)))
    return curve


def _make_member(mid: int, gen: int, g: Genotype, parent: Member | None, steps: int, data: SearchData,
                 cfg: SearchConfig, device: torch.device) -> Member:
    torch.manual_seed(_seed(cfg.seed, gen, mid, 1))           # the child's own initialisation
    model = build_network(g, cfg).to(device)
    if parent is not None and cfg.transfer:
        p_model = build_network(parent.genotype, cfg)
        p_model.load_state_dict(parent.state)
        transfer_weights(p_model.to(device), model)
    curve = train_child(model, data, steps, cfg, _seed(cfg.seed, gen, mid, 2), device)
    n = count_parameters(model)
    best = min(v for _, v in curve)
    return Member(mid, gen, g, None if parent is None else parent.id, n, best,
                  fitness(best, n, cfg.target_params, cfg.gamma), curve,
                  {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})


def _seed(*parts: int) -> int:
    """A 63-bit seed from integers (stable across runs and processes)."""
    return int(np.random.default_rng(list(parts)).integers(2 ** 63 - 1))


# ---------------------------------------------------------------------------- checkpoints

def _write_generation(out: Path, gen: int, population: list[Member], history: list[dict], cfg: SearchConfig) -> None:
    from safetensors.torch import save_file
    weights_name = f"population_g{gen:03d}.safetensors"
    tensors = {f"m{m.id}.{k}": v.contiguous() for m in population for k, v in m.state.items()}
    tmp = out / f".{weights_name}.tmp-{os.getpid()}"
    save_file(tensors, str(tmp))
    os.replace(tmp, out / weights_name)
    state = {"format": FORMAT_VERSION, "generation": gen, "config": _config_json(cfg), "weights": weights_name,
             "population": [m.to_json() for m in population], "history": history,
             "rng": "every draw is default_rng((seed, generation, child, purpose)): nothing else to save"}
    from posekit.io import write_text_atomic
    write_text_atomic(out / STATE_NAME, json.dumps(state, indent=1))
    for old in out.glob("population_g*.safetensors"):
        if old.name != weights_name:
            old.unlink(missing_ok=True)


def _config_json(cfg: SearchConfig) -> dict:
    d = asdict(cfg)
    d["input_size"] = list(cfg.input_size)
    d["seed_genotype"] = [list(r) for r in cfg.seed_genotype]
    return d


def load_state(out: str | Path) -> tuple[int, list[Member], list[dict], dict]:
    """``(generation, population with weights, history rows, config dict)`` of a search folder."""
    from safetensors.torch import load_file
    out = Path(out)
    path = out / STATE_NAME
    try:
        state = json.loads(path.read_text())
        tensors = load_file(str(out / state["weights"]))
    except (OSError, ValueError, KeyError) as e:
        raise PosekitError(f"{path}: cannot read the search state ({e})") from None
    pop = []
    for d in state["population"]:
        prefix = f"m{d['id']}."
        weights = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        pop.append(Member(d["id"], d["generation"], Genotype.from_lists(d["genotype"]), d["parent"], d["params"],
                          d["val_loss"], d["fitness"], [tuple(c) for c in d["curve"]], weights))
    return state["generation"], pop, state["history"], state["config"]


LOG_COLUMNS = ["generation", "id", "parent", "params", "val_loss", "fitness", "selected", "genotype"]


def _write_log(out: Path, history: list[dict]) -> None:
    import io
    from posekit.io import write_text_atomic
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=LOG_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(history)
    write_text_atomic(out / LOG_NAME, text.getvalue())


def _row(m: Member, selected: bool) -> dict:
    return {"generation": m.generation, "id": m.id, "parent": "" if m.parent is None else m.parent,
            "params": m.params, "val_loss": f"{m.val_loss:.6g}", "fitness": f"{m.fitness:.6g}",
            "selected": int(selected), "genotype": genotype_str(m.genotype)}


# ---------------------------------------------------------------------------------- search

def run_search(cfg: SearchConfig, out: str | Path, resume: bool = False, data: SearchData | None = None,
               on_generation=None) -> list[Member]:
    """Run (or, with ``resume``, continue) the search in ``out`` up to ``cfg.generations``
    generations after the seed (generation 0); returns the final parents, best first.
    ``on_generation(gen, children, parents)`` is called after each generation is saved."""
    from posekit.device import resolve_device
    from posekit.io import output_dir
    out = output_dir(out)
    if cfg.mu < 1 or cfg.lam < cfg.mu:
        raise PosekitError(f"search: need 1 <= mu <= lambda, got mu={cfg.mu}, lambda={cfg.lam}")
    device = resolve_device(cfg.device)
    if data is None:
        data = load_search_data(cfg)
    if resume:
        if not (out / STATE_NAME).exists():
            raise PosekitError(f"{out}: no {STATE_NAME} to resume from")
        gen, parents, history, saved = load_state(out)
        same = {k: v for k, v in _config_json(cfg).items() if k not in ("generations", "device")}
        diff = sorted(k for k, v in same.items() if saved.get(k) != v)
        if diff:
            raise PosekitError(f"{out / STATE_NAME}: the search was run with other settings ({', '.join(diff)}); "
                               "resume with the same ones")
        log.info("resuming %s after generation %d", out, gen)
    else:
        if (out / STATE_NAME).exists():
            raise PosekitError(f"{out}: already holds a search ({STATE_NAME}); continue it with --resume")
        seed = _make_member(0, 0, cfg.seed_network(), None, cfg.seed_steps, data, cfg, device)
        parents, history, gen = [seed], [_row(seed, True)], 0
        _write_generation(out, 0, parents, history, cfg)
        _write_log(out, history)
        if on_generation:
            on_generation(0, [seed], parents)
    next_id = max(int(r["id"]) for r in history) + 1
    seen = {_key(parse_genotype_str(r["genotype"])) for r in history}
    while gen < cfg.generations:
        gen += 1
        children = []
        for c in range(cfg.lam):
            parent = parents[c % len(parents)]
            g = mutate(parent.genotype, np.random.default_rng([cfg.seed, gen, c, 0]), seen)
            seen.add(_key(g))
            children.append(_make_member(next_id, gen, g, parent, cfg.steps, data, cfg, device))
            next_id += 1
            log.info("generation %d child %d: J=%.5g", gen, c, children[-1].fitness)
        parents = sorted(children, key=lambda m: m.fitness)[:cfg.mu]
        chosen = {m.id for m in parents}
        history += [_row(m, m.id in chosen) for m in children]
        _write_generation(out, gen, parents, history, cfg)
        _write_log(out, history)
        if on_generation:
            on_generation(gen, children, parents)
    return sorted(parents, key=lambda m: m.fitness)


def parse_genotype_str(text: str) -> Genotype:
    """The inverse of :func:`genotype_str` (``"k3r1c16s1 k3r2c24s2 ..."``)."""
    import re
    rows = []
    for stage in text.split():
        m = re.fullmatch(r"k(\d+)r(\d+)c(\d+)s(\d+)", stage)
        if m is None:
            raise PosekitError(f"genotype {text!r}: stage {stage!r} is not k<kernel>r<repeats>c<channels>s<stride>")
        k, r, c, st = (int(v) for v in m.groups())
        rows.append([k, r, c // 8, st])
    return Genotype.from_lists(rows)


def best_of(out: str | Path) -> Member:
    """The lowest-fitness member of a search folder's current population."""
    _, pop, _, _ = load_state(out)
    return min(pop, key=lambda m: m.fitness)
