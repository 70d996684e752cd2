"""``posekit export MODEL|CHECKPOINT --format onnx``: one ONNX file, checked against PyTorch.

MODEL: a zoo architecture (random weights: a warning says so), an imported model (pose models
and the ``nanodet`` person detector) or a ``.safetensors`` checkpoint written by ``posekit
train``. See :mod:`posekit.export` for the file's layout and metadata and
:mod:`posekit.runtime` for running it (``posekit predict --model FILE.onnx``).
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from posekit.errors import PosekitError

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``export`` parser."""
    p = subparsers.add_parser(
        "export", help="export a model or checkpoint to ONNX",
        description="Export a zoo architecture (random weights), an imported model (or the nanodet detector) "
                    "or a trained checkpoint to ONNX, with a dynamic batch axis and the metadata that runs it "
                    "as a posekit estimator. The export is run in ONNX Runtime and compared with PyTorch "
                    "before it is written.")
    p.add_argument("model", metavar="MODEL|CHECKPOINT", help="zoo name, imported model name, or .safetensors checkpoint")
    p.add_argument("--format", default="onnx", choices=("onnx",), help="export format (default: onnx)")
    p.add_argument("--out", default=None, metavar="FILE", help="output file (default: ./<model>.onnx)")
    p.add_argument("--input", default=None, type=_hw, metavar="HxW",
                   help="input height x width (zoo architectures and bottom-up imported models; default: the model's)")
    p.add_argument("--opset", type=int, default=None, metavar="N",
                   help="ONNX opset (default: posekit.export.DEFAULT_OPSET, raised when an operator needs it)")
    p.add_argument("--int8", action="store_true",
                   help="also write FILE.int8.onnx, statically quantised with ONNX Runtime")
    p.add_argument("--calibration", default="synthetic", metavar="DIR|synthetic",
                   help="int8 calibration inputs: a folder of images (person crops found by NanoDet for "
                        "top-down models) or 'synthetic' figures (default)")
    p.add_argument("--quant-format", default=None, choices=("QDQ", "QOperator"),
                   help="int8 operator format (default: posekit.runtime.DEFAULT_QUANT_FORMAT)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=run_export)


def _hw(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 256x192, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def run_export(args: argparse.Namespace) -> int:
    from posekit.export import DEFAULT_OPSET, export_model

    out = Path(args.out) if args.out else Path(f"{Path(args.model).stem if args.model.endswith('.safetensors') else args.model}.onnx")
    int8_out = out.with_name(out.stem + ".int8.onnx")
    if args.int8 and int8_out.exists() and not args.overwrite:
        raise PosekitError(f"{int8_out}: exists (give --overwrite to replace it)")
    info = export_model(args.model, out, input_hw=args.input, opset=args.opset or DEFAULT_OPSET,
                        overwrite=args.overwrite)
    axes = "batch" + (", height, width" if info.dynamic_hw else "")
    parity = max(info.parity.values(), default=None)
    print(f"{out}: {info.name} ({info.kind}), input {info.input_size[1]}x{info.input_size[0]} (HxW), "
          f"outputs {', '.join(info.outputs)}, dynamic axes: {axes if info.dynamic_batch else 'none (batch 1)'}, "
          f"opset {info.opset}"
          + (f"; ONNX Runtime vs PyTorch max difference {parity:.2g} (relative)" if parity is not None else ""))
    if args.int8:
        _int8(args, out, int8_out, info)
    return 0


def _int8(args: argparse.Namespace, src: Path, dst: Path, info) -> None:
    import numpy as np

    from posekit.runtime import DEFAULT_QUANT_FORMAT, image_calibration, quantize_onnx, synthetic_calibration
    if args.calibration == "synthetic":
        images = synthetic_calibration(info.input_size, scenes=info.kind != "top-down")
        note = f"synthetic {len(images)}"
    else:
        if not Path(args.calibration).is_dir():
            raise PosekitError(f"--calibration {args.calibration}: not a folder (or 'synthetic')")
        images = image_calibration(args.calibration, info.input_size, info.kind)
        note = f"{len(images)} from {args.calibration}"
    prepare = _normaliser(info)
    batches = [prepare(images[i:i + 8]) for i in range(0, len(images), 8)]
    fmt = args.quant_format or DEFAULT_QUANT_FORMAT
    quantize_onnx(src, dst, [np.asarray(b, np.float32) for b in batches], fmt, note=note)
    print(f"{dst}: int8 ({fmt}), calibrated on {note}")


def _normaliser(info):
    """``(B, H, W, 3)`` uint8 -> the file's normalised float input, as its metadata says."""
    import torch

    from posekit.models.estimator import card_inputs, imagenet_inputs
    if info.normalisation.get("kind") == "card":
        from posekit.pretrained.cards import get_card
        card = get_card(info.source["card"])
        return lambda b: card_inputs(b, torch.device("cpu"), card).numpy()
    return lambda b: imagenet_inputs(b, torch.device("cpu")).numpy()
