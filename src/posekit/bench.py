"""Computational metrics of models and pipelines: what ``posekit bench`` measures.

* A **model** (a zoo architecture, random weights; a pretrained model; or a training
  checkpoint): parameters, multiply-adds (:func:`posekit.models.complexity.count_macs`) and
  GFLOPs in the convention of the model's paper (:mod:`posekit.models.conventions`), then the
  latency of the forward pass on a ``(batch, 3, H, W)`` input: median, 10th and 90th percentile
  over ``repeats`` passes after ``warmup`` passes, and the throughput ``batch / median``.
* A **pipeline** (:data:`posekit.pipelines.PIPELINES`): per stage (the predictor's ``timings``:
  detector, crops, pose, decode, nms for top-down; model, decode for bottom-up) and end to end
  per image, batch 1, over the COCO sample images when they are there (else synthetic images);
  with the sample, its COCO keypoint AP/AR by :func:`posekit.metrics.coco_eval`.

:func:`write_all` runs every zoo model, every pretrained model and every pipeline and writes the
Markdown report (``posekit bench --all`` writes ``docs/benchmarks.md``) and the accuracy versus
latency plot of the pipelines.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posekit.errors import PosekitError

__all__ = ["LatencyStats", "ModelBench", "PipelineBench", "latency_stats", "resolve_target", "bench_model",
           "bench_pipeline", "coco_sample", "write_all", "machine_description", "DEFAULT_SAMPLE"]

log = logging.getLogger(__name__)

#: Where the COCO sample lives in a checkout: ``../shared/data/coco`` beside the repository.
DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "coco"


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds: median, 10th and 90th percentile of ``n`` timed runs."""

    median: float
    p10: float
    p90: float
    n: int

    def line(self) -> str:
        return f"median {self.median:.1f} ms, p10 {self.p10:.1f} ms, p90 {self.p90:.1f} ms ({self.n} runs)"


def latency_stats(ms: Sequence[float]) -> LatencyStats:
    """:class:`LatencyStats` of a list of milliseconds (at least one)."""
    a = np.asarray(ms, np.float64)
    if a.size == 0:
        raise ValueError("no timings")
    return LatencyStats(float(np.median(a)), float(np.percentile(a, 10)), float(np.percentile(a, 90)), int(a.size))


@dataclass(frozen=True)
class ModelBench:
    """One model's figures. ``input_hw`` is ``(H, W)``; ``gflops`` is in ``convention``."""

    name: str
    kind: str                 # "zoo", "pretrained" or "checkpoint"
    input_hw: tuple[int, int]
    batch: int
    params: int
    macs: int
    gflops: float
    convention: str           # ComputeConvention.key
    convention_label: str
    convention_note: str
    latency: LatencyStats | None
    threads: int
    device: str

    @property
    def throughput(self) -> float:
        """Images per second at ``batch``."""
        return float("nan") if self.latency is None else self.batch * 1000.0 / self.latency.median

    def lines(self) -> list[str]:
        from posekit.models.conventions import CONVENTIONS
        conv = CONVENTIONS[self.convention]
        h, w = self.input_hw
        out = [f"{self.name} ({self.kind}): input {h}x{w} (HxW), batch {self.batch}, {self.threads} threads, "
               f"device {self.device}",
               f"  params: {self.params / 1e6:.3f} M",
               f"  multiply-adds: {self.macs / 1e9:.3f} GMACs per image",
               f"  GFLOPs in the paper's convention: {self.gflops:.3f} ({conv.label})",
               f"  convention {conv.key}: {conv.description}; for this model: {self.convention_note}"]
        if self.latency is not None:
            out += [f"  latency (forward pass, batch {self.batch}): {self.latency.line()}",
                    f"  throughput: {self.throughput:.1f} images/s at batch {self.batch}"]
        return out


@dataclass(frozen=True)
class PipelineBench:
    """One pipeline's figures: per-stage and end-to-end latency per image, batch 1."""

    name: str
    kind: str
    images: str               # what was timed
    stages: dict[str, LatencyStats]
    end_to_end: LatencyStats
    throughput: float         # images/s of predict_batch over the images
    ap: float | None = None
    ar: float | None = None
    threads: int = 1
    device: str = "cpu"
    detections: float | None = None   # mean poses per image before drawing

    def lines(self) -> list[str]:
        out = [f"{self.name} ({self.kind} pipeline) on {self.images}, batch 1, {self.threads} threads, "
               f"device {self.device}"]
        for k, s in self.stages.items():
            out.append(f"  stage {k:<9} {s.line()}")
        out.append(f"  end to end      {self.end_to_end.line()}")
        out.append(f"  throughput: {self.throughput:.1f} images/s (predict_batch over the images)")
        if self.ap is not None:
            out.append(f"  COCO sample: AP {self.ap:.3f}, AR {self.ar:.3f}")
        return out


# ------------------------------------------------------------------------------------ targets
def resolve_target(target: str) -> tuple[str, str]:
    """``(kind, name)`` of a bench target: ``"checkpoint"`` (a ``.safetensors`` path),
    ``"pipeline"``, ``"zoo"`` or ``"pretrained"``. A name that is both a pipeline and a model
    (``posenet``) is the pipeline; ``zoo:NAME``, ``pretrained:NAME`` and ``pipeline:NAME``
    force the kind."""
    from posekit.models.zoo import ZOO
    from posekit.pipelines import PIPELINES
    from posekit.pretrained.cards import CARDS

    kinds = {"zoo": ZOO, "pretrained": CARDS, "pipeline": PIPELINES}
    if ":" in target and target.split(":", 1)[0] in kinds:
        kind, name = target.split(":", 1)
        if name not in kinds[kind]:
            raise PosekitError(f"{name!r} is not a {kind} name")
        return kind, name
    if target.endswith(".safetensors"):
        if not Path(target).is_file():
            raise PosekitError(f"{target}: no such checkpoint")
        return "checkpoint", target
    for kind in ("pipeline", "zoo", "pretrained"):
        if target in kinds[kind]:
            return kind, target
    raise PosekitError(f"{target!r} is neither a pipeline, a zoo model, a pretrained model nor a "
                       f".safetensors checkpoint (posekit models lists them)")


def _time_calls(fn: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1e3)
    return ms


def _model_and_input(kind: str, name: str, device, input_hw):
    """(module, input (H, W), convention name, normalised input maker) for a model target."""
    import torch

    if kind == "zoo":
        from posekit.models.zoo import create
        model = create(name).to(device).eval()
        return model, tuple(input_hw or model.default_input_size), name
    if kind == "pretrained":
        from posekit.pretrained import load_pretrained
        model, card = load_pretrained(name, device)
        w, h = card.input_size
        return model, tuple(input_hw or (h, w)), name
    from posekit.models.estimator import Estimator
    est = Estimator.from_checkpoint(name, device)
    arch = est.name.split(" (")[0]
    w, h = est.input_size
    del torch
    return est.module.eval(), tuple(input_hw or (h, w)), arch


def bench_model(target: str, input_hw: tuple[int, int] | None = None, batch: int = 1, threads: int | None = None,
                device: str | None = None, repeats: int = 10, warmup: int = 2, kind: str | None = None) -> ModelBench:
    """Parameters, multiply-adds, the paper's GFLOPs and the forward latency of one model.

    Args:
        target: a zoo name, a pretrained card name or a ``.safetensors`` checkpoint path.
        input_hw: ``(H, W)``; default the model's own input.
        batch: images per forward pass for the latency (the counts are per image).
        threads: torch CPU threads (None: :func:`posekit.device.default_threads`).
        repeats, warmup: timed and untimed forward passes (``repeats=0``: counts only).
        kind: ``"zoo"``, ``"pretrained"`` or ``"checkpoint"`` (default: :func:`resolve_target`).
    """
    import torch

    from posekit.device import resolve_device, set_threads
    from posekit.models.complexity import count_macs, count_params
    from posekit.models.conventions import convention_of, count_hrnet_summary, paper_gflops

    if kind is None:
        kind, target = resolve_target(target)
    if kind == "pipeline":
        raise PosekitError(f"{target} is a pipeline: use bench_pipeline")
    if batch < 1:
        raise PosekitError(f"batch must be at least 1, got {batch}")
    n_threads = set_threads(threads)
    dev = resolve_device(device)
    if kind == "zoo":
        # counted on the meta device (shapes only, no arithmetic); built for real only to time it
        from posekit.models.zoo import create
        with torch.device("meta"):
            counted = create(target)
        hw, conv_name = tuple(input_hw or counted.default_input_size), target
        model = create(target).to(dev).eval() if repeats > 0 else counted
    else:
        model, hw, conv_name = _model_and_input(kind, target, dev, input_hw)
        counted = model
    conv, note = convention_of(conv_name)
    try:
        macs = count_macs(counted, hw)
        summary = count_hrnet_summary(counted, hw) if conv.key.startswith("hrnet_summary") else None
    except Exception as e:  # noqa: BLE001 - name the model and input in the one-line error
        raise PosekitError(f"{target}: cannot run at input {hw[0]}x{hw[1]} (HxW): {type(e).__name__}: "
                           f"{str(e).splitlines()[0][:200] if str(e) else ''}") from None
    latency = None
    if repeats > 0:
        x = torch.rand(batch, 3, *hw, device=dev)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

        def forward() -> None:
            with torch.no_grad():
                model(x)
            sync()
        latency = latency_stats(_time_calls(forward, repeats, warmup))
    return ModelBench(Path(target).name if kind == "checkpoint" else target, kind, (int(hw[0]), int(hw[1])), batch,
                      count_params(counted), int(macs), paper_gflops(conv, macs, summary), conv.key, conv.label, note,
                      latency, n_threads, str(dev))


# ------------------------------------------------------------------------------------ pipelines
def coco_sample(folder: str | Path | None = None) -> tuple[object, list[tuple[int, str, np.ndarray]]] | None:
    """The COCO sample (``test_coco.json`` and its images: ``(CocoGroundTruth, [(image id, file
    name, (H, W, 3) uint8 RGB)])``), or None when the folder (default :data:`DEFAULT_SAMPLE`, or
    ``$POSEKIT_COCO_SAMPLE``) has no ``test_coco.json``."""
    from posekit.data.formats.coco import read_coco_ground_truth
    from posekit.io import read_image

    folder = Path(folder or os.environ.get("POSEKIT_COCO_SAMPLE") or DEFAULT_SAMPLE)
    ann = folder / "test_coco.json"
    if not ann.is_file():
        return None
    gt = read_coco_ground_truth(ann)
    return gt, [(int(iid), im["file_name"], read_image(folder / im["file_name"]))
                for iid, im in zip(gt.image_ids, gt.images)]


def synthetic_images(n: int = 4, size_wh: tuple[int, int] = (640, 480), seed: int = 0) -> list[np.ndarray]:
    """``n`` synthetic ``(H, W, 3)`` uint8 scenes with drawn people
    (:func:`posekit.data.synthetic.make_dataset`)."""
    from posekit.data.synthetic import make_dataset
    return [img for img, _ in make_dataset(n, seed=seed, size=size_wh, num_people=(1, 4))]


def results_of(poses, image_id: int) -> list[dict]:
    """COCO results entries of one image's poses, keypoints mapped to COCO-17."""
    from posekit.skeleton import COCO17, remap_keypoints
    kp = poses.keypoints if poses.spec is COCO17 else remap_keypoints(poses.keypoints, poses.spec, COCO17)
    return [{"image_id": int(image_id), "category_id": 1, "keypoints": k.reshape(-1).tolist(), "score": float(s)}
            for k, s in zip(kp, poses.scores)]


def evaluate_predictor(predictor, sample) -> dict[str, float]:
    """COCO keypoint AP/AR of ``predictor`` on the sample (:func:`coco_sample`'s value)."""
    from posekit.metrics import coco_eval
    gt, imgs = sample
    res = []
    for iid, _, im in imgs:
        res.extend(results_of(predictor.predict(im), iid))
    return coco_eval(gt, res)


def bench_pipeline(name: str, threads: int | None = None, device: str | None = None, repeats: int = 5,
                   sample: str | Path | None = None, predictor=None, **overrides) -> PipelineBench:
    """Per-stage and end-to-end latency (batch 1, ``repeats`` passes over the images after one
    warm-up pass) of pipeline ``name`` (or of a given ``predictor``), and its AP/AR on the COCO
    sample when present (else synthetic images, no AP). ``overrides`` go to
    :func:`posekit.pipelines.build_predictor`."""
    from posekit.device import set_threads
    from posekit.pipelines import PIPELINES, build_predictor

    n_threads = set_threads(threads)
    if predictor is None:
        if name not in PIPELINES:
            raise PosekitError(f"unknown pipeline {name!r}; known: {', '.join(PIPELINES)}")
        predictor = build_predictor(name, device, **overrides)
    data = coco_sample(sample)
    if data is not None:
        images = [im for _, _, im in data[1]]
        what = f"the {len(images)} COCO sample images"
    else:
        images = synthetic_images()
        what = f"{len(images)} synthetic 640x480 images (COCO sample not found)"
    acc = evaluate_predictor(predictor, data) if data is not None else None
    for im in images:                                    # warm-up: every input shape once more
        predictor.predict(im)
    total, per_stage, counts = [], {}, []
    for _ in range(max(repeats, 1)):
        for im in images:
            t = time.perf_counter()
            poses = predictor.predict(im)
            total.append((time.perf_counter() - t) * 1e3)
            counts.append(len(poses))
            for k, v in predictor.timings.items():
                per_stage.setdefault(k, []).append(v)
    t = time.perf_counter()
    predictor.predict_batch(images)
    thr = len(images) / (time.perf_counter() - t)
    kind = PIPELINES[name].kind if name in PIPELINES else getattr(predictor, "kind", "custom")
    import torch
    return PipelineBench(name, kind, what, {k: latency_stats(v) for k, v in per_stage.items()},
                         latency_stats(total), thr,
                         None if acc is None else float(acc["AP"]), None if acc is None else float(acc["AR"]),
                         n_threads, str(getattr(predictor, "device", None) or torch.device(device or "cpu")),
                         float(np.mean(counts)))


# ------------------------------------------------------------------------------------ --all
def machine_description() -> str:
    """One line: CPU model, logical CPUs, torch version and the 1-minute load average."""
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        load = "n/a"
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}; 1-min load average {load}")


def _model_rows(names: list[tuple[str, str]], threads: int, device: str | None, repeats: int) -> list:
    rows = []
    for kind, name in names:
        t = time.perf_counter()
        try:
            rows.append(bench_model(name, threads=threads, device=device, repeats=repeats, warmup=1, kind=kind))
            log.info("%s", rows[-1].lines()[-2] if repeats else "")
        except Exception as e:  # noqa: BLE001 - one model failing must not lose the report
            log.warning("bench %s: %s", name, e)
            rows.append((kind, name, f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"))
        log.info("bench %s: %.1f s", name, time.perf_counter() - t)
    return rows


def _model_table(rows: list) -> list[str]:
    out = ["| model | input HxW | params (M) | GMACs | GFLOPs, paper's convention | convention | "
           "median ms | p10 ms | p90 ms | images/s |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if isinstance(r, tuple):
            out.append(f"| {r[1]} | | | | | | failed: {r[2]} | | | |")
            continue
        lat = r.latency
        out.append(f"| {r.name} | {r.input_hw[0]}x{r.input_hw[1]} | {r.params / 1e6:.2f} | {r.macs / 1e9:.2f} | "
                   f"{r.gflops:.2f} | {r.convention} | {lat.median:.1f} | {lat.p10:.1f} | {lat.p90:.1f} | "
                   f"{r.throughput:.1f} |")
    return out


def _plot(rows: list[PipelineBench], peer: dict | None, path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise PosekitError(f"{path}: the plot needs matplotlib (pip install 'posekit[bench]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    for r in rows:
        if r.ap is None:
            continue
        ax.scatter(r.end_to_end.median, r.ap, color="tab:blue" if r.kind == "top-down" else "tab:green", zorder=3)
        ax.annotate(r.name, (r.end_to_end.median, r.ap), textcoords="offset points", xytext=(4, 3), fontsize=7)
    if peer:
        ax.scatter(peer["median_ms"], peer["AP"], color="tab:red", marker="*", s=120, zorder=4)
        ax.annotate(peer["name"] + " (peer)", (peer["median_ms"], peer["AP"]), textcoords="offset points",
                    xytext=(4, -10), fontsize=7, color="tab:red")
        ax.axvline(peer["median_ms"], color="tab:red", lw=0.6, ls="--")
        ax.axvline(peer["median_ms"] / 2, color="tab:red", lw=0.6, ls=":")
        ax.axhline(peer["AP"], color="tab:red", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("median latency per image, ms (log scale; batch 1)")
    ax.set_ylabel("COCO keypoint AP on the 4-image COCO sample")
    ax.set_title("posekit pipelines: accuracy vs latency (blue top-down, green bottom-up)", fontsize=9)
    ax.grid(True, which="both", lw=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_all(out_md: str | Path, out_png: str | Path, command: str, threads: int = 2, device: str | None = None,
              model_repeats: int = 3, pipeline_repeats: int = 3, peer_json: str | Path | None = None,
              zoo: Sequence[str] | None = None, pretrained: Sequence[str] | None = None,
              pipelines: Sequence[str] | None = None, progress: Callable[[str], None] | None = None) -> Path:
    """Bench every zoo model, pretrained model and pipeline (or the given subsets) and write the
    Markdown report ``out_md`` and the accuracy-vs-latency plot ``out_png``.

    ``peer_json``: a file written by ``benchmarks/peer.py`` (``{"name", "AP", "AR",
    "median_ms", "command", ...}``) to place the peer on the plane; the peer is never run here."""
    from posekit.models.zoo import ZOO
    from posekit.pipelines import PIPELINES
    from posekit.pretrained.cards import CARDS

    say = progress or (lambda s: None)
    out_md, out_png = Path(out_md), Path(out_png)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = machine_description()
    t0 = time.perf_counter()
    zoo_rows = _model_rows([("zoo", n) for n in (zoo if zoo is not None else ZOO)], threads, device, model_repeats)
    say(f"zoo models done ({time.perf_counter() - t0:.0f} s)")
    pre_rows = _model_rows([("pretrained", n) for n in (pretrained if pretrained is not None else CARDS)],
                           threads, device, model_repeats)
    say(f"pretrained models done ({time.perf_counter() - t0:.0f} s)")
    pipe_rows: list[PipelineBench] = []
    for name in (pipelines if pipelines is not None else PIPELINES):
        try:
            pipe_rows.append(bench_pipeline(name, threads=threads, device=device, repeats=pipeline_repeats))
        except Exception as e:  # noqa: BLE001
            log.warning("bench %s: %s", name, e)
        say(f"pipeline {name} done ({time.perf_counter() - t0:.0f} s)")
    peer = json.loads(Path(peer_json).read_text()) if peer_json and Path(peer_json).is_file() else None
    _plot(pipe_rows, peer, out_png)
    elapsed = time.perf_counter() - t0

    from posekit.models.conventions import CONVENTIONS
    rel_png = os.path.relpath(out_png, out_md.parent)
    lines = [
        "# Benchmarks: parameters, compute, latency, and the pipelines' accuracy vs latency", "",
        "Generated by the command below; do not edit by hand (re-run it instead).", "",
        f"* **Command** (from the repository root): `{command}`",
        f"* **Machine**: {machine}. Started {started}; took {elapsed:.0f} s. Torch CPU threads: {threads}.",
        "* Timings on a shared 2-core machine swing by up to 1.5x between runs: compare rows of one run, "
        "and read the load average above.", "",
        "## Compute conventions", "",
        "Multiply-adds (GMACs) are posekit's count (conv/linear/matmul ops, `posekit.models.complexity.count_macs`). "
        "The GFLOPs column is in the convention of each model's paper (`posekit.models.conventions`):", "",
        *[f"* `{c.key}`: {c.label}: {c.description}." for c in CONVENTIONS.values()], "",
        f"## Zoo architectures (random weights, default input, batch 1, {model_repeats} timed passes after one "
        "warm-up)", "",
        *_model_table(zoo_rows), "",
        f"## Pretrained models (batch 1, {model_repeats} timed passes after one warm-up; forward pass only)", "",
        *_model_table(pre_rows), "",
        f"## Pipelines: accuracy vs latency ({pipeline_repeats} passes over the images after one warm-up; "
        "batch 1; image decoding excluded)", "",
        f"![accuracy vs latency]({rel_png})", "",
        "| pipeline | kind | AP | AR | median ms | p10 ms | p90 ms | stages (median ms) | images/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(pipe_rows, key=lambda r: r.end_to_end.median):
        st = ", ".join(f"{k} {s.median:.1f}" for k, s in r.stages.items())
        ap = "" if r.ap is None else f"{r.ap:.3f}"
        ar = "" if r.ar is None else f"{r.ar:.3f}"
        e = r.end_to_end
        lines.append(f"| {r.name} | {r.kind} | {ap} | {ar} | {e.median:.1f} | {e.p10:.1f} | {e.p90:.1f} | {st} | "
                     f"{r.throughput:.1f} |")
    if pipe_rows:
        lines += ["", f"Images: {pipe_rows[0].images}."]
    if peer:
        lines += ["", f"The peer ({peer['name']}, measured by `{peer.get('command', 'benchmarks/peer.py')}` on "
                  f"{peer.get('date', '?')}, in its own environment, not by this command): AP {peer['AP']:.3f}, "
                  f"AR {peer['AR']:.3f}, median {peer['median_ms']:.1f} ms per image. On the plot: the red "
                  "star, its latency (dashed), half its latency (dotted) and its AP (dashed)."]
    else:
        lines += ["", "No peer figures given (`--peer-json`, written by `benchmarks/peer.py`)."]
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(lines) + "\n")
    return out_md
