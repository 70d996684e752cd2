"""Associative Embedding (Newell et al., *Associative Embedding: End-to-End Learning for Joint
Detection and Grouping*, NeurIPS 2017) and HigherHRNet (Cheng et al., *HigherHRNet:
Scale-Aware Representation Learning for Bottom-Up Human Pose Estimation*, CVPR 2020): the
whole-image detection heatmaps and their decoding into people by 1-dim tags.

Frames. Keypoints are in the model's *input* pixels (integer = pixel centre). The heads are
on a grid ``stride`` times coarser covering the input edge to edge, the same map as
:class:`posekit.codecs.paf.PAFCodec` and :class:`posekit.codecs.heatmap.MSRAHeatmap`:

    ``x_hm = (x_in + 0.5) / stride - 0.5``,  ``x_in = (x_hm + 0.5) * stride - 0.5``

With ``hr=True`` (HigherHRNet) a second heatmap head lies on the grid of stride
``stride / 2`` (twice as fine, same map with ``stride / 2``); bilinear 2x upsampling with
``align_corners=False`` maps the coarse grid exactly onto it (``x_hr = 2 x_hm + 0.5``).
``sigma`` is in pixels of the grid it is drawn on (HigherHRNet uses 2 at both resolutions).

Targets (:meth:`AECodec.encode`): ``H_k(p) = max_n exp(-|p - x_{n,k}|^2 / (2 sigma^2))`` over
the people with keypoint ``k`` labelled (``v > 0``), the AE / HigherHRNet heatmap. The tags
have no target map: the grouping loss (:func:`posekit.grouping.tags.ae_loss`) reads the
predicted tags at the ground-truth joints.

Decoding (:meth:`AECodec.decode_instances`): heatmap NMS, top ``max_people`` candidates per
joint, joints matched to people by tag distance and score (Hungarian), optional refinement,
all by :func:`posekit.grouping.tags.decode_tags`; then each found joint is moved to the vertex
of the parabola through the log-heatmap around its pixel
(:func:`posekit.grouping.peaks.subpixel_offsets`, exact for a Gaussian; the AE reference
moves it a quarter pixel toward the higher neighbour instead). With ``hr=True`` the heatmaps
are aggregated as HigherHRNet does at inference: the coarse heatmaps are upsampled to the
fine grid and averaged with ``heatmaps_hr``, the tags are upsampled, and grouping runs on the
fine grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from posekit.codecs.common import Instances, letterbox_input_size, person_row, require_heads
from posekit.errors import PosekitError
from posekit.grouping.peaks import subpixel_offsets
from posekit.grouping.tags import COCO17_AE_ORDER, decode_tags
from posekit.skeleton import KeypointSpec

__all__ = ["AETarget", "AECodec"]


@dataclass(frozen=True)
class AETarget:
    """Training target of one image.

    Attributes:
        heatmaps: ``(K, h, w)`` float32 Gaussian heatmaps, maximum over people, on the grid of
            stride ``stride``.
        mask: ``(h, w)`` float32 loss weight: 0 where ``ignore`` said so, else 1.
        heatmap_weights: ``(K,)`` float32, 1 where some person has the keypoint labelled.
        heatmaps_hr: ``(K, 2h, 2w)`` on the grid of stride ``stride / 2`` (``hr=True`` only).
        mask_hr: ``(2h, 2w)`` the mask on that grid (each coarse cell's value on its 2x2
            fine cells; ``hr=True`` only).
    """

    heatmaps: np.ndarray
    mask: np.ndarray
    heatmap_weights: np.ndarray
    heatmaps_hr: np.ndarray | None = None
    mask_hr: np.ndarray | None = None


class AECodec:
    """Associative Embedding's heatmaps + tags; HigherHRNet's two-resolution heatmaps (``hr``).

    Args:
        spec: keypoint spec (its ``flip_index`` gives the flip test's channel swap).
        input_size: ``(W, H)`` of the input the targets refer to (the default of
            :meth:`decode_instances`; inputs may vary, see :meth:`input_size_for`).
        stride: input pixels per heatmap pixel (an integer; even when ``hr``).
        sigma: Gaussian standard deviation, in pixels of the grid drawn on.
        hr: HigherHRNet: a second heatmap head at stride ``stride / 2``.
        max_people: candidates per joint and rows per image of :meth:`decode_instances`.
        detection_threshold: minimum heatmap value of a candidate joint.
        tag_threshold: maximum tag distance of a joint to a person's mean tag.
        refine: fill missing joints from the raw maps by tag (AE's refinement).
        nms_kernel: heatmap NMS window (odd), in pixels of the grid grouped on.
        joint_order: order in which joints join people; default
            :data:`posekit.grouping.tags.COCO17_AE_ORDER` for COCO-17, else ``0..K-1``.
        multiple: input sides are multiples of this (:meth:`input_size_for`): 32 for
            HigherHRNet (5 halvings), 64 for a 4-level hourglass after its stride-4 stem
            (input / 4 halved 4 more times).

    ``decode_instances`` takes ``{"heatmaps": (B, K, h, w), "tags": (B, K, h, w)}`` plus
    ``"heatmaps_hr": (B, K, 2h, 2w)`` when ``hr``.
    """

    supports_flip = True
    supports_multiscale = True
    udp_warp = False

    def __init__(self, spec: KeypointSpec, input_size: tuple[int, int] = (512, 512), stride: int = 4,
                 sigma: float = 2.0, hr: bool = False, max_people: int = 30, detection_threshold: float = 0.1,
                 tag_threshold: float = 1.0, refine: bool = True, nms_kernel: int = 5,
                 joint_order: tuple[int, ...] | None = None, multiple: int = 32) -> None:
        if stride < 1 or int(stride) != stride or (hr and stride % 2):
            raise ValueError(f"stride must be a positive integer (even with hr), got {stride}")
        if max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        if nms_kernel < 1 or nms_kernel % 2 == 0:
            raise ValueError(f"nms_kernel must be odd, got {nms_kernel}")
        if multiple < 1 or multiple % stride:
            raise ValueError(f"multiple must be a positive multiple of the stride {stride}, got {multiple}")
        self.spec = spec
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.stride = int(stride)
        self.sigma = float(sigma)
        self.hr = bool(hr)
        self.max_people = int(max_people)
        self.detection_threshold = float(detection_threshold)
        self.tag_threshold = float(tag_threshold)
        self.refine = bool(refine)
        self.nms_kernel = int(nms_kernel)
        if joint_order is None and spec.num_keypoints == 17 and spec.name == "coco17":
            joint_order = COCO17_AE_ORDER
        self.joint_order = None if joint_order is None else tuple(int(k) for k in joint_order)
        self.multiple = int(multiple)

    def __repr__(self) -> str:
        return (f"AECodec(spec={self.spec.name}, input_size={self.input_size}, stride={self.stride}, "
                f"sigma={self.sigma:g}, hr={self.hr})")

    # ------------------------------------------------------------------------------ frames
    @property
    def heatmap_size(self) -> tuple[int, int]:
        """``(w, h)`` of the stride-``stride`` grid for :attr:`input_size`."""
        return self.input_size[0] // self.stride, self.input_size[1] // self.stride

    def input_to_heatmap(self, xy, stride: float | None = None):
        """``(..., 2)`` input pixels -> heatmap pixels (numpy or torch); ``stride`` default the
        codec's (``stride / 2`` for the HigherHRNet grid)."""
        s = self.stride if stride is None else stride
        return (xy + 0.5) / s - 0.5

    def heatmap_to_input(self, xy, stride: float | None = None):
        """``(..., 2)`` heatmap pixels -> input pixels (numpy or torch)."""
        s = self.stride if stride is None else stride
        return (xy + 0.5) * s - 0.5

    def input_size_for(self, width: int, height: int, long_side: int) -> tuple[int, int]:
        """The input ``(W, H)`` for a ``width x height`` image letterboxed at ``long_side``: the
        long side ``long_side``, the short side scaled alike, both rounded up to a multiple of
        :attr:`multiple`. ``long_side`` must be such a multiple (:class:`PosekitError`)."""
        return letterbox_input_size(width, height, long_side, self.multiple, type(self).__name__)

    # ------------------------------------------------------------------------------ encode
    def _gaussians(self, kp: np.ndarray, stride: float, size: tuple[int, int]) -> np.ndarray:
        K = self.spec.num_keypoints
        w, h = size
        mu = self.input_to_heatmap(kp[..., :2], stride)
        labelled = (kp[..., 2] > 0) & np.isfinite(mu).all(axis=-1)
        px = np.arange(w, dtype=np.float64)
        py = np.arange(h, dtype=np.float64)
        out = np.zeros((K, h, w), np.float64)
        for n, k in zip(*np.nonzero(labelled)):
            gx = np.exp(-(px - mu[n, k, 0]) ** 2 / (2 * self.sigma ** 2))
            gy = np.exp(-(py - mu[n, k, 1]) ** 2 / (2 * self.sigma ** 2))
            np.maximum(out[k], gy[:, None] * gx[None, :], out=out[k])
        return out.astype(np.float32)

    def encode(self, keypoints: np.ndarray, ignore: np.ndarray | None = None) -> AETarget:
        """``(N, K, 3)`` ``[x, y, v]`` in input pixels -> :class:`AETarget`. ``ignore``:
        optional ``(h, w)`` bool on the stride-``stride`` grid, cells of crowds or unlabelled
        people (mask 0 there, and on their 2x2 fine cells in ``mask_hr``)."""
        kp = np.asarray(keypoints, np.float64)
        K = self.spec.num_keypoints
        if kp.ndim != 3 or kp.shape[1:] != (K, 3):
            raise ValueError(f"encode expects (N, {K}, 3) keypoints, got shape {kp.shape}")
        w, h = self.heatmap_size
        mask = np.ones((h, w), np.float32)
        if ignore is not None:
            ignore = np.asarray(ignore, bool)
            if ignore.shape != (h, w):
                raise ValueError(f"ignore must be (h, w) = ({h}, {w}), got shape {ignore.shape}")
            mask[ignore] = 0.0
        labelled = (kp[..., 2] > 0).any(axis=0).astype(np.float32)
        heatmaps = self._gaussians(kp, self.stride, (w, h))
        if not self.hr:
            return AETarget(heatmaps, mask, labelled)
        hr = self._gaussians(kp, self.stride / 2, (2 * w, 2 * h))
        return AETarget(heatmaps, mask, labelled, hr, np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1))

    def ideal_tags(self, keypoints: np.ndarray, spacing: float = 2.0, radius: float = 2.0,
                   grid: tuple[int, int] | None = None) -> np.ndarray:
        """Perfect tag maps for tests and ``posekit data roundtrip``: person ``n`` carries the
        tag ``spacing * (n + 1)`` on the pixels within ``radius`` grid pixels of each of its
        labelled joints (the nearest person's joint where two overlap), 0 elsewhere.

        ``keypoints (N, K, 3)`` in input pixels -> ``(K, h, w)`` float32 on the grid of
        stride ``stride`` (``grid = (w, h)`` default :attr:`heatmap_size`). With ``spacing``
        above twice ``tag_threshold`` no two people's tags can be confused."""
        kp = np.asarray(keypoints, np.float64)
        K = self.spec.num_keypoints
        w, h = self.heatmap_size if grid is None else grid
        mu = self.input_to_heatmap(kp[..., :2])
        px = np.arange(w, dtype=np.float64)[None, :]
        py = np.arange(h, dtype=np.float64)[:, None]
        tags = np.zeros((K, h, w), np.float32)
        best = np.full((K, h, w), np.inf)
        for n, k in zip(*np.nonzero(kp[..., 2] > 0)):
            d2 = (px - mu[n, k, 0]) ** 2 + (py - mu[n, k, 1]) ** 2
            near = (d2 <= radius ** 2) & (d2 < best[k])
            tags[k][near] = spacing * (n + 1)
            best[k][near] = d2[near]
        return tags

    # ------------------------------------------------------------------------------ decode
    def _grouping_maps(self, heads: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, float]:
        """The heatmaps and tags grouping runs on and their stride: the heads themselves, or
        for ``hr`` HigherHRNet's aggregation on the fine grid."""
        heatmaps, tags = require_heads(heads, ("heatmaps", "tags"), type(self).__name__)
        K = self.spec.num_keypoints
        if heatmaps.shape[1] != K or tags.shape[1] != K:
            raise PosekitError(f"AECodec expects {K} heatmaps and {K} tag maps, got {heatmaps.shape[1]} "
                               f"and {tags.shape[1]}")
        if not self.hr:
            return heatmaps, tags, float(self.stride)
        if "heatmaps_hr" not in heads:
            raise PosekitError(f"AECodec(hr=True).decode: head 'heatmaps_hr' missing (got {sorted(heads)})")
        fine = heads["heatmaps_hr"].float()
        B, _, h, w = heatmaps.shape
        if tuple(fine.shape) != (B, K, 2 * h, 2 * w):
            raise PosekitError(f"AECodec.decode: heatmaps_hr must be (B, K, 2h, 2w) = {(B, K, 2 * h, 2 * w)}, "
                               f"got {tuple(fine.shape)}")
        up = F.interpolate(heatmaps, scale_factor=2, mode="bilinear", align_corners=False)
        tags_up = F.interpolate(tags, scale_factor=2, mode="bilinear", align_corners=False)
        return 0.5 * (up + fine), tags_up, self.stride / 2

    def decode_instances(self, heads: Mapping[str, torch.Tensor],
                         input_size: tuple[int, int] | None = None) -> Instances:
        """Heads -> :class:`Instances` (``N = max_people``) in input pixels. ``input_size =
        (W, H)``: the input the heads came from, default the grid times the stride (a size
        whose grid is not the heads' is refused). A joint not found sits at the centre of the
        person's box with score 0; a person's score is the mean of its K joint scores."""
        heatmaps, tags, stride = self._grouping_maps(heads)
        B, K, h, w = heatmaps.shape
        if input_size is not None and (int(input_size[0]) // self.stride, int(input_size[1]) // self.stride) != \
                (heads["heatmaps"].shape[-1], heads["heatmaps"].shape[-2]):
            raise PosekitError(f"AECodec: input {input_size[0]}x{input_size[1]} at stride {self.stride} is not "
                               f"the grid of the heads")
        hm_np = heatmaps.detach().cpu().numpy()
        tg_np = tags.detach().cpu().numpy()
        kernel = self.nms_kernel
        N = self.max_people
        kps = np.zeros((B, N, K, 3), np.float32)
        scores = np.zeros((B, N), np.float32)
        boxes = np.zeros((B, N, 4), np.float32)
        for i in range(B):
            people, person_scores = decode_tags(
                hm_np[i], tg_np[i], self.joint_order, max_people=N, kernel=kernel,
                detection_threshold=self.detection_threshold, tag_threshold=self.tag_threshold,
                refine=self.refine)
            for n, (kp, s) in enumerate(zip(people[:N], person_scores[:N])):
                found = np.flatnonzero(kp[:, 2] > 0)
                if len(found) == 0:
                    continue
                xy = kp[found, :2].astype(np.float64)
                xy += subpixel_offsets(hm_np[i], found, xy[:, 1].round().astype(np.intp),
                                       xy[:, 0].round().astype(np.intp))
                kps[i, n], boxes[i, n] = person_row(self.heatmap_to_input(xy, stride), kp[:, 2] > 0, kp[:, 2])
                scores[i, n] = s
        return Instances(torch.from_numpy(kps), torch.from_numpy(scores), torch.from_numpy(boxes))

    def decode(self, heads: Mapping[str, torch.Tensor], input_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Heads -> keypoints ``(B, max_people, K, 3)`` (:meth:`decode_instances`)."""
        return self.decode_instances(heads, input_size).keypoints

    def flip_back(self, heads: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Heads of the mirrored input -> heads of the input: every map (``heatmaps``,
        ``tags``, ``heatmaps_hr`` where present) mirrored along ``w`` with left/right channels
        swapped (the tag values stay: a person's tag is the same in the mirror image). Returns
        a dict of those entries (:meth:`posekit.models.estimator.Estimator.heads` averages
        them with the unflipped heads)."""
        if not isinstance(heads, Mapping):
            raise PosekitError(f"AECodec.flip_back expects a dict of heads, got {type(heads).__name__}")
        flip = list(self.spec.flip_index)
        keys = [k for k in ("heatmaps", "tags", "heatmaps_hr") if k in heads]
        if "heatmaps" not in keys or "tags" not in keys:
            raise PosekitError(f"AECodec.flip_back: heads 'heatmaps' and 'tags' needed (got {sorted(heads)})")
        return {k: heads[k].flip(-1)[:, flip] for k in keys}
