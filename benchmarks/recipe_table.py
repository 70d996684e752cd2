"""Print the papers' recipe table (posekit.engine.presets.recipe_table), or keep the copy in
docs/training.md current.

    .venv/bin/python benchmarks/recipe_table.py            # print the table (Markdown)
    .venv/bin/python benchmarks/recipe_table.py --write    # renew it in docs/training.md
    .venv/bin/python benchmarks/recipe_table.py --check    # exit 1 when docs/training.md is stale

The table is made from the presets themselves (their configs for the values, RECIPES for the
sources), so it cannot drift from them; tests/engine/test_recipes.py checks the docs copy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from posekit.engine.presets import recipe_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "training.md"
START, END = "<!-- recipe-table:start -->\n", "<!-- recipe-table:end -->"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"renew the table in {DOC.name}")
    group.add_argument("--check", action="store_true", help=f"exit 1 when the table in {DOC.name} is stale")
    args = parser.parse_args()
    table = recipe_table()
    if not (args.write or args.check):
        print(table, end="")
        return 0
    text = DOC.read_text()
    if START not in text or END not in text:
        print(f"{DOC}: no {START.strip()} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    old, tail = rest.split(END, 1)
    if args.check:
        if old != table:
            print(f"{DOC}: the recipe table is stale; run {Path(__file__).name} --write", file=sys.stderr)
            return 1
        print(f"{DOC}: the recipe table is current")
        return 0
    DOC.write_text(head + START + table + END + tail)
    print(f"{DOC}: recipe table written ({len(table.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
