"""Leeds Sports Pose (LSP) and LSP-extended ``joints.mat``.

LSP: Johnson & Everingham, "Clustered Pose and Nonlinear Appearance Models for Human Pose
Estimation", BMVC 2010. LSP-extended (LSPET): Johnson & Everingham, "Learning Effective
Human Pose Estimation from Inaccurate Annotation", CVPR 2011.

Both files hold one matrix ``joints`` with 14 joints per image in LSP14 order, one person per
image, but the two releases lay it out differently and flip the meaning of the flag:

================  ===============  =============================================
release           shape            third value per joint
================  ===============  =============================================
LSP (2,000)       ``3 x 14 x N``   ``joints(3, k, i) = 1`` when the joint is *invisible* (occluded)
LSP-extended      ``14 x 3 x N``   ``joints(k, 3, i) = 1`` when the joint is *visible*
================  ===============  =============================================

What this reader assumes:
- The layout is told apart by the shape alone (the two never coincide); any other shape is
  an error.
- Both releases give coordinates for every joint, occluded or not, so a not-visible joint is
  "labelled but occluded" (COCO v = 1) and a visible one v = 2. No joint is unlabelled.
  (Some LSPET points lie outside the image; they are kept as given.)
- Coordinates are MATLAB 1-based, as in the other MATLAB releases read here (MPII, FLIC,
  J-HMDB); records are 0-based pixel centres, so 1 is subtracted from every x and y, once,
  here. Without it, mixed MPII + LSP training would disagree by a pixel,
  and a horizontal flip would turn the error's sign.
- Image ``i`` (0-based) is ``im{i+1:04d}.jpg`` (LSP) or ``im{i+1:05d}.jpg`` (LSPET); sizes are
  read from ``images/`` beside the file when it exists, otherwise estimated from the points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.data.formats._common import ImageSizer, load_mat, mat_variable
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.skeleton import LSP14

__all__ = ["read_lsp", "lsp_layout"]


def lsp_layout(joints: np.ndarray) -> str:
    """``"lsp"`` for a ``3 x 14 x N`` matrix, ``"lspet"`` for ``14 x 3 x N``, else ``""``."""
    if joints.ndim == 3 and joints.shape[:2] == (3, 14):
        return "lsp"
    if joints.ndim == 3 and joints.shape[:2] == (14, 3):
        return "lspet"
    return ""


def read_lsp(path: str | Path, image_dir: str | Path | None = None, *,
             read_images: bool = True) -> list[ImageRecord]:
    """Read an LSP or LSP-extended ``joints.mat`` (layout found from the shape) into one
    record per image with one LSP14 person each, in 0-based pixel centres (the file's 1-based
    values minus 1); ``extra["release"]`` says which layout. ``read_images=False`` estimates
    image sizes from the keypoints without looking for the images."""
    path = Path(path)
    m = load_mat(path, squeeze=False)
    joints = np.asarray(mat_variable(m, "joints", path, "matrix: not an LSP joints.mat"))
    layout = lsp_layout(joints)
    if not layout:
        raise DataError(path, f"'joints' has shape {joints.shape}; expected 3x14xN (LSP) or "
                              "14x3xN (LSP-extended)")
    if not np.issubdtype(joints.dtype, np.number):
        raise DataError(path, f"'joints' is not numeric ({joints.dtype})")
    # -> (N, 14, 3) holding x, y, flag
    per_image = joints.transpose(2, 1, 0) if layout == "lsp" else joints.transpose(2, 0, 1)
    per_image = per_image.astype(np.float64)
    sizer = ImageSizer(path, image_dir, path.parent / "images", read_images)
    digits = 4 if layout == "lsp" else 5
    records = []
    for i, j in enumerate(per_image):
        if not np.isfinite(j).all():
            bad = int(np.flatnonzero(~np.isfinite(j).all(1))[0])
            raise DataError(path, f"joint {bad} ({LSP14.names[bad]}) has NaN or infinite values", i)
        flag = j[:, 2]
        if not np.isin(flag, (0, 1)).all():
            raise DataError(path, f"visibility flags must be 0 or 1, got {sorted(set(flag.tolist()))}", i)
        visible = flag == 0 if layout == "lsp" else flag == 1
        kp = np.concatenate([j[:, :2] - 1, np.where(visible, 2, 1)[:, None]], axis=1)
        name = f"im{i + 1:0{digits}d}.jpg"
        w, h, est = sizer.size(name, kp[:, :2], i)
        extra = {"release": layout}
        if est:
            extra["size_estimated"] = True
        records.append(ImageRecord.create(name, w, h, kp[None], LSP14, image_id=i + 1,
                                          ann_ids=[i + 1], extra=extra, source=str(path), index=i))
    return records
