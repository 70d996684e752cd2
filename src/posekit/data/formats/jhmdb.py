"""J-HMDB (Joint-annotated HMDB) ``joint_positions.mat``, one file per clip.

Jhuang, Gall, Zuffi, Schmid, Black, "Towards understanding action recognition", ICCV 2013.

Release layout: ``joint_positions/<action>/<clip>/joint_positions.mat`` beside the frames
``Rename_Images/<action>/<clip>/00001.png, 00002.png, ...``. Each ``.mat`` holds (read with
``scipy.io.loadmat``)::

    pos_img     2 x 15 x T   x (row 1) and y (row 2) of the 15 puppet joints in frame t, pixels
    pos_world   2 x 15 x T   the same, normalised (not read)
    scale       1 x T        puppet scale per frame (kept in extra["scale"])
    viewpoint   string       e.g. "E" (kept in extra["viewpoint"])

The 15 joints are in JHMDB15 order (neck, belly, head, right/left shoulder, right/left hip,
right/left elbow, right/left knee, right/left wrist, right/left ankle).

Conventions (converted once, here):

- ``pos_img`` is MATLAB 1-based; records are 0-based pixel centres, so 1 is subtracted from
  every x and y.
- The puppet places all 15 joints in every frame and has no visibility flag: every joint is
  v = 2, also the few that fall outside the frame (kept as given).
- One record per frame, one person each. ``file_name`` is ``<clip>/<t+1:05d>.png``, relative to
  the action's folder of ``Rename_Images`` (the same names as MMPose's COCO-style conversion,
  e.g. ``../shared/data/jhmdb/test_jhmdb_sub1.json``); image sizes are read from
  ``image_dir/<clip>/`` when it is given or found, else estimated from the keypoints.

The COCO-style J-HMDB files written by MMPose's converter carry the same 1-based values; they
are read by :func:`posekit.data.formats.coco.read_coco`, which subtracts 1 for them too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.data.formats._common import ImageSizer, load_mat, mat_variable
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.skeleton import JHMDB15

__all__ = ["read_jhmdb_mat"]


def read_jhmdb_mat(path: str | Path, image_dir: str | Path | None = None, *,
                   read_images: bool = True) -> list[ImageRecord]:
    """Read one clip's ``joint_positions.mat`` into one JHMDB15 record per frame.

    Args:
        path: ``.../joint_positions/<action>/<clip>/joint_positions.mat``; the clip's name is
            the file's folder name.
        image_dir: the folder holding ``<clip>/00001.png, ...`` (``Rename_Images/<action>``),
            for the image sizes; by default ``Rename_Images/<action>`` found beside
            ``joint_positions``, else the sizes are estimated.
        read_images: False estimates image sizes from the keypoints without the images.

    Returns:
        T records (file order = frame order) with keypoints ``(1, 15, 3)`` in 0-based pixel
        centres; ``extra`` holds ``frame`` (1-based, as the file names), ``scale`` and
        ``viewpoint`` when the file has them.
    """
    path = Path(path)
    m = load_mat(path, squeeze=False)
    pos = np.asarray(mat_variable(m, "pos_img", path, "matrix: not a J-HMDB joint_positions.mat"))
    if pos.ndim == 2:
        pos = pos[:, :, None]        # a one-frame clip saved without its third dimension
    if pos.ndim != 3 or pos.shape[:2] != (2, 15) or not np.issubdtype(pos.dtype, np.number):
        raise DataError(path, f"'pos_img' has shape {pos.shape} ({pos.dtype}); expected a "
                              "numeric 2 x 15 x T matrix")
    pos = pos.astype(np.float64)
    scale = np.asarray(m.get("scale", np.zeros((0,))), dtype=np.float64).ravel()
    view = m.get("viewpoint")
    viewpoint = str(np.asarray(view).ravel()[0]) if view is not None and np.asarray(view).size else None
    clip = path.parent.name
    default_dir = None
    if path.parent.parent.parent.name == "joint_positions":
        default_dir = path.parents[3] / "Rename_Images" / path.parent.parent.name
    sizer = ImageSizer(path, image_dir, default_dir, read_images)
    records = []
    for t in range(pos.shape[2]):
        xy = pos[:, :, t].T                                             # (15, 2)
        if not np.isfinite(xy).all():
            bad = int(np.flatnonzero(~np.isfinite(xy).all(1))[0])
            raise DataError(path, f"frame {t + 1}: joint {bad} ({JHMDB15.names[bad]}) has NaN or "
                                  "infinite values", t)
        kp = np.concatenate([xy - 1, np.full((15, 1), 2.0)], axis=1)
        name = f"{clip}/{t + 1:05d}.png"
        w, h, est = sizer.size(name, kp[:, :2], t)
        extra: dict = {"frame": t + 1}
        if t < scale.size:
            extra["scale"] = float(scale[t])
        if viewpoint is not None:
            extra["viewpoint"] = viewpoint
        if est:
            extra["size_estimated"] = True
        records.append(ImageRecord.create(name, w, h, kp[None], JHMDB15, image_id=t + 1,
                                          ann_ids=[t + 1], extra=extra, source=str(path), index=t))
    return records
