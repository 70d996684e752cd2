"""Training, evaluation and application of the PoseFix refiner (a dedicated small loop).

Reference: Moon, Chang & Lee, "PoseFix: Model-agnostic General Human Pose Refinement Network",
CVPR 2019. See :mod:`posekit.models.posefix` (the network) and :mod:`posekit.data.posefix`
(the corrupted input poses).

Why not :func:`posekit.engine.train.train`: the refiner takes a second input (the pose to
refine) drawn afresh at every step from the crop's ground truth and its neighbours, which the
engine's ``model(images)`` loop has no place for. This loop uses the engine's pieces: the
synthetic records (:func:`posekit.engine.data.build_records`), the top-down crops
(:class:`~posekit.data.datasets.TopDownDataset`) and the MSRA heatmap codec, the keypoint MSE,
the optimizer builder and the cosine schedule, and :func:`posekit.device.resolve_device`.

The crops are not augmented, so they are loaded once into tensors; the corruption of the input
pose is drawn per step from ``default_rng((seed, step))``. ``PoseFixConfig.corrupt=False``
trains the refiner on the ground truth itself (the ablation: it then learns to copy its input).

Checkpoint: ``posefix.safetensors`` (weights) with the config in its metadata, written
atomically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from posekit.data.posefix import ERROR_TYPES, synthesize_pose
from posekit.errors import PosekitError
from posekit.models.posefix import PoseFixNet

__all__ = ["PoseFixConfig", "PoseFixData", "load_posefix_data", "corrupt_batch", "train_posefix",
           "evaluate_by_error_type", "save_posefix", "load_posefix", "refine_poses", "refine_image_poses",
           "RefinedPredictor", "CHECKPOINT_NAME"]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "posefix.safetensors"


@dataclass(frozen=True)
class PoseFixConfig:
    """``input_size`` is ``(W, H)`` (multiples of 32); ``pose_sigma`` the std (crop pixels) of
    the rendered input pose; ``sigma`` the target heatmaps' (heatmap pixels)."""

    input_size: tuple[int, int] = (96, 128)
    steps: int = 360
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    num_train: int = 512
    num_val: int = 96
    data_seed: int = 0
    seed: int = 0
    pose_sigma: float = 2.0
    sigma: float = 2.0
    deconv_channels: int = 64
    corrupt: bool = True
    device: str = "auto"


@dataclass
class PoseFixData:
    """Crops as tensors: ``images (N, 3, H, W)``, ``keypoints (N, K, 3)`` crop-frame ground
    truth, ``near (N, M, K, 3)`` the other people of the scene in the same crop frame (zero
    rows pad), ``areas (N,)`` person areas in crop pixels^2, ``heatmaps (N, K, h, w)`` and
    ``weights (N, K)`` the codec's targets."""

    images: Tensor
    keypoints: np.ndarray
    near: np.ndarray
    areas: np.ndarray
    heatmaps: Tensor
    weights: Tensor

    def __len__(self) -> int:
        return len(self.images)


def _codec(cfg: PoseFixConfig):
    from posekit.codecs.heatmap import MSRAHeatmap
    from posekit.skeleton import COCO17
    W, H = cfg.input_size
    return MSRAHeatmap((W, H), (W // 4, H // 4), sigma=cfg.sigma, decoder="dark", spec=COCO17)


def load_posefix_data(cfg: PoseFixConfig, split: str) -> PoseFixData:
    """The engine's synthetic top-down crops of ``split`` (``"train"``/``"val"``) as tensors."""
    from posekit.data.datasets import TopDownDataset
    from posekit.engine.config import DataConfig, ExperimentConfig
    from posekit.engine.data import build_records
    from posekit.skeleton import COCO17
    W, H = cfg.input_size
    if W % 32 or H % 32:
        raise PosekitError(f"PoseFix input size {W}x{H}: W and H must be multiples of 32")
    exp = ExperimentConfig(data=DataConfig(dataset="synthetic", input_size=(W, H), num_train=cfg.num_train,
                                           num_val=cfg.num_val, data_seed=cfg.data_seed, aug=False))
    records, images = build_records(exp, split, COCO17)
    codec = _codec(cfg)
    ds = TopDownDataset(records, images, COCO17, input_size=(W, H), train=False, codec=codec)
    imgs, kps, nears, areas, hms, ws = [], [], [], [], [], []
    max_near = max(r.num_people for r in records) - 1
    for i in range(len(ds)):
        s = ds[i]
        rec = records[s["image_index"]]
        p = s["person_index"]
        A = s["affine"].numpy().astype(np.float64)                    # image -> crop, (2, 3)
        others = np.zeros((max(max_near, 1), 17, 3), np.float32)
        for m, q in enumerate(q for q in range(rec.num_people) if q != p):
            kp = rec.keypoints[q].astype(np.float64)
            xy = kp[:, :2] @ A[:, :2].T + A[:, 2]
            inside = (xy[:, 0] >= 0) & (xy[:, 0] <= W - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= H - 1)
            others[m] = np.concatenate([xy, (kp[:, 2:] * inside[:, None])], 1)
        imgs.append(s["image"])
        kps.append(s["keypoints"].numpy())
        nears.append(others)
        areas.append(float(rec.areas[p]) * abs(np.linalg.det(A[:, :2])))
        hms.append(s["heatmaps"])
        ws.append(s["weights"].reshape(-1))
    return PoseFixData(torch.stack(imgs), np.stack(kps), np.stack(nears), np.asarray(areas), torch.stack(hms),
                       torch.stack(ws))


def corrupt_batch(data: PoseFixData, idx: np.ndarray, rng: np.random.Generator, corrupt: bool = True,
                  only: str | None = None, rate: float = 1.0) -> tuple[Tensor, np.ndarray]:
    """Input poses ``(B, K, 3)`` for the crops ``idx`` and their kinds ``(B, K)`` (indices of
    :data:`~posekit.data.posefix.ERROR_TYPES`, -1 unlabelled); ``corrupt=False`` gives the
    ground truth itself (kind ``good``)."""
    from posekit.skeleton import COCO17
    poses, kinds = [], []
    for i in idx:
        gt = data.keypoints[i]
        if corrupt:
            pose, kind = synthesize_pose(gt, data.near[i], data.areas[i], COCO17, rng, only=only, rate=rate)
        else:
            pose = np.concatenate([gt[:, :2], np.ones((len(gt), 1))], 1).astype(np.float32)
            kind = np.where(gt[:, 2] > 0, 0, -1)
        poses.append(pose)
        kinds.append(kind)
    return torch.from_numpy(np.stack(poses)), np.stack(kinds)


def train_posefix(cfg: PoseFixConfig, out_dir: str | Path | None = None, data: PoseFixData | None = None,
                  val: PoseFixData | None = None, val_every: int = 0,
                  progress: bool = False) -> tuple[PoseFixNet, list[tuple[int, float]]]:
    """Train a refiner; returns ``(model, [(step, train loss)...])`` and, with ``out_dir``,
    writes ``out_dir/posefix.safetensors``. ``val_every`` > 0 logs the validation AP of
    refining corrupted poses every that many steps; ``progress`` shows a tqdm bar."""
    from tqdm import tqdm
    from posekit.device import resolve_device
    from posekit.engine.config import OptimConfig, ScheduleConfig
    from posekit.engine.schedule import lr_at
    from posekit.engine.train import build_optimizer
    from posekit.losses import KeypointMSELoss
    device = resolve_device(cfg.device)
    if data is None:
        data = load_posefix_data(cfg, "train")
    torch.manual_seed(cfg.seed)
    model = PoseFixNet(17, deconv_channels=cfg.deconv_channels, pose_sigma=cfg.pose_sigma).to(device)
    opt = build_optimizer(model, OptimConfig(optimizer="adamw", lr=cfg.lr, weight_decay=cfg.weight_decay,
                                             grad_clip=5.0))
    sched = ScheduleConfig(kind="cosine", warmup_steps=10, min_lr_factor=0.02)
    loss_fn = KeypointMSELoss(use_target_weight=True)
    losses = []
    model.train()
    bar = tqdm(total=cfg.steps, desc="posefix", unit="step", disable=not progress)
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.lr, cfg.steps, sched)
        rng = np.random.default_rng([cfg.seed, step])
        idx = rng.choice(len(data), size=min(cfg.batch_size, len(data)), replace=False)
        pose, _ = corrupt_batch(data, idx, rng, corrupt=cfg.corrupt)
        t = torch.from_numpy(idx)
        pred = model(data.images[t].to(device), pose.to(device))
        loss = loss_fn(pred, data.heatmaps[t].to(device), data.weights[t].to(device))
        if not torch.isfinite(loss):
            raise PosekitError(f"PoseFix training: loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append((step, float(loss.detach())))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1][1]:.5f}", refresh=False)
        if val is not None and val_every > 0 and (step + 1) % val_every == 0:
            ap = evaluate_by_error_type(model, cfg, val, types=("mixed",))["mixed"]
            log.info("step %d: loss %.6f, AP input %.3f -> refined %.3f", step + 1, float(loss), ap[0], ap[1])
            model.train()
    bar.close()
    if out_dir is not None:
        save_posefix(model, cfg, Path(out_dir) / CHECKPOINT_NAME)
    return model, losses


@torch.no_grad()
def refine_poses(model: PoseFixNet, cfg: PoseFixConfig, images: Tensor, poses: Tensor, batch: int = 64) -> Tensor:
    """Refine ``poses (N, K, 3)`` (crop pixels of ``images (N, 3, H, W)``, normalised crops of
    ``cfg.input_size``) -> ``(N, K, 3)`` ``[x, y, score]`` in crop pixels."""
    model.eval()
    codec = _codec(cfg)
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch):
        hm = model(images[i:i + batch].to(device), poses[i:i + batch].to(device))
        out.append(codec.decode(hm)[:, 0].cpu())
    return torch.cat(out) if out else torch.zeros(0, model.num_keypoints, 3)


def _ap(data: PoseFixData, poses: np.ndarray, scores: np.ndarray) -> float:
    """COCO keypoint AP of one pose per crop (each crop one image, its person the ground truth)."""
    from posekit.data.formats import CocoResults
    from posekit.data.records import ImageRecord
    from posekit.metrics.coco import coco_eval
    from posekit.skeleton import COCO17
    W = data.images.shape[-1]
    H = data.images.shape[-2]
    records = []
    for i in range(len(data)):
        kp = data.keypoints[i:i + 1].astype(np.float32)
        lab = kp[0, :, 2] > 0
        x0, y0 = kp[0, lab, :2].min(0)
        x1, y1 = kp[0, lab, :2].max(0)
        records.append(ImageRecord(f"crop{i}", W, H, kp, np.array([[x0, y0, x1, y1]], np.float32),
                                   np.array([data.areas[i]], np.float32), np.zeros(1, bool), COCO17, image_id=i + 1))
    res = CocoResults.create(np.arange(1, len(data) + 1), poses, scores)
    return float(coco_eval(records, res)["AP"])


def evaluate_by_error_type(model: PoseFixNet, cfg: PoseFixConfig, data: PoseFixData,
                           types: tuple[str, ...] = ("mixed", "jitter", "miss", "inversion", "swap"),
                           rate: float = 0.5, seed: int = 12345) -> dict[str, tuple[float, float, int]]:
    """``{type: (AP of the corrupted input poses, AP after refinement, joints of that type)}``
    on ``data``'s crops. ``"mixed"``: PoseFix's own proportions; an error type: each labelled
    joint that type with probability ``rate`` (when it can be made; ``swap`` needs a
    neighbour in the crop), else ``good``. Input poses are scored 1; refined ones by their
    mean heatmap maximum."""
    out = {}
    idx = np.arange(len(data))
    for t in types:
        rng = np.random.default_rng([seed, ERROR_TYPES.index(t) if t in ERROR_TYPES else 99])
        pose, kinds = corrupt_batch(data, idx, rng, only=None if t == "mixed" else t, rate=rate)
        refined = refine_poses(model, cfg, data.images, pose).numpy()
        n = int((kinds == ERROR_TYPES.index(t)).sum()) if t in ERROR_TYPES else int((kinds > 0).sum())
        ap_in = _ap(data, pose.numpy(), np.ones(len(data)))
        ap_out = _ap(data, refined, refined[..., 2].mean(-1))
        out[t] = (ap_in, ap_out, n)
    return out


def save_posefix(model: PoseFixNet, cfg: PoseFixConfig, path: str | Path) -> Path:
    """Weights as safetensors with ``{"posefix": config}`` in the metadata; atomic."""
    import os

    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    meta = {"format": "posekit-posefix-1", "posefix": json.dumps({**asdict(cfg), "input_size": list(cfg.input_size)})}
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def load_posefix(path: str | Path, device: str | torch.device = "cpu") -> tuple[PoseFixNet, PoseFixConfig]:
    """A refiner written by :func:`save_posefix`."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    path = Path(path)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != "posekit-posefix-1":
            raise PosekitError(f"{path}: not a PoseFix refiner checkpoint (metadata format {meta.get('format')!r})")
        d = json.loads(meta["posefix"])
        d["input_size"] = tuple(d["input_size"])
        cfg = PoseFixConfig(**d)
        state = load_file(str(path))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PosekitError(f"{path}: cannot read the PoseFix checkpoint ({e})") from None
    model = PoseFixNet(17, deconv_channels=cfg.deconv_channels, pose_sigma=cfg.pose_sigma)
    model.load_state_dict(state)
    return model.to(device).eval(), cfg


def refine_image_poses(model: PoseFixNet, cfg: PoseFixConfig, image_rgb: np.ndarray, poses):
    """Refine every pose of ``poses`` (a :class:`~posekit.pipelines.poses.Poses` in the frame of
    ``image_rgb (H, W, 3)``): each person is cropped from its box (aspect ratio of
    ``cfg.input_size``, padding 1.25, as the training crops), its pose moved into the crop,
    refined, and mapped back to the image through the inverse of the crop's affine. Scores and
    boxes are kept; the keypoint scores become the refiner's. COCO-17 poses only."""
    from posekit.data.datasets import normalize_image
    from posekit.geometry import box_to_center_size, crop_affine, invert_affine, transform_points, warp_image
    from posekit.pipelines.poses import Poses
    if len(poses) == 0:
        return poses
    if poses.spec.num_keypoints != model.num_keypoints:
        raise PosekitError(f"--refine: the refiner takes {model.num_keypoints} keypoints, the poses have "
                           f"{poses.spec.num_keypoints} ({poses.spec.name})")
    W, H = cfg.input_size
    crops, inputs, affines = [], [], []
    for box in poses.boxes:
        c, s = box_to_center_size(box, aspect_ratio=W / H, padding=1.25)
        A = crop_affine(c, s, (W, H))
        crops.append(normalize_image(warp_image(image_rgb, A, (W, H))))
        affines.append(A)
    for kp, A in zip(poses.keypoints, affines):
        k = transform_points(A, kp.astype(np.float64)).astype(np.float32)
        k[:, 2] = 1.0
        inputs.append(k)
    refined = refine_poses(model, cfg, torch.stack(crops), torch.from_numpy(np.stack(inputs))).numpy()
    out = np.stack([transform_points(invert_affine(A), r.astype(np.float64)) for r, A in zip(refined, affines)])
    return Poses(out.astype(np.float32), poses.scores, poses.boxes, poses.spec)


class RefinedPredictor:
    """A predictor whose poses go through a PoseFix refiner (``posekit predict --refine``)."""

    def __init__(self, inner, checkpoint: str | Path, device: str = "cpu") -> None:
        self.inner = inner
        self.model, self.cfg = load_posefix(checkpoint, device)
        self.name = f"{getattr(inner, 'name', 'model')}+posefix"

    def __getattr__(self, name):            # timings, spec, ... of the wrapped predictor
        return getattr(self.inner, name)

    def predict(self, image: np.ndarray):
        return refine_image_poses(self.model, self.cfg, image, self.inner.predict(image))

    def predict_boxes(self, image: np.ndarray, *boxes):
        return refine_image_poses(self.model, self.cfg, image, self.inner.predict_boxes(image, *boxes))
