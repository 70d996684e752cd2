"""``posekit data roundtrip``: can a codec represent a data set's people at all?

Every image's ground truth is encoded into *perfect* network outputs, decoded (and grouped)
as a trained model's outputs would be, mapped back to the image and scored with COCO AP/AR
(:func:`posekit.metrics.coco.coco_eval`) against the same ground truth, with a per-joint count
of the labelled keypoints that were lost. A codec and settings (stride, sigma, limb width,
input size) that cannot reach AP ~1 here cannot be learned either.

Codecs (:data:`ROUNDTRIP_CODECS`):

* ``paf``: :class:`posekit.codecs.PAFCodec` (confidence maps + part affinity fields, grouped);
* ``ae``: :class:`posekit.codecs.AECodec` with ideal tags (each person a constant tag around
  its joints, :meth:`~posekit.codecs.AECodec.ideal_tags`), i.e. perfect embeddings;
* ``higherhrnet``: the same with ``hr=True`` (heatmaps at 1/4 and 1/2, aggregated);
* ``heatmap`` / ``udp``: top-down :class:`~posekit.codecs.MSRAHeatmap` /
  :class:`~posekit.codecs.UDPHeatmap`, one crop per ground-truth box (``box_crop_affine``,
  padding 1.25, input ``(3/4 L, L)``), only that person encoded.

Bottom-up codecs see the image as the bottom-up predictor does: letterboxed
(:func:`posekit.pipelines.preprocess.letterbox_affine`) at the long side ``input`` to the size
the codec picks (``codec.input_size_for``), keypoints through the same affine, results back
through its inverse.

Crowd regions and people without labelled keypoints are not encoded (COCO ignores them in
scoring). A labelled keypoint counts as *lost* when the detection matched to its person (one
to one, greedily by OKS, as COCO matches) does not place it with keypoint similarity
``exp(-d^2 / (2 s^2 k^2)) >= ks_threshold`` (``s^2`` the person's area, ``k`` the joint's
OKS constant), or when no detection matched the person. Specs without OKS sigmas (MPII, LSP,
...) use a uniform ``k = 2 * 0.05`` (:data:`FALLBACK_SIGMA`), reported as such.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from posekit.data.formats.coco import CocoGroundTruth, CocoResults
from posekit.data.records import ImageRecord
from posekit.errors import PosekitError
from posekit.geometry import invert_affine, transform_points
from posekit.metrics.coco import coco_eval
from posekit.metrics.oks import oks_matrix

log = logging.getLogger(__name__)

__all__ = ["ROUNDTRIP_CODECS", "FALLBACK_SIGMA", "RoundtripSettings", "RoundtripResult", "roundtrip",
           "format_roundtrip"]

ROUNDTRIP_CODECS = ("paf", "ae", "higherhrnet", "heatmap", "udp")
#: OKS sigma used for every joint of a spec that defines none.
FALLBACK_SIGMA = 0.05


@dataclass(frozen=True)
class RoundtripSettings:
    """What to round-trip through.

    Attributes:
        codec: one of :data:`ROUNDTRIP_CODECS`.
        input: bottom-up: the input's long side (letterbox; default 512); top-down: the crop
            height ``L`` of a ``(3L/4, L)`` crop (default 256).
        stride: input pixels per heatmap pixel (default 4; HigherHRNet's fine grid is half).
        sigma: Gaussian width in heatmap pixels (default: the codec's own: PAF 1.5, AE 2,
            top-down :func:`posekit.codecs.heatmap.default_sigma`).
        limb_width: PAF field half-width in heatmap pixels (default 1).
        ks_threshold: keypoint similarity below which a keypoint counts as lost.
    """

    codec: str = "paf"
    input: int | None = None
    stride: int = 4
    sigma: float | None = None
    limb_width: float | None = None
    ks_threshold: float = 0.5


@dataclass(frozen=True)
class RoundtripResult:
    """The outcome: COCO ``stats`` (AP, AP50, ..., AR...), per-joint ``labelled`` and ``lost``
    counts ``(K,)``, numbers of ``images`` and scored ``people``, ``detections`` returned, the
    ``spec``, a description of the codec, and whether the sigmas were the fallback."""

    stats: dict
    labelled: np.ndarray
    lost: np.ndarray
    images: int
    people: int
    detections: int
    spec: object
    codec: str
    fallback_sigmas: bool


def _sigmas(spec) -> tuple[np.ndarray, bool]:
    if spec.sigmas is not None:
        return spec.sigmas_array(), False
    return np.full(spec.num_keypoints, FALLBACK_SIGMA), True


def _bottom_up_codec(settings: RoundtripSettings, spec, size: tuple[int, int]):
    from posekit.codecs import AECodec, PAFCodec

    kw = {} if settings.sigma is None else {"sigma": settings.sigma}
    if settings.codec == "paf":
        if settings.limb_width is not None:
            kw["limb_width"] = settings.limb_width
        return PAFCodec(spec, size, stride=settings.stride, max_people=64, **kw)
    return AECodec(spec, size, stride=settings.stride, hr=settings.codec == "higherhrnet", max_people=64, **kw)


def _decode_bottom_up(settings: RoundtripSettings, record: ImageRecord,
                      people: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """``(D, K, 3)`` image-pixel detections and ``(D,)`` scores of one image."""
    from posekit.pipelines.preprocess import letterbox_affine

    long_side = settings.input or 512
    probe = _bottom_up_codec(settings, record.spec, (long_side, long_side))
    size = probe.input_size_for(record.width, record.height, long_side)
    codec = _bottom_up_codec(settings, record.spec, size)
    A = letterbox_affine(record.width, record.height, size)
    kp = people.astype(np.float64).copy()
    kp[..., :2] = transform_points(A, kp[..., :2].reshape(-1, 2)).reshape(kp.shape[0], -1, 2)
    t = codec.encode(kp)
    heads = {"heatmaps": torch.from_numpy(t.heatmaps)[None]}
    if settings.codec == "paf":
        heads["pafs"] = torch.from_numpy(t.pafs)[None]
    else:
        heads["tags"] = torch.from_numpy(codec.ideal_tags(kp))[None]
        if codec.hr:
            heads["heatmaps_hr"] = torch.from_numpy(t.heatmaps_hr)[None]
    inst = codec.decode_instances(heads, size)
    keep = inst.scores[0] > 0
    dt = inst.keypoints[0][keep].numpy().astype(np.float64)
    if len(dt):
        dt[..., :2] = transform_points(invert_affine(A), dt[..., :2].reshape(-1, 2)).reshape(dt.shape[0], -1, 2)
    return dt, inst.scores[0][keep].numpy().astype(np.float64), repr(codec)


def _decode_top_down(settings: RoundtripSettings, record: ImageRecord, people: np.ndarray,
                     boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    from posekit.codecs import MSRAHeatmap, UDPHeatmap
    from posekit.pipelines.preprocess import box_crop_affine

    L = settings.input or 256
    size = (int(round(0.75 * L)), int(L))
    cls = UDPHeatmap if settings.codec == "udp" else MSRAHeatmap
    heat = (size[0] // settings.stride, size[1] // settings.stride)
    codec = cls(input_size=size, heatmap_size=heat, sigma=settings.sigma, spec=record.spec)
    dts, scores = [], []
    for kp, box in zip(people, boxes):
        A = box_crop_affine(box, size, 1.25, udp=codec.udp_warp)
        crop = kp.astype(np.float64).copy()
        crop[:, :2] = transform_points(A, crop[:, :2])
        t = codec.encode(crop)
        out = codec.decode(torch.from_numpy(t.heatmaps)[None])[0, 0].numpy().astype(np.float64)
        out[:, :2] = transform_points(invert_affine(A), out[:, :2])
        dts.append(out)
        scores.append(float(out[:, 2].mean()))
    K = record.spec.num_keypoints
    return (np.stack(dts) if dts else np.zeros((0, K, 3))), np.asarray(scores, np.float64), repr(codec)


def _scored_people(record: ImageRecord) -> np.ndarray:
    """Indices of the people COCO scores: not crowd, with a labelled keypoint."""
    return np.flatnonzero(~record.crowd & ((record.keypoints[..., 2] > 0).sum(axis=1) > 0))


def roundtrip(records: Sequence[ImageRecord], settings: RoundtripSettings) -> RoundtripResult:
    """Round-trip every record's people through ``settings.codec`` (see the module doc)."""
    if settings.codec not in ROUNDTRIP_CODECS:
        raise PosekitError(f"unknown codec {settings.codec!r}; choose from {', '.join(ROUNDTRIP_CODECS)}")
    if not records:
        raise PosekitError("no images to round-trip")
    spec = records[0].spec
    K = spec.num_keypoints
    if settings.codec not in ("heatmap", "udp"):       # settings checked before any work
        long_side = settings.input or 512
        _bottom_up_codec(settings, spec, (long_side, long_side)).input_size_for(long_side, long_side, long_side)
    sigmas, fallback = _sigmas(spec)
    gt = CocoGroundTruth.from_records(records)
    ids, dts, scores = [], [], []
    labelled = np.zeros(K, np.int64)
    lost = np.zeros(K, np.int64)
    desc = settings.codec
    people_total = 0
    for i, record in enumerate(records):
        idx = _scored_people(record)
        people = record.keypoints[idx]
        people_total += len(idx)
        if len(idx) == 0:
            continue
        if settings.codec in ("heatmap", "udp"):
            dt, sc, desc = _decode_top_down(settings, record, people, record.boxes[idx])
        else:
            dt, sc, desc = _decode_bottom_up(settings, record, people)
        ids += [int(gt.image_ids[i])] * len(dt)
        dts.append(dt)
        scores.append(sc)
        lab = people[..., 2] > 0
        labelled += lab.sum(axis=0)
        found = np.zeros_like(lab)
        if len(dt):
            areas = record.areas[idx].astype(np.float64)
            oks = oks_matrix(dt, people, areas, sigmas)                      # (D, G)
            used = np.zeros(len(dt), bool)
            for g in np.argsort(-oks.max(axis=0), kind="stable"):
                cand = np.where(used, -1.0, oks[:, g])
                d = int(np.argmax(cand))
                if cand[d] <= 0:
                    continue
                used[d] = True
                dist2 = ((dt[d, :, :2] - people[g, :, :2]) ** 2).sum(axis=-1)
                ks = np.exp(-dist2 / (2 * max(areas[g], 1e-9) * (2 * sigmas) ** 2))
                found[g] = lab[g] & (ks >= settings.ks_threshold) & (dt[d, :, 2] > 0)
        lost += (lab & ~found).sum(axis=0)
    det = np.concatenate(dts) if dts else np.zeros((0, K, 3))
    sc = np.concatenate(scores) if scores else np.zeros(0)
    results = CocoResults.create(np.asarray(ids, np.int64), det, sc)
    stats = coco_eval(gt, results, sigmas=sigmas)
    return RoundtripResult(stats, labelled, lost, len(records), people_total, len(det), spec, desc, fallback)


def format_roundtrip(result: RoundtripResult, source: str) -> str:
    """The report ``posekit data roundtrip`` prints."""
    s = result.stats
    spec = result.spec
    out = [f"{source}: {result.images} images, {result.people} people scored, {result.detections} detections",
           f"codec: {result.codec} (perfect outputs: ground truth encoded, decoded, grouped)"]
    if result.fallback_sigmas:
        out.append(f"note: {spec.name} defines no OKS sigmas; a uniform sigma {FALLBACK_SIGMA} is used")
    out.append("COCO  AP {AP:.3f}  AP50 {AP50:.3f}  AP75 {AP75:.3f}  APm {APm:.3f}  APl {APl:.3f}".format(**s))
    out.append("      AR {AR:.3f}  AR50 {AR50:.3f}  AR75 {AR75:.3f}  ARm {ARm:.3f}  ARl {ARl:.3f}".format(**s))
    width = max(len(n) for n in spec.names)
    out.append(f"lost keypoints (not recovered with keypoint similarity >= threshold), "
               f"{int(result.lost.sum())} of {int(result.labelled.sum())}:")
    out.append(f"  {'joint':<{width}}  labelled  lost  lost %")
    for k, name in enumerate(spec.names):
        n, m = int(result.labelled[k]), int(result.lost[k])
        pct = f"{100.0 * m / n:6.1f}" if n else "     -"
        out.append(f"  {name:<{width}}  {n:>8}  {m:>4}  {pct}")
    return "\n".join(out)
