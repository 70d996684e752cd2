"""Image-to-network-input affines and batched warping shared by the predictors.

Every network input is produced by :func:`posekit.geometry.warp_image` with a matrix from
:func:`posekit.geometry.crop_affine`, so mapping predictions back to the image is always the
inverse of that same matrix (never ``* scale`` arithmetic).
"""

from __future__ import annotations

import numpy as np
import torch

from posekit.geometry import box_to_center_size, crop_affine, invert_affine, transform_points, warp_image

__all__ = ["stretch_affine", "letterbox_affine", "box_crop_region", "box_crop_affine",
           "warp_batch", "to_tensor", "boxes_to_image"]


def stretch_affine(width: int, height: int, out_size: tuple[int, int]) -> np.ndarray:
    """The whole ``width x height`` image stretched edge to edge onto ``out_size = (W, H)``."""
    center = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    return crop_affine(center, np.array([float(width), float(height)]), out_size)


def letterbox_affine(width: int, height: int, out_size: tuple[int, int]) -> np.ndarray:
    """The image scaled isotropically to fit ``out_size = (W, H)``, centred, padded evenly."""
    W, H = out_size
    scale = min(W / width, H / height)
    center = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    return crop_affine(center, np.array([W / scale, H / scale]), out_size)


def box_crop_region(box_xyxy: np.ndarray, out_size: tuple[int, int], padding: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``(2,)`` and size ``(w, h)`` in image pixels of the crop for a person box: the box
    widened to the output's aspect ratio ``out_size = (W, H)``, then scaled by ``padding``."""
    return box_to_center_size(box_xyxy, aspect_ratio=out_size[0] / out_size[1], padding=padding)


def box_crop_affine(box_xyxy: np.ndarray, out_size: tuple[int, int], padding: float, udp: bool = False) -> np.ndarray:
    """Crop matrix for a person box: :func:`box_crop_region`'s region mapped onto ``out_size``,
    edge to edge, or with UDP's warp (``udp``: the estimator's ``udp_warp``)."""
    center, size = box_crop_region(box_xyxy, out_size, padding)
    return crop_affine(center, size, out_size, udp=udp)


def warp_batch(image: np.ndarray, affines: list[np.ndarray], out_size: tuple[int, int]) -> np.ndarray:
    """``(B, H, W, 3)`` uint8 crops of one image, one per matrix (black outside the image)."""
    return np.stack([warp_image(image, A, out_size) for A in affines]) if affines else \
        np.zeros((0, out_size[1], out_size[0], 3), np.uint8)


def to_tensor(batch_hwc: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 -> ``(B, 3, H, W)`` float32 0..255 on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(batch_hwc)).to(device)
    return t.permute(0, 3, 1, 2).float()


def boxes_to_image(boxes_input: np.ndarray, A: np.ndarray) -> np.ndarray:
    """xyxy boxes from network-input pixels back to the image through ``A``'s inverse (``A``
    has no rotation, so corners map to corners)."""
    if len(boxes_input) == 0:
        return np.zeros((0, 4), np.float32)
    Ainv = invert_affine(A)
    b = np.asarray(boxes_input, np.float64)
    p0 = transform_points(Ainv, b[:, :2])
    p1 = transform_points(Ainv, b[:, 2:])
    return np.concatenate([p0, p1], axis=1).astype(np.float32)
