"""``posekit data``: inspect, convert and draw annotation files.

- ``posekit data inspect FILE``: counts of images, people and labelled keypoints per joint.
- ``posekit data convert IN OUT``: any supported format to COCO keypoints JSON.
- ``posekit data show FILE --images DIR --out DIR``: one PNG overlay per image. A bad or
  missing image is reported on stderr and skipped; the exit code is 1 if any image failed.
  ``--out`` must not be the images folder (overlays would overwrite or mix with the inputs).
- ``posekit data sample --out DIR``: a tiny real sample (a photo, synthetic figures, COCO and
  MPII ground truth, prediction files) on which every README example runs; see
  :mod:`posekit.data.sample`.
- ``posekit data roundtrip FILE --codec paf|ae|higherhrnet|heatmap|udp``: ground truth ->
  perfect outputs -> decode/group -> COCO AP/AR and lost keypoints per joint
  (:mod:`posekit.data.roundtrip`).

Output paths are checked before anything is written (``posekit.io.output_file`` /
``output_dir``): an existing file where a folder is wanted, a folder where a file is wanted,
or a path that cannot be created is one error line naming the path.

No torch at import: only numpy, OpenCV and the readers (``roundtrip`` imports the codecs when run).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import textwrap
from pathlib import Path

import numpy as np

from posekit.data.formats import FORMATS, detect_format, read_annotations, write_coco
from posekit.data.records import ImageRecord
from posekit.errors import DataError, PosekitError
from posekit.io import output_dir, output_file, read_image, write_image

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` and its verbs to the ``posekit`` parser."""
    data = subparsers.add_parser(
        "data", help="inspect, convert and draw annotation files",
        description="Annotation files: COCO keypoints JSON, MPII (.mat release or JSON), "
                    "LSP / LSP-extended joints.mat, FLIC examples.mat, AI Challenger JSON. "
                    "The format is found from the file's content unless --format is given.")
    verbs = data.add_subparsers(dest="verb", metavar="VERB")
    data.set_defaults(func=lambda args: _no_verb(data))

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", choices=FORMATS, default=None,
                       help="annotation format (default: detected from the content)")
        p.add_argument("--image-dir", default=None, metavar="DIR",
                       help="image folder, for formats that do not store image sizes "
                            "(MPII, LSP, raw AIC); default: next to the file")

    p = verbs.add_parser("inspect", help="count images, people and labelled keypoints per joint",
                         description="Print counts of images, people (crowd, unlabelled) and "
                                     "labelled keypoints per joint (visible / occluded).")
    p.add_argument("file", help="annotation file")
    common(p)
    p.set_defaults(func=run_inspect)

    p = verbs.add_parser("convert", help="convert an annotation file to COCO keypoints JSON",
                         description="Read any supported annotation file and write it as COCO "
                                     "keypoints JSON (boxes xywh, visibility 0/1/2, 0-based "
                                     "pixel-centre coordinates).")
    p.add_argument("input", help="annotation file to read")
    p.add_argument("output", help="COCO JSON file to write")
    common(p)
    p.set_defaults(func=run_convert)

    p = verbs.add_parser("show", help="draw the annotations over the images as PNG files",
                         description="Write one PNG per image with skeletons (per-person colours; "
                                     "left side lighter, right side darker), person boxes and, "
                                     "where present, MPII head boxes (white). Missing or "
                                     "unreadable images are reported and skipped; exit code 1 "
                                     "at the end if any failed.")
    p.add_argument("file", help="annotation file")
    p.add_argument("--images", required=True, metavar="DIR", help="folder the file names are relative to")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for the PNGs")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="annotation format (default: detected from the content)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="draw at most N images")
    p.add_argument("--no-boxes", action="store_true", help="do not draw person boxes")
    p.set_defaults(func=run_show)

    p = verbs.add_parser("roundtrip", help="encode the ground truth with a codec, decode it, score it",
                         description="Can a codec represent these people? Every image's ground truth "
                                     "is encoded into perfect network outputs (bottom-up: the image "
                                     "letterboxed at --input like the bottom-up predictor; top-down: "
                                     "one crop per person box), decoded and grouped, mapped back to "
                                     "the image and scored with COCO AP/AR against the same ground "
                                     "truth, with a per-joint count of the labelled keypoints lost. "
                                     "AE and HigherHRNet use ideal tags. Only the annotations are "
                                     "read (no images).")
    p.add_argument("file", help="annotation file (any format posekit reads)")
    p.add_argument("--codec", default="paf", choices=("paf", "ae", "higherhrnet", "heatmap", "udp"),
                   help="paf (OpenPose fields), ae (associative embedding), higherhrnet, heatmap "
                        "(top-down MSRA), udp (top-down UDP); default paf")
    p.add_argument("--input", type=int, default=None, metavar="PX",
                   help="bottom-up: the input's long side (default 512); top-down: the crop "
                        "height of a 3:4 crop (default 256)")
    p.add_argument("--stride", type=int, default=4, help="input pixels per heatmap pixel (default 4)")
    p.add_argument("--sigma", type=float, default=None,
                   help="Gaussian width in heatmap pixels (default: the codec's)")
    p.add_argument("--limb-width", type=float, default=None, help="PAF field half-width, heatmap pixels (default 1)")
    p.add_argument("--ks", type=float, default=0.5, metavar="T",
                   help="a keypoint is lost below this keypoint similarity (default 0.5)")
    p.add_argument("--images", default=None, metavar="DIR",
                   help="image folder, only for formats that need it for image sizes")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="annotation format (default: detected from the content)")
    p.set_defaults(func=run_roundtrip)

    p = verbs.add_parser("sample", help="write a tiny real sample to try every command on",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description=_sample_description())
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the sample into")
    p.add_argument("--no-photo", action="store_true",
                   help="synthetic figures only (no download): no astronaut.png and no MPII files")
    p.add_argument("--force", action="store_true",
                   help="overwrite files of the sample's names that already exist in DIR")
    p.set_defaults(func=run_sample)


def _sample_description() -> str:
    """``posekit data sample --help``: what it writes (posekit.data.sample.SAMPLE_FILES)."""
    from posekit.data.sample import file_table

    intro = ("Write a tiny real sample into DIR, on which every example of the README runs: the "
             "demo photo (fetched once with pip from the scikit-image wheel and cached; see "
             "posekit.demo) with its person annotated by hand, three scenes of synthetic figures "
             "with exact ground truth, and prediction files to evaluate. Files:")
    return "\n".join([textwrap.fill(intro, 88), "", file_table(indent="  "), "",
                      "Then, for example:",
                      "  posekit data inspect DIR/coco.json",
                      "  posekit data show DIR/coco.json --images DIR --out overlays",
                      "  posekit eval DIR/coco.json DIR/coco_results.json --metric coco",
                      "  posekit eval DIR/mpii.json DIR/mpii_results.json --metric pckh"])


def _no_verb(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _read(args: argparse.Namespace, path: str, image_dir: str | None) -> tuple[str, list[ImageRecord]]:
    fmt = args.format or detect_format(path)
    return fmt, read_annotations(path, fmt, image_dir=image_dir)


def inspect_summary(records: list[ImageRecord]) -> dict:
    """Counts for ``posekit data inspect``: images, people, crowd, per-joint labelled keypoints."""
    if not records:
        return {"images": 0, "people": 0}
    spec = records[0].spec
    kps = [r.keypoints for r in records if r.num_people]
    allk = np.concatenate(kps) if kps else np.zeros((0, spec.num_keypoints, 3), np.float32)
    crowd = np.concatenate([r.crowd for r in records]) if records else np.zeros(0, bool)
    v = allk[:, :, 2]
    return {
        "spec": spec,
        "images": len(records),
        "images_without_people": sum(r.num_people == 0 for r in records),
        "people": int(allk.shape[0]),
        "crowd": int(crowd.sum()),
        "people_without_keypoints": int(((v > 0).sum(1) == 0).sum()),
        "labelled": (v > 0).sum(0), "visible": (v == 2).sum(0), "occluded": (v == 1).sum(0),
        "size_estimated": sum(bool(r.extra.get("size_estimated")) for r in records),
        "head_boxes": sum(r.head_boxes is not None for r in records),
        "head_boxes_estimated": sum(bool(r.extra.get("head_boxes_estimated")) for r in records),
    }


def run_inspect(args: argparse.Namespace) -> int:
    fmt, records = _read(args, args.file, args.image_dir)
    s = inspect_summary(records)
    out = [f"file: {args.file}", f"format: {fmt}"]
    if not records:
        out.append("images: 0\npeople: 0")
        print("\n".join(out))
        return 0
    spec = s["spec"]
    out += [
        f"keypoint spec: {spec.name} ({spec.num_keypoints} keypoints)",
        f"images: {s['images']} ({s['images_without_people']} without people)",
        f"people: {s['people']} ({s['crowd']} crowd, {s['people_without_keypoints']} "
        "without labelled keypoints)",
        f"labelled keypoints: {int(s['labelled'].sum())} ({int(s['visible'].sum())} visible, "
        f"{int(s['occluded'].sum())} occluded)",
    ]
    if s["head_boxes"]:
        note = " (estimated from upper_neck/head_top)" if s["head_boxes_estimated"] else ""
        out.append(f"images with head boxes: {s['head_boxes']}{note}")
    if s["size_estimated"]:
        out.append(f"image sizes estimated from keypoints (no image folder): {s['size_estimated']} images")
    width = max(len(n) for n in spec.names)
    out.append(f"per joint: {'joint':<{width}}  labelled  visible  occluded")
    for k, name in enumerate(spec.names):
        out.append(f"  {k:>2} {name:<{width}}  {s['labelled'][k]:>8}  {s['visible'][k]:>7}  "
                   f"{s['occluded'][k]:>8}")
    print("\n".join(out))
    return 0


def run_convert(args: argparse.Namespace) -> int:
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise DataError(args.output, "is the input file; give another name for the COCO output")
    out = output_file(args.output)
    fmt, records = _read(args, args.input, args.image_dir)
    write_coco(records, out)
    people = sum(r.num_people for r in records)
    print(f"{args.input} ({fmt}) -> {args.output} (COCO keypoints JSON): {len(records)} images, "
          f"{people} people")
    return 0


def _overlay_name(file_name: str, used: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(Path(file_name).with_suffix("")).replace("/", "__"))
    name, n = f"{stem}.png", 1
    while name in used:
        n += 1
        name = f"{stem}_{n}.png"
    used.add(name)
    return name


def run_show(args: argparse.Namespace) -> int:
    from posekit.viz import draw_boxes, draw_poses

    image_dir = Path(args.images)
    if not image_dir.is_dir():
        raise DataError(image_dir, "--images folder not found")
    if Path(args.out).resolve() == image_dir.resolve():
        raise DataError(args.out, "--out is the --images folder: the overlays would overwrite or "
                                  "mix with the input images; give another folder")
    out_dir = output_dir(args.out)
    # No image_dir for the reader: a missing image must not stop the batch (it is reported and
    # skipped below), and the images themselves give the sizes that matter here.
    _, records = _read(args, args.file, None)
    if args.limit is not None:
        records = records[: max(args.limit, 0)]
    used: set[str] = set()
    failed = done = 0
    for i, r in enumerate(records):
        img_path = image_dir / r.file_name
        try:
            img = read_image(img_path)
        except DataError as e:
            failed += 1
            print(f"posekit data show: {DataError(args.file, f'image {img_path}: {e.problem}', i)} "
                  "(skipped)", file=sys.stderr)
            continue
        if (img.shape[1], img.shape[0]) != (r.width, r.height) and not r.extra.get("size_estimated"):
            log.warning("%s[%d]: image %s is %dx%d, the annotation says %dx%d", args.file, i,
                        img_path, img.shape[1], img.shape[0], r.width, r.height)
        drawn = draw_poses(img, r.keypoints, r.spec, boxes=None if args.no_boxes else r.boxes,
                           min_score=0.0)
        if r.head_boxes is not None:
            drawn = draw_boxes(drawn, r.head_boxes[r.head_boxes.any(axis=1)], color=(255, 255, 255))
        write_image(out_dir / _overlay_name(r.file_name, used), drawn)
        done += 1
    print(f"wrote {done} overlays to {out_dir}" + (f"; {failed} images failed" if failed else ""))
    return 1 if failed else 0


def run_sample(args: argparse.Namespace) -> int:
    from posekit.data.sample import write_sample
    from posekit.demo import fetch_demo_image

    photo = None
    if not args.no_photo:
        try:
            photo = fetch_demo_image()
        except PosekitError as e:
            raise PosekitError(f"{e} (--no-photo writes the synthetic part without it)") from None
    written = write_sample(args.out, photo, overwrite=args.force)
    print(f"wrote the posekit sample to {args.out}: " + ", ".join(p.name for p in written))
    print(f"try: posekit data inspect {Path(args.out) / 'coco.json'}")
    return 0


def run_roundtrip(args: argparse.Namespace) -> int:
    from posekit.data.roundtrip import RoundtripSettings, format_roundtrip, roundtrip

    if not Path(args.file).is_file():
        raise DataError(args.file, "annotation file not found")
    _, records = _read(args, args.file, args.images)
    settings = RoundtripSettings(codec=args.codec, input=args.input, stride=args.stride, sigma=args.sigma,
                                 limb_width=args.limb_width, ks_threshold=args.ks)
    try:
        result = roundtrip(records, settings)
    except (ValueError, PosekitError) as e:
        raise DataError(args.file, f"roundtrip with --codec {args.codec}: {e}") from None
    print(format_roundtrip(result, args.file))
    return 0
