"""Readers for the pose data sets, all producing :class:`posekit.data.records.ImageRecord`,
and the COCO writer they share.

``read_annotations(path)`` finds the format from the file's content:

========== ====================================================== =========================
format     file                                                   reader
========== ====================================================== =========================
coco       COCO keypoints JSON (also COCO-style AIC / J-HMDB)      :func:`read_coco`
mpii       official ``.mat`` release or the common JSON list      :func:`read_mpii_mat`, :func:`read_mpii_json`
lsp        LSP / LSP-extended ``joints.mat``                      :func:`read_lsp`
flic       FLIC ``examples.mat``                                  :func:`read_flic`
aic        AI Challenger raw JSON list                            :func:`read_aic`
jhmdb      J-HMDB ``joint_positions.mat`` (one clip)               :func:`read_jhmdb_mat`
========== ====================================================== =========================

Every record is in 0-based pixel centres whatever the source: the MATLAB sources (MPII, LSP,
FLIC, J-HMDB, also J-HMDB's COCO-style conversion) are 1-based and each reader subtracts 1,
once. Every format converts to COCO JSON with :func:`write_coco`. See ``docs/data.md`` for the
conventions (visibility, 0/1-based coordinates, MPII scale, head boxes).

This package is the only place that reads or writes annotation and result files. COCO ground
truth is parsed by one function, :func:`parse_coco`, into a :class:`CocoGroundTruth` (arrays at
the file's precision) that both :func:`read_coco` (records) and :mod:`posekit.metrics` (COCO
AP) use; :meth:`CocoGroundTruth.from_records` gives the same arrays for records of any reader.
COCO results lists are parsed by :func:`parse_coco_results` into :class:`CocoResults`.
"""

from __future__ import annotations

from pathlib import Path

from posekit.data.formats._common import json_kind
from posekit.data.formats.aic import read_aic, read_aic_raw
from posekit.data.formats.coco import (
    CocoGroundTruth, CocoResult, CocoResults, parse_coco, parse_coco_results, read_coco,
    read_coco_ground_truth, read_coco_result_arrays, read_coco_results, records_to_coco,
    spec_from_names, write_coco,
)
from posekit.data.formats.flic import read_flic
from posekit.data.formats.jhmdb import read_jhmdb_mat
from posekit.data.formats.lsp import read_lsp
from posekit.data.formats.mpii import read_mpii_json, read_mpii_mat, write_mpii_json
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.skeleton import KeypointSpec

__all__ = [
    "FORMATS", "detect_format", "read_annotations", "read_coco", "write_coco",
    "records_to_coco", "spec_from_names", "CocoGroundTruth", "parse_coco", "read_coco_ground_truth",
    "CocoResults", "parse_coco_results", "read_coco_result_arrays", "CocoResult",
    "read_coco_results", "read_mpii_mat",
    "read_mpii_json", "write_mpii_json", "read_lsp", "read_flic", "read_aic", "read_aic_raw",
    "read_jhmdb_mat",
]

FORMATS = ("coco", "mpii", "lsp", "flic", "aic", "jhmdb")


def detect_format(path: str | Path) -> str:
    """One of :data:`FORMATS`, or ``"coco_results"`` for a COCO results list, found from the
    file's content (JSON keys, .mat variable names). Raises DataError when none fits."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "annotation file not found")
    with open(p, "rb") as f:
        magic = f.read(128)
    if magic.startswith(b"MATLAB") or p.suffix.lower() == ".mat":
        import scipy.io

        try:
            names = {name for name, _, _ in scipy.io.whosmat(str(p))}
        except Exception as e:  # not a .mat file, or v7.3/HDF5
            raise DataError(p, f"cannot read .mat file: {e}") from None
        for var, fmt in (("RELEASE", "mpii"), ("examples", "flic"), ("joints", "lsp"),
                         ("pos_img", "jhmdb")):
            if var in names:
                return fmt
        raise DataError(p, f".mat file of unknown layout (variables {sorted(names)}); expected "
                           "RELEASE (MPII), examples (FLIC), joints (LSP) or pos_img (J-HMDB)")
    kind, keys = json_kind(p)
    if kind == "dict":  # the COCO reader checks the rest and names what is missing
        return "coco"
    if kind == "list":
        if "keypoint_annotations" in keys or "human_annotations" in keys:
            return "aic"
        if "joints_vis" in keys or "joints" in keys:
            return "mpii"
        if "score" in keys:
            return "coco_results"
        if not keys:
            raise DataError(p, "empty JSON list: cannot tell its format; pass format= explicitly")
    if kind == "":
        from posekit.data.formats._common import load_json

        load_json(p)  # raises "malformed JSON ..." with line and column
    raise DataError(p, "unknown annotation format (not COCO, MPII, AIC, LSP, FLIC or J-HMDB)")


def read_annotations(path: str | Path, format: str | None = None, *,
                     image_dir: str | Path | None = None,
                     spec: KeypointSpec | None = None,
                     read_images: bool = True) -> list[ImageRecord]:
    """Read any supported annotation file into ImageRecords (0-based pixel centres).

    Args:
        path: annotation file.
        format: one of :data:`FORMATS`; found from the content when None.
        image_dir: image folder, used by formats that do not store image sizes (MPII, LSP,
            raw AIC, J-HMDB) to read them from the image headers.
        spec: keypoint spec for COCO files whose category names are not a known spec.
        read_images: False never looks at images: sizes the file lacks are estimated from the
            keypoints, without a warning (for callers that do not need them, e.g. evaluation).
    """
    p = Path(path)
    fmt = format or detect_format(p)
    if fmt == "coco":
        return read_coco(p, spec=spec)
    if fmt == "mpii":
        with open(p, "rb") as f:
            is_mat = f.read(6) == b"MATLAB"
        if is_mat or p.suffix.lower() == ".mat":
            return read_mpii_mat(p, image_dir, read_images=read_images)
        return read_mpii_json(p, image_dir, read_images=read_images)
    if fmt == "lsp":
        return read_lsp(p, image_dir, read_images=read_images)
    if fmt == "flic":
        return read_flic(p)
    if fmt == "aic":
        return read_aic(p, image_dir, read_images=read_images)
    if fmt == "jhmdb":
        return read_jhmdb_mat(p, image_dir, read_images=read_images)
    if fmt == "coco_results":
        raise DataError(p, "this is a COCO results list (predictions), not annotations; "
                           "use read_coco_results")
    raise DataError(p, f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
