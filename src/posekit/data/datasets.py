"""PyTorch datasets for top-down and bottom-up training (the only data module importing torch).

Images come from an :class:`ImageSource`: a folder (lazy decoding, errors name the file),
decoded images in memory (synthetic sets, benchmarks) or encoded bytes in memory.

Samples are deterministic per ``(seed, epoch, index)``: each ``__getitem__`` draws from
``np.random.default_rng([seed, epoch, index])``, so DataLoader workers, their number and their
order do not change what a sample looks like. Call :meth:`set_epoch` before each epoch (with
``persistent_workers=True`` the workers keep their own copy, so do not combine the two).

Images are returned as ``(3, H, W)`` float32, RGB scaled to [0, 1] and then normalised with
the ImageNet statistics ``IMAGENET_MEAN``/``IMAGENET_STD`` (the usual convention for
ImageNet-pretrained backbones); :func:`denormalize` undoes it.

OpenCV threads and DataLoader workers: do not call ``cv2.setNumThreads`` inside a forked
worker (e.g. in a ``worker_init_fn``): once the parent process has used OpenCV's thread pool,
that call deadlocks the worker (seen with opencv 5.0 / pthreads). To keep OpenCV
single-threaded in workers, call it in the main process before creating the DataLoader.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from posekit.data.records import ImageRecord
from posekit.data.transforms import (
    AugConfig, BottomUpAugConfig, bottomup_transform, ignore_regions, topdown_transform,
)
from posekit.errors import DataError
from posekit.geometry import keypoints_to_box
from posekit.io import read_image
from posekit.skeleton import KeypointSpec

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "ImageSource", "FolderImages", "MemoryImages",
    "EncodedImages", "normalize_image", "denormalize", "TopDownDataset",
    "BottomUpDataset",
]

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN255 = np.array(IMAGENET_MEAN, np.float32) * 255
_INV_STD255 = 1.0 / (np.array(IMAGENET_STD, np.float32) * 255)


# --------------------------------------------------------------------------- image sources
class ImageSource(Protocol):
    """Anything that returns the ``(H, W, 3)`` uint8 RGB image of a record's ``file_name``."""

    def get(self, file_name: str) -> np.ndarray: ...


class FolderImages:
    """Images decoded lazily from ``root / file_name`` (errors name the file)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def get(self, file_name: str) -> np.ndarray:
        return read_image(self.root / file_name)


class MemoryImages:
    """Decoded images held in memory, by file name."""

    def __init__(self, images: Mapping[str, np.ndarray]) -> None:
        self.images = dict(images)

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[np.ndarray, ImageRecord]]
                   ) -> tuple["MemoryImages", list[ImageRecord]]:
        """From ``[(image, record), ...]`` (e.g. :func:`posekit.data.synthetic.make_dataset`);
        returns the source and the records."""
        return cls({r.file_name: im for im, r in pairs}), [r for _, r in pairs]

    def get(self, file_name: str) -> np.ndarray:
        try:
            return self.images[file_name]
        except KeyError:
            raise DataError("<memory images>", f"no image named {file_name!r}") from None


class EncodedImages:
    """Encoded image files (JPEG/PNG bytes) held in memory, decoded on each access."""

    def __init__(self, data: Mapping[str, bytes]) -> None:
        self.data = dict(data)

    @classmethod
    def encode(cls, images: Mapping[str, np.ndarray], ext: str = ".jpg",
               quality: int = 90) -> "EncodedImages":
        """Encode decoded RGB images (for benchmarks and tests)."""
        out = {}
        for name, im in images.items():
            ok, buf = cv2.imencode(ext, cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            if not ok:
                raise DataError(name, f"cannot encode image as {ext}")
            out[name] = buf.tobytes()
        return cls(out)

    def get(self, file_name: str) -> np.ndarray:
        if file_name not in self.data:
            raise DataError("<encoded images>", f"no image named {file_name!r}")
        img = cv2.imdecode(np.frombuffer(self.data[file_name], np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(file_name, "cannot decode image bytes")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def normalize_image(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32, ImageNet-normalised."""
    out = np.empty((3, *image.shape[:2]), np.float32)
    for c in range(3):   # plane by plane: ~5x faster than one broadcast over (H, W, 3)
        np.multiply(image[..., c], _INV_STD255[c], out=out[c], casting="unsafe")
        out[c] -= _MEAN255[c] * _INV_STD255[c]
    return torch.from_numpy(out)


def denormalize(images: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` or ``(B, 3, H, W)`` normalised tensor -> ``(H, W, 3)`` / ``(B, H, W, 3)``
    uint8 RGB (for drawing)."""
    x = images.detach().cpu().float().numpy()
    x = np.moveaxis(x, -3, -1) / _INV_STD255 + _MEAN255
    return x.round().clip(0, 255).astype(np.uint8)


def _target_fields(target) -> dict:
    items = (dataclasses.asdict(target) if dataclasses.is_dataclass(target)
             else dict(vars(target)))
    return {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray)
            else v for k, v in items.items() if v is not None}   # None: a field this codec leaves out


# ---------------------------------------------------------------------------------- top-down
class TopDownDataset(Dataset):
    """One person per sample, cropped to ``input_size = (W, H)``.

    Args:
        records: image records (any spec equal to ``spec``).
        images: where the pixels come from.
        spec: the keypoint spec (for flips).
        input_size: ``(W, H)`` of the crop, e.g. ``(192, 256)``.
        train: random augmentation per ``aug`` when True; the plain padded box crop otherwise.
        aug: the augmentation config (its ``padding`` is also used for evaluation crops).
        codec: optional; ``codec.encode(keypoints_crop (K, 3) float32)`` must return a
            dataclass (e.g. with ``heatmaps (K, h, w)`` and ``weights (K,)``) whose fields are
            added to the sample.
        seed: base of the per-sample random streams.
        udp_warp: crop with UDP's unbiased warp (``posekit.geometry.crop_affine(udp=True)``);
            ``None`` = what the codec asks for (``codec.udp_warp``), plain crops without a codec.
        box_sampler: optional ``f(box_xyxy (4,), keypoints_image (K, 3), rng, key) -> box_xyxy``
            replacing the person box before cropping, in training and evaluation: a simulated
            detector or RMPE's PGPG proposals (:mod:`posekit.data.pgpg`). ``key`` is
            ``(image_index, person_index)``; ``rng`` is the sample's stream (training) or
            ``default_rng([seed, index])`` (evaluation).
        centred_targets: also encode (with ``codec``) the pose as the plain crop of the *true*
            box would show it (same rotation and flip): ``parallel_heatmaps``/``parallel_weights``,
            the targets of RMPE's parallel SPPE branch (:func:`posekit.data.pgpg.centred_keypoints`).

    Crowd people and people without a labelled keypoint are skipped. A sample is a dict:
    ``image (3, H, W)`` float32 normalised, ``keypoints (K, 3)`` float32 crop pixels (flipped
    crops have left/right swapped; points outside the crop v=0), ``affine (2, 3)`` float32
    image -> crop, ``center (2,)``, ``size (2,)`` float32 (the crop box in image pixels),
    ``flipped`` bool, ``image_index``, ``person_index`` int, plus the codec's fields.
    """

    def __init__(self, records: Sequence[ImageRecord], images: ImageSource, spec: KeypointSpec,
                 input_size: tuple[int, int] = (192, 256), train: bool = True,
                 aug: AugConfig | None = None, codec=None, seed: int = 0,
                 udp_warp: bool | None = None, box_sampler=None, centred_targets: bool = False) -> None:
        self.records = list(records)
        self.box_sampler = box_sampler
        self.centred_targets = bool(centred_targets)
        self.images = images
        self.spec = spec
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.train = train
        self.aug = aug if aug is not None else (AugConfig() if train else AugConfig.off())
        self.codec = codec
        self.udp_warp = bool(getattr(codec, "udp_warp", False)) if udp_warp is None else bool(udp_warp)
        self.seed = int(seed)
        self.epoch = 0
        self.samples: list[tuple[int, int]] = []
        for i, rec in enumerate(self.records):
            if rec.spec.num_keypoints != spec.num_keypoints:
                raise DataError(rec.file_name, f"record has {rec.spec.num_keypoints} keypoints, "
                                               f"dataset spec {spec.name} has {spec.num_keypoints}", i)
            for p in range(rec.num_people):
                if not rec.crowd[p] and (rec.keypoints[p, :, 2] > 0).any():
                    self.samples.append((i, p))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def person_box(self, image_index: int, person_index: int) -> np.ndarray:
        """The record's box, or the labelled keypoints' box when the record's is degenerate."""
        rec = self.records[image_index]
        box = rec.boxes[person_index].astype(np.float64)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            box = keypoints_to_box(rec.keypoints[person_index:person_index + 1])[0].astype(np.float64)
        return box

    def __getitem__(self, index: int) -> dict:
        i, p = self.samples[index]
        rec = self.records[i]
        image = self.images.get(rec.file_name)
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.train else None
        box = self.person_box(i, p)
        if self.box_sampler is not None:
            box = self.box_sampler(box, rec.keypoints[p], rng if rng is not None
                                   else np.random.default_rng([self.seed, index]), (i, p))
        s = topdown_transform(image, rec.keypoints[p], box, self.spec,
                              self.input_size, rng, self.aug, udp=self.udp_warp)
        out = {
            "image": normalize_image(s.image),
            "keypoints": torch.from_numpy(s.keypoints.astype(np.float32)),
            "affine": torch.from_numpy(s.affine.astype(np.float32)),
            "center": torch.from_numpy(np.asarray(s.params.center, np.float32)),
            "size": torch.from_numpy(np.asarray(s.params.size, np.float32)),
            "flipped": bool(s.params.flip),
            "image_index": i,
            "person_index": p,
        }
        if self.codec is not None:
            out.update(_target_fields(self.codec.encode(s.keypoints.astype(np.float32))))
        if self.centred_targets:
            from posekit.data.pgpg import centred_keypoints
            kc = centred_keypoints(rec.keypoints[p], self.person_box(i, p), s.params, self.spec,
                                   self.input_size, self.aug.padding)
            t = _target_fields(self.codec.encode(kc))
            out.update(parallel_heatmaps=t["heatmaps"], parallel_weights=t["weights"])
        return out


# --------------------------------------------------------------------------------- bottom-up
class BottomUpDataset(Dataset):
    """Whole images through the random affine into a square ``output_size`` (see
    :func:`posekit.data.transforms.bottomup_transform`).

    A sample is a dict: ``image (3, S, S)`` float32 normalised, ``keypoints (M, K, 3)`` float32
    in output pixels for all people, padded with zero rows up to ``max_people = M`` (extra
    people are dropped with a log warning), ``person_valid (M,)`` bool, ``crowd (M,)`` bool,
    ``num_people`` int, ``affine (2, 3)`` float32 image -> output, ``flipped`` bool,
    ``image_index`` int, plus the codec's fields when a codec is given
    (``codec.encode(keypoints (N, K, 3) float32, ignore=...)`` on the unpadded people; ``ignore``
    (:meth:`ignore_mask`) marks the crowd regions and the unlabelled people, by their boxes,
    when there are any).
    Images without people are skipped when ``skip_empty``.
    """

    def __init__(self, records: Sequence[ImageRecord], images: ImageSource, spec: KeypointSpec,
                 output_size: int = 512, train: bool = True, aug: BottomUpAugConfig | None = None,
                 codec=None, max_people: int = 30, seed: int = 0, skip_empty: bool = True) -> None:
        self.records = list(records)
        self.images = images
        self.spec = spec
        self.output_size = int(output_size)
        self.train = train
        self.aug = aug if aug is not None else (BottomUpAugConfig() if train
                                                else BottomUpAugConfig.off())
        self.codec = codec
        self.max_people = int(max_people)
        self.seed = int(seed)
        self.epoch = 0
        self.indices = [i for i, r in enumerate(self.records)
                        if not skip_empty or (r.keypoints[..., 2] > 0).any()]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        i = self.indices[index]
        rec = self.records[i]
        image = self.images.get(rec.file_name)
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.train else None
        s = bottomup_transform(image, rec.keypoints, self.spec, self.output_size, rng,
                               self.aug if self.train else None)
        n = s.keypoints.shape[0]
        if n > self.max_people:
            log.warning("%s[%d]: %d people, keeping the first %d", rec.file_name, i, n,
                        self.max_people)
        m = min(n, self.max_people)
        K = self.spec.num_keypoints
        kp = np.zeros((self.max_people, K, 3), np.float32)
        kp[:m] = s.keypoints[:m]
        valid = np.zeros(self.max_people, bool)
        valid[:m] = True
        crowd = np.zeros(self.max_people, bool)
        crowd[:m] = rec.crowd[:m]
        out = {
            "image": normalize_image(s.image),
            "keypoints": torch.from_numpy(kp),
            "person_valid": torch.from_numpy(valid),
            "crowd": torch.from_numpy(crowd),
            "num_people": m,
            "affine": torch.from_numpy(s.affine.astype(np.float32)),
            "flipped": bool(s.flipped),
            "image_index": i,
        }
        if self.codec is not None:
            ignore = self.ignore_mask(rec, s.affine)
            kw = {} if ignore is None else {"ignore": ignore}
            out.update(_target_fields(self.codec.encode(s.keypoints[:m].astype(np.float32), **kw)))
        return out

    def ignore_mask(self, rec: ImageRecord, affine: np.ndarray) -> np.ndarray | None:
        """``(h, w)`` bool on the codec's grid: the boxes of the record's crowd annotations and
        of its people without a labelled keypoint, warped by the sample's ``affine``
        (:func:`posekit.data.transforms.ignore_regions`); the codec's loss mask is 0 there. None
        when the codec has no grid (no ``stride``) or nothing is to be ignored. The grid's cell
        centres are ``codec.heatmap_to_input`` (default ``x_in = stride * (x + 0.5) - 0.5``, the
        edge-to-edge grid every bottom-up codec here uses)."""
        codec = self.codec
        if codec is None or not hasattr(codec, "stride"):
            return None
        unlabelled = rec.crowd | ~(rec.keypoints[..., 2] > 0).any(axis=-1)
        if not unlabelled.any():
            return None
        s = int(codec.stride)
        to_input = getattr(codec, "heatmap_to_input", None) or (lambda xy: (xy + 0.5) * s - 0.5)
        return ignore_regions(rec.boxes[unlabelled], affine, (self.output_size // s, self.output_size // s), to_input)
