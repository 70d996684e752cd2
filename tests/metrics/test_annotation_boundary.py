"""One boundary for annotation files: ``posekit.data.formats`` alone parses annotation and result
JSON, COCO ground truth has exactly one parser, and nothing turns records back into COCO JSON to
score them.

The checks read the package's source (``ast``), so a new reader anywhere in ``src/posekit`` fails
here, naming the file and line. ``pretrained/`` and the engine's ``config.py`` and
``checkpoint.py`` parse their own metadata (model graphs, configs, safetensors headers), not
annotations, and may call ``json.load``; so do the files of posekit's own that other modules
write and read back: export sidecars (``export.py``), fitted pose-NMS parameters (``rmpe.py``),
the PoseFix checkpoint's header (``engine/posefix.py``), the search state (``search/``) and the
peer's timing file (``bench.py``).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "posekit"
FORMATS = "data/formats/"
OWN_METADATA = ("pretrained/", "engine/config.py", "engine/checkpoint.py", "export.py", "rmpe.py",
                "engine/posefix.py", "search/", "bench.py")


@lru_cache(maxsize=1)
def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(SRC).as_posix(), ast.parse(p.read_text(encoding="utf-8"), str(p)))
            for p in sorted(SRC.rglob("*.py"))]


def _json_loads(tree: ast.Module) -> list[int]:
    """Lines calling ``json.load`` / ``json.loads`` (however json or the function is imported)."""
    modules, funcs = {"json"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "json"}
        elif isinstance(node, ast.ImportFrom) and node.module == "json":
            funcs |= {a.asname or a.name for a in node.names if a.name in ("load", "loads")}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Attribute) and f.attr in ("load", "loads")
                    and isinstance(f.value, ast.Name) and f.value.id in modules) \
                    or (isinstance(f, ast.Name) and f.id in funcs):
                lines.append(node.lineno)
    return lines


def _uses(tree: ast.Module, names: set[str]) -> dict[str, list[int]]:
    """``{enclosing function: [lines]}`` where a string constant in ``names`` or a name in
    ``names`` (a call or reference) appears, outside docstrings."""
    found: dict[str, list[int]] = {}

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            hit = (isinstance(child, ast.Constant) and child.value in names) \
                or (isinstance(child, ast.Name) and child.id in names) \
                or (isinstance(child, ast.Attribute) and child.attr in names)
            if hit:
                found.setdefault(func, []).append(child.lineno)
            visit(child, inner)

    visit(tree, "<module>")
    return found


def test_only_data_formats_parses_annotation_json():
    """No ``json.load(s)`` and no COCO ``"annotations"`` key outside ``data/formats`` (and
    outside the modules that parse their own metadata)."""
    offenders = []
    for rel, tree in _modules():
        if rel.startswith(FORMATS):
            continue
        if not rel.startswith(OWN_METADATA):
            offenders += [f"{rel}:{line}: json.load" for line in _json_loads(tree)]
        for func, lines in _uses(tree, {"annotations"}).items():
            offenders += [f"{rel}:{line}: COCO key 'annotations' in {func}" for line in lines]
    assert not offenders, "annotation files read outside posekit.data.formats:\n" + "\n".join(offenders)


def test_coco_ground_truth_has_one_parser():
    """Inside ``data/formats`` the COCO ``"annotations"`` list is read by ``parse_coco`` only
    (``records_to_coco`` writes it)."""
    places = {}
    for rel, tree in _modules():
        if rel.startswith(FORMATS):
            places.update({f"{rel}:{func}": lines for func, lines in _uses(tree, {"annotations"}).items()})
    assert set(places) == {"data/formats/coco.py:parse_coco", "data/formats/coco.py:records_to_coco"}, places


def test_no_round_trip_through_coco_json():
    """Outside ``data/formats``, records are scored as records: nobody builds a COCO dict from
    them (``records_to_coco`` / ``write_coco``) to hand it to the metrics."""
    offenders = []
    for rel, tree in _modules():
        if rel.startswith(FORMATS) or rel in ("commands/data.py", "data/sample.py"):
            continue            # converting and writing files is what these are for
        for func, lines in _uses(tree, {"records_to_coco", "write_coco"}).items():
            offenders += [f"{rel}:{line}: {func}" for line in lines]
    assert not offenders, "records turned into COCO JSON:\n" + "\n".join(offenders)
