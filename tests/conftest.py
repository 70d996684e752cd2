"""Shared fixtures. Real sample data lives beside the repo in ../shared/data; tests that need it
skip with a clear reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data`` (COCO, MPII, AIC, J-HMDB samples and a video)."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (../shared beside the repo)")
    return SHARED_DATA
