"""``posekit rmpe fit-pnms PREDICTIONS.json --gt ANN.json``: fit RMPE's parametric pose NMS.

The predictions are a COCO results list of pose proposals *before* pose NMS (duplicates
included), on a validation set whose ground truth is ``--gt`` (COCO keypoints JSON). The four
parameters (sigma1, sigma2, lambda, eta) are searched to maximise COCO AP after NMS
(:func:`posekit.rmpe.fit_pnms`, Fang et al., ICCV 2017) and written as JSON: to ``--out``, or
beside ``--checkpoint`` as ``pnms_params.json`` (where ``posekit predict --pose-nms rmpe`` of
that checkpoint finds them).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``rmpe`` parser and its sub-commands."""
    r = subparsers.add_parser("rmpe", help="RMPE tools: fit the parametric pose NMS",
                              description="Tools of RMPE (Fang et al., ICCV 2017).")
    sub = r.add_subparsers(dest="rmpe_command", metavar="SUBCOMMAND")
    f = sub.add_parser("fit-pnms", help="fit the parametric pose NMS parameters on validation predictions",
                       description="Fit (sigma1, sigma2, lambda, eta) of RMPE's parametric pose NMS by maximising "
                                   "COCO keypoint AP after NMS on PREDICTIONS (a COCO results list of pose "
                                   "proposals before pose NMS, duplicates included) against --gt. A coordinate "
                                   "search from the authors' values: each parameter in turn on a grid, eta "
                                   "re-searched for every candidate; prints the AP before and after.")
    f.add_argument("predictions", metavar="PREDICTIONS.json", help="COCO results list of pose proposals")
    f.add_argument("--gt", required=True, metavar="ANN.json", help="COCO keypoints ground truth of those images")
    f.add_argument("--out", default=None, metavar="PARAMS.json",
                   help="where to write the parameters (default: pnms_params.json beside --checkpoint, "
                        "else ./pnms_params.json)")
    f.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="the model the predictions come from: the parameters are written beside it")
    f.add_argument("--rounds", type=int, default=3, help="coordinate-search rounds (default 3)")
    f.set_defaults(func=run_fit_pnms)
    r.set_defaults(func=lambda args: (r.print_help(), 2)[1])


def run_fit_pnms(args: argparse.Namespace) -> int:
    from posekit.data.formats import read_coco_ground_truth, read_coco_result_arrays
    from posekit.errors import PosekitError
    from posekit.rmpe import PNMS_PARAMS_NAME, fit_pnms, proposals_from_results, save_pnms_params

    if args.rounds < 1:
        raise PosekitError(f"--rounds must be >= 1, got {args.rounds}")
    gt = read_coco_ground_truth(args.gt)
    results = read_coco_result_arrays(args.predictions, gt.spec.num_keypoints)
    proposals = proposals_from_results(results)
    if not proposals:
        raise PosekitError(f"{args.predictions}: no predictions to fit on")
    fit = fit_pnms(gt, proposals, rounds=args.rounds)
    if args.out:
        out = Path(args.out)
    elif args.checkpoint:
        out = Path(args.checkpoint).parent / PNMS_PARAMS_NAME
    else:
        out = Path(PNMS_PARAMS_NAME)
    p = fit.params
    save_pnms_params(p, out, {"ap": fit.ap, "authors_ap": fit.start_ap, "evaluations": fit.evaluations,
                              "predictions": str(args.predictions), "gt": str(args.gt)})
    print(f"authors' values: AP {fit.start_ap:.4f}")
    print(f"fitted: sigma1={p.sigma1:g} sigma2={p.sigma2:g} lambda={p.lam:g} eta={p.eta:.4g}: AP {fit.ap:.4f} "
          f"({fit.evaluations} evaluations)")
    print(f"wrote {out}")
    return 0
