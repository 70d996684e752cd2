"""docs/architecture.md stays true to the code: it names every module of src/posekit, and every
module it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "posekit"


def _named_in_doc() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Modules, one line each", 1)[1]
    return set(re.findall(r"`([a-z_/0-9]+\.py)`", section))


def test_every_module_is_named_and_every_name_is_a_module():
    modules = {str(p.relative_to(PKG)) for p in PKG.rglob("*.py")}
    named = _named_in_doc()
    assert not modules - named, f"modules missing from docs/architecture.md: {sorted(modules - named)}"
    assert not named - modules, f"docs/architecture.md names modules that do not exist: {sorted(named - modules)}"
