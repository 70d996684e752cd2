"""``posekit search``: architecture search (EvoPose2D's neuroevolution with weight transfer)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``search`` parser and its sub-commands."""
    s = subparsers.add_parser("search", help="architecture search: EvoPose2D neuroevolution",
                              description="Neural architecture search (McNally et al., EvoPose2D, IEEE Access 2021).")
    sub = s.add_subparsers(dest="search_command", metavar="SUBCOMMAND")
    e = sub.add_parser("evopose2d", help="(mu, lambda) neuroevolution with weight transfer on synthetic figures",
                       description="Evolve EvoPose2D genotypes: each generation makes LAMBDA children, one random "
                                   "stage change each, inheriting their parent's trained weights (weight transfer), "
                                   "trains them STEPS steps on synthetic top-down crops and keeps the MU with the "
                                   "lowest fitness J = (T / n_params) ** Gamma * validation loss. The state is "
                                   "saved after every generation in OUT (search_state.json, population weights as "
                                   "safetensors, log.csv); --resume continues exactly.")
    e.add_argument("--out", required=True, metavar="DIR", help="search folder")
    e.add_argument("--preset", default="evopose2d_search_synthetic",
                   help="search preset (posekit.engine.presets.SEARCH_PRESETS; default evopose2d_search_synthetic)")
    e.add_argument("--generations", type=int, default=None, metavar="G", help="generations after the seed")
    e.add_argument("--mu", type=int, default=None, metavar="M", help="parents kept per generation")
    e.add_argument("--lam", type=int, default=None, metavar="L", help="children per generation")
    e.add_argument("--steps", type=int, default=None, metavar="S", help="training steps per child")
    e.add_argument("--seed-steps", type=int, default=None, metavar="S", help="training steps of the seed network")
    e.add_argument("--input", default=None, metavar="HxW", help="search input size, multiples of 32 (e.g. 64x64)")
    e.add_argument("--no-transfer", action="store_true", help="train every child from scratch (ablation)")
    e.add_argument("--scale-to", default=None, metavar="HxW",
                   help="also print the best genotype compound-scaled to this input size")
    e.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N, mps")
    e.add_argument("--resume", action="store_true", help="continue the search saved in --out")
    e.set_defaults(func=run_evopose2d)
    s.set_defaults(func=lambda args: (s.print_help(), 2)[1])


def _size(text: str, what: str) -> tuple[int, int]:
    from posekit.errors import PosekitError
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise PosekitError(f"{what}: expected HxW, e.g. 64x64, got {text!r}") from None
    return h, w


def run_evopose2d(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from posekit.engine.presets import get_search_preset
    from posekit.search.evo import count_parameters, genotype_str, run_search, scaled_network

    cfg = get_search_preset(args.preset)
    kw = {k: v for k, v in dict(generations=args.generations, mu=args.mu, lam=args.lam, steps=args.steps,
                                seed_steps=args.seed_steps, device=args.device).items() if v is not None}
    if args.input:
        kw["input_size"] = _size(args.input, "--input")
    if args.no_transfer:
        kw["transfer"] = False
    cfg = replace(cfg, **kw)
    print(f"{'gen':>3} {'id':>4} {'parent':>6} {'params':>9} {'val_loss':>10} {'fitness':>10}  genotype")

    def show(gen, children, parents):
        chosen = {m.id for m in parents}
        for m in children:
            mark = "*" if m.id in chosen else " "
            parent = "" if m.parent is None else m.parent
            print(f"{gen:>3} {m.id:>4} {parent!s:>6} {m.params:>9} {m.val_loss:>10.6f} {m.fitness:>10.6f}{mark} "
                  f"{genotype_str(m.genotype)}", flush=True)

    best = run_search(cfg, args.out, resume=args.resume, on_generation=show)[0]
    print(f"best: id {best.id} J={best.fitness:.6f} ({best.params} parameters): {genotype_str(best.genotype)}")
    if args.scale_to:
        size = _size(args.scale_to, "--scale-to")
        net = scaled_network(best.genotype, cfg.input_size, size, head_channels=cfg.head_channels)
        print(f"compound-scaled to {size[0]}x{size[1]}: {count_parameters(net)} parameters")
    print(f"log: {args.out}/log.csv, state: {args.out}/search_state.json")
    return 0
